# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Copies of a database host's nightly logical sets, pulled by the backup host.

Private to frende.db; standard library only. Runs on the backup host as the
repository's OS user.

Why a pull over pgBackRest. The backup host already reaches each database host's
pgBackRest TLS server, which admits it alone, by its certificate, to take the
physical backups (it can read the whole cluster already); ``repo-get`` on that
connection reads the set files as they are. No SSH key, no new port, no new trust.
The copies go to ``/var/backups/frende/hosts/<host>/``, where nothing a database
host reaches can write or even look: the one server here that database hosts talk
to (the WAL ingest) runs as a user that cannot enter the directory.

Nothing is replaced and nothing half-copied is a set. Each file is written aside
(``.<name>.<pid>.partial``), its size and SHA-256 checked against the set's
manifest, then linked into place, which fails rather than replace a file; the
manifest comes last, and only a manifest makes a set (_backup/catalog.py).
"""

from __future__ import annotations

import configparser
import json
import os
import time

from ansible_collections.frende.db.plugins.module_utils._backup import catalog, files
from ansible_collections.frende.db.plugins.module_utils._backup.pipeline import HashingFile, sha256_file
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._repository import pgbackrest

LOCK_TIMEOUT_S = 60


def remote_sets(listing):
    """Names of the complete sets in a ``repo-ls --output=json`` listing, oldest first."""
    names = []
    for entry, facts in (listing or {}).items():
        if not isinstance(facts, dict) or facts.get("type") != "file" or "/" in entry:
            continue
        parsed = catalog.parse_backup_filename(entry)
        if parsed and parsed[1] == "manifest" and catalog.SET_NAME_RE.match(parsed[0]):
            names.append(parsed[0])
    return sorted(names, key=lambda name: catalog.SET_NAME_RE.match(name).group("stamp"))


def plan(remote, local, database=None):
    """The sets of ``remote`` to copy: not complete here yet, of ``database`` when given; oldest first."""
    have = set(local)
    return [name for name in remote if name not in have
            and (database is None or catalog.SET_NAME_RE.match(name).group("database") == database)]


class _Aside:
    """One file written aside and hashed while it arrives; linked into place, never over a file."""

    def __init__(self, directory, final, ids):
        self.part = files.PartialFile(directory, final, ids)
        self.sink = HashingFile(self.part.fd, self.part.path)
        self.write = self.sink.write

    @property
    def size(self):
        return self.sink.size

    def check(self, expected):
        """None when the file is the one the manifest lists, else what differs."""
        if self.size != expected["size"]:
            return "%s has %d bytes, the manifest says %d" % (expected["name"], self.size, expected["size"])
        if self.sink.sha256.hexdigest() != expected["sha256"]:
            return "the SHA-256 of %s is not the manifest's" % expected["name"]
        return None

    def link(self):
        """Into place; True when the same file was there already. FrendeDbError when a different one is."""
        self.part.sync()
        final = os.path.join(self.part.directory, self.part.final)
        try:
            os.link(self.part.path, final)
            return False
        except FileExistsError:
            if sha256_file(final)[0] == self.sink.sha256.hexdigest():
                return True
            raise FrendeDbError("%s is here already with other contents; it is kept and this copy is dropped."
                                % final)
        finally:
            self.discard()

    def discard(self):
        self.part.discard()


def copy_set(name, fetch, target, ids):
    """Copy the set ``name``; ``fetch(file name, write)`` streams a file of the database host's set.

    Returns ``(manifest, bytes copied)``; FrendeDbError (nothing new listed) when the set cannot be copied.
    """
    raw = bytearray()
    fetch(name + catalog.MANIFEST_SUFFIX, raw.extend)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise FrendeDbError("the manifest of %s on the database host is not JSON" % name)
    problems = catalog.validate_manifest(manifest, name)
    if problems:
        raise FrendeDbError("the manifest of %s on the database host is not sound: %s" % (name, "; ".join(problems)))
    copied = 0
    for role in ("dump", "globals"):
        expected = manifest["files"][role]
        aside = _Aside(target, expected["name"], ids)
        try:
            fetch(expected["name"], aside.write)
            wrong = aside.check(expected)
            if wrong:
                raise FrendeDbError("%s: the copy does not match the manifest (%s); the copy is dropped"
                                    % (name, wrong))
            aside.link()
        except BaseException:
            aside.discard()
            raise
        copied += aside.size
    manifest_file = _Aside(target, name + catalog.MANIFEST_SUFFIX, ids)
    manifest_file.write(bytes(raw))
    manifest_file.link()
    files.write_json(target, name + catalog.VERIFY_SUFFIX, dict(
        name=name, verified_at=catalog.utc_now().isoformat(), ok=True, level="checksum-only", deep=False,
        checks=[dict(check="copy", ok=True, detail="copied from the database host; the size and SHA-256 of "
                     "%s and %s match the manifest" % (manifest["files"]["dump"]["name"],
                                                       manifest["files"]["globals"]["name"]))],
        error=None, rows=None), ids)
    files.fsync_dir(target)
    return manifest, copied


def database_host(config, stanza):
    """The database host that the section ``[stanza]`` of ``config`` reaches; FrendeDbError when there is none.

    Without its section pgBackRest would quietly list this host's own repository: a stanza
    mistyped at 3 a.m. must fail, not report that nothing was new.
    """
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(config, "r", encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error) as exc:
        raise FrendeDbError("Cannot read the copy configuration %s: %s. Run the setup playbook with the backup "
                            "host in the group frende_backup." % (config, getattr(exc, "strerror", None) or exc))
    host = parser.get(stanza, "repo1-host", fallback="").strip() if parser.has_section(stanza) else ""
    if not host:
        known = [name for name in parser.sections() if parser.get(name, "repo1-host", fallback="").strip()]
        raise FrendeDbError("%s has no database host for the stanza %r (known: %s); nothing was copied. Give "
                            "the stanza of a host in frende_db (its frende_db_name)." % (
                                config, stanza, ", ".join(sorted(known)) or "none"))
    return host


def copy_sets(stanza, target, log, ids=None, config=None, database=None, fetch=None, listing=None):
    """Copy every new complete set of the database host behind ``stanza`` (a section of ``config``)."""
    if fetch is None:
        def fetch(file_name, write):
            pgbackrest.get(file_name, stanza, write, config=config)
    if listing is None:
        database_host(config, stanza)
        text = pgbackrest.run(["--output=json", "repo-ls"], stanza, config=config, timeout=300)
        try:
            listing = json.loads(text)
        except ValueError:
            raise FrendeDbError("pgbackrest repo-ls did not return JSON; run it by hand with --config=%s "
                                "--stanza=%s to see why." % (config, stanza))
    files.ensure_dir(target, ids, mode=0o750)
    copied, refused = [], []
    with files.BackupLock(target, "copy-sets", LOCK_TIMEOUT_S, ids):
        files.remove_files(files.stale_partials(target))
        local = [entry["name"] for entry in catalog.list_backups(target)]
        for name in plan(remote_sets(listing), local, database):
            started = time.monotonic()
            try:
                manifest, size = copy_set(name, fetch, target, ids)
            except FrendeDbError as exc:
                refused.append("%s (%s)" % (name, exc))
                log.warning("copy-sets", "refused", stanza=stanza, backup=name, msg=str(exc))
                continue
            copied.append(name)
            log.info("copy-sets", "copied", stanza=stanza, backup=name, size=size,
                     encrypted=bool(manifest.get("encrypted")), duration_s=round(time.monotonic() - started, 3))
    log.info("copy-sets", "done", stanza=stanza, copied=len(copied), refused=len(refused),
             kept=len(catalog.list_backups(target)))
    refused_note = ", %d refused" % len(refused) if refused else ""
    result = dict(copied=copied, refused=refused, target=target,
                  msg="%d new set(s) copied to %s%s" % (len(copied), target, refused_note))
    if refused:
        raise FrendeDbError("%s; refused: %s. The sets already here are unchanged; see the WARNING lines of "
                            "the log, and the set on the database host." % (result["msg"], "; ".join(refused)),
                            result=result)
    return result
