# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a backup set looks like on disk, and how to find the complete ones.

Private to frende.db. Shared by the backup engine (which writes sets) and the
health check (which reports the age of the newest one).

A backup set in the backup directory, for database ``frende`` at 02:00 UTC:

    frende-20261128T020000Z.dump.zst[.age]       pg_dump custom format, compressed (.gz with gzip)
    frende-20261128T020000Z.globals.sql.zst[.age] pg_dumpall --globals-only
    frende-20261128T020000Z.manifest.json         written last: its presence marks the set complete
    frende-20261128T020000Z.verify.json           result of the last verify (optional)

Files being written have a leading ``.`` and a ``.partial`` suffix and are never
listed. Legacy backups made by ``pg_dump | gzip`` (``*.sql.gz``, no manifest)
are listed with ``format: legacy-sql-gz``.

The manifest (``MANIFEST_VERSION`` 1) is a JSON object with at least:

    format_version   1
    name             the set name, ``<database>-<UTC stamp>``
    database         the database dumped
    server_version   ``SHOW server_version`` of the server dumped
    started_at, finished_at   ISO 8601 UTC; duration_s
    tool, tool_version        which frende-db version wrote the set
    compression      ``zstd`` or ``gzip`` (and compression_level)
    encrypted        true when the files are age-encrypted; ``recipients`` then lists
                     the public age recipients (never an identity)
    files            ``{"dump": {name, size, sha256}, "globals": {name, size, sha256}}``
    size             bytes of all files together
    tables           ``{"schema.table": exact row count}`` counted in the dump's snapshot
    roles            roles the dump's objects depend on (owners, grantees)
    database_properties  owner, encoding, locale, connection_limit, acl, settings, comment
"""

from __future__ import annotations

import datetime
import json
import os
import re

MANIFEST_SUFFIX = ".manifest.json"
VERIFY_SUFFIX = ".verify.json"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
SET_NAME_RE = re.compile(r"^(?P<database>.+)-(?P<stamp>\d{8}T\d{6}Z)$")
LEGACY_SUFFIX = ".sql.gz"
MANIFEST_VERSION = 1
AGE_SUFFIX = ".age"
PARTIAL_SUFFIX = ".partial"
DUMP_SUFFIXES = {"zstd": ".dump.zst", "gzip": ".dump.gz"}
GLOBALS_SUFFIXES = {"zstd": ".globals.sql.zst", "gzip": ".globals.sql.gz"}
# The partial name of a file carries the pid of its writer, so a later run can
# tell the leftovers of a dead run from the files of a live one.
PARTIAL_RE = re.compile(r"^\.(?P<final>.+)\.(?P<pid>\d+)\.partial$")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def stamp(moment):
    return moment.astimezone(datetime.timezone.utc).strftime(TIMESTAMP_FORMAT)


def parse_stamp(text):
    return datetime.datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)


def parse_iso(text):
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def set_name(database, moment):
    return "%s-%s" % (database, stamp(moment))


def read_json(path):
    with open(path, "r", encoding="utf-8") as handle:
        return json.load(handle)


def list_backups(backup_dir, database=None):
    """Complete backup sets (and legacy dumps), newest first.

    Each entry: ``name``, ``database``, ``format`` (``custom`` or ``legacy-sql-gz``),
    ``finished_at`` (aware datetime), ``manifest`` (dict or None), ``path`` (manifest or
    legacy file). A directory that does not exist yields an empty list.
    """
    try:
        names = os.listdir(backup_dir)
    except FileNotFoundError:
        return []
    found = []
    for entry in names:
        if entry.startswith("."):
            continue
        path = os.path.join(backup_dir, entry)
        if entry.endswith(MANIFEST_SUFFIX):
            base = entry[: -len(MANIFEST_SUFFIX)]
            match = SET_NAME_RE.match(base)
            if not match:
                continue
            try:
                manifest = read_json(path)
                finished = parse_iso(manifest["finished_at"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # an unreadable manifest is not a complete set
            found.append(dict(name=base, database=match.group("database"), format="custom",
                              finished_at=finished, manifest=manifest, path=path))
        elif (entry.endswith(LEGACY_SUFFIX) and not entry.endswith(GLOBALS_SUFFIXES["gzip"])
              and os.path.isfile(path)):
            base = entry[: -len(LEGACY_SUFFIX)]
            match = SET_NAME_RE.match(base)
            finished = (parse_stamp(match.group("stamp")) if match else
                        datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc))
            found.append(dict(name=base, database=match.group("database") if match else None,
                              format="legacy-sql-gz", finished_at=finished, manifest=None, path=path))
    if database is not None:
        found = [b for b in found if b["database"] in (database, None)]
    found.sort(key=lambda b: b["finished_at"], reverse=True)
    return found


def newest_backup(backup_dir, database=None):
    backups = list_backups(backup_dir, database)
    return backups[0] if backups else None


def set_files(name, compression, encrypted):
    """File names of the set ``name``: ``dict(dump=..., globals=..., manifest=..., verify=...)``."""
    extra = AGE_SUFFIX if encrypted else ""
    return dict(
        dump=name + DUMP_SUFFIXES[compression] + extra,
        globals=name + GLOBALS_SUFFIXES[compression] + extra,
        manifest=name + MANIFEST_SUFFIX,
        verify=name + VERIFY_SUFFIX,
    )


_KINDS = [(suffix + enc, "dump") for suffix in DUMP_SUFFIXES.values() for enc in (AGE_SUFFIX, "")]
_KINDS += [(suffix + enc, "globals") for suffix in GLOBALS_SUFFIXES.values() for enc in (AGE_SUFFIX, "")]
_KINDS += [(MANIFEST_SUFFIX, "manifest"), (VERIFY_SUFFIX, "verify"), (LEGACY_SUFFIX, "legacy")]


def parse_backup_filename(filename):
    """``(set name, kind)`` for a file of a backup set, else None.

    kind is one of dump, globals, manifest, verify, legacy. Hidden and partial
    files are never part of a set.
    """
    if not filename or filename.startswith(".") or "/" in filename:
        return None
    for suffix, kind in _KINDS:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)], kind
    return None


def partial_name(final_name, pid):
    return ".%s.%d%s" % (final_name, pid, PARTIAL_SUFFIX)


def parse_partial(filename):
    """``(final name, writer pid)`` of a partial file name, else None."""
    match = PARTIAL_RE.match(filename)
    if not match:
        return None
    return match.group("final"), int(match.group("pid"))


def _problem_if(condition, problems, text):
    if condition:
        problems.append(text)


def validate_manifest(manifest, name=None):
    """Problems with a manifest (empty list when it is sound). Pure: reads no files."""
    if not isinstance(manifest, dict):
        return ["the manifest is not a JSON object"]
    problems = []
    _problem_if(manifest.get("format_version") != MANIFEST_VERSION, problems,
                "format_version is %r, this tool reads %d" % (manifest.get("format_version"), MANIFEST_VERSION))
    for key in ("name", "database", "server_version", "started_at", "finished_at", "compression"):
        _problem_if(not isinstance(manifest.get(key), str) or not manifest.get(key), problems,
                    "%s is missing or not a string" % key)
    if name is not None:
        _problem_if(manifest.get("name") != name, problems,
                    "name is %r but the file belongs to set %r" % (manifest.get("name"), name))
    _problem_if(manifest.get("compression") not in DUMP_SUFFIXES, problems,
                "compression %r is not one of %s" % (manifest.get("compression"), ", ".join(sorted(DUMP_SUFFIXES))))
    for key in ("started_at", "finished_at"):
        try:
            parse_iso(manifest.get(key))
        except (TypeError, ValueError):
            problems.append("%s %r is not an ISO 8601 time" % (key, manifest.get(key)))
    encrypted = manifest.get("encrypted")
    _problem_if(not isinstance(encrypted, bool), problems, "encrypted is not true/false")
    if encrypted:
        recipients = manifest.get("recipients")
        _problem_if(not isinstance(recipients, list) or not recipients, problems,
                    "encrypted but no recipients recorded")
    files = manifest.get("files")
    if not isinstance(files, dict) or "dump" not in files or "globals" not in files:
        problems.append("files must list dump and globals")
    else:
        for role, entry in sorted(files.items()):
            if not isinstance(entry, dict):
                problems.append("files.%s is not an object" % role)
                continue
            fname = entry.get("name")
            parsed = parse_backup_filename(fname) if isinstance(fname, str) else None
            _problem_if(parsed is None or parsed[1] != role or (name is not None and parsed[0] != name), problems,
                        "files.%s.name %r is not a %s file of this set" % (role, fname, role))
            _problem_if(not isinstance(entry.get("size"), int) or entry.get("size") < 0, problems,
                        "files.%s.size is not a byte count" % role)
            _problem_if(not re.match(r"^[0-9a-f]{64}$", str(entry.get("sha256", ""))), problems,
                        "files.%s.sha256 is not a SHA-256 hex digest" % role)
    tables = manifest.get("tables")
    if not isinstance(tables, dict) or not all(isinstance(v, int) and v >= 0 for v in tables.values()):
        problems.append("tables must map schema.table to a row count")
    return problems
