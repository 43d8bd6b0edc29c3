# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running pgBackRest and reading its ``info --output=json``.

Private to frende.db; standard library only. Secrets never go on a command
line: pgBackRest reads the repository passphrase from its config file (on the
backup host only) or from PGBACKREST_REPO1_CIPHER_PASS in the environment.
"""

from __future__ import annotations

import json
import subprocess

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError

PGBACKREST = "pgbackrest"


_NOT_INSTALLED = ("pgbackrest is not installed on this host. Run the setup playbook (it installs Debian's "
                  "pgbackrest package) and try again.")


def _argv(args, stanza, config, console="warn", stderr="off"):
    return ([PGBACKREST, "--stanza=" + stanza, "--log-level-console=" + console, "--log-level-stderr=" + stderr]
            + (["--config=" + config] if config else []) + list(args))


def _failed(args, returncode, text):
    words = text.strip().splitlines()
    errors = [line for line in words if "ERROR" in line] or words[-3:]
    return FrendeDbError("pgbackrest %s failed (exit %d): %s" % (
        " ".join(args), returncode, " ".join(" ".join(errors).split()) or "no message"), exit_code=returncode)


def run(args, stanza, environ=None, timeout=None, config=None, user=None):
    """Run ``pgbackrest --stanza=<stanza> <args>``; FrendeDbError with pgBackRest's own words on failure.

    ``user``: run it as that OS user (from root): pgBackRest refuses, as root, a TLS key that its own user
    may read but root does not own alone.
    """
    argv = (["runuser", "-u", user, "--"] if user else []) + _argv(args, stanza, config)
    try:
        # errors="replace": with a wrong passphrase pgBackRest's error quotes the undecryptable bytes.
        proc = subprocess.run(argv, capture_output=True, encoding="utf-8", errors="replace", env=environ,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        raise FrendeDbError(_NOT_INSTALLED)
    except subprocess.TimeoutExpired:
        raise FrendeDbError("pgbackrest %s did not finish within %ss." % (" ".join(args), timeout))
    if proc.returncode != 0:
        raise _failed(args, proc.returncode, proc.stdout.strip() + "\n" + proc.stderr.strip())
    return proc.stdout


def get(name, stanza, write, config=None, chunk=1024 * 1024):
    """Stream the file ``name`` of the (remote) repository through ``write(bytes)`` with ``repo-get``.

    The file comes on stdout, so pgBackRest logs nothing there; its errors come on stderr.
    """
    args = ["repo-get", name]
    try:
        proc = subprocess.Popen(_argv(args, stanza, config, console="off", stderr="error"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise FrendeDbError(_NOT_INSTALLED)
    try:
        for data in iter(lambda: proc.stdout.read(chunk), b""):
            write(data)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        proc.stdout.close()
    errors = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    if proc.wait() != 0:
        raise _failed(args, proc.returncode, errors)


def info(stanza, environ=None, timeout=120, user=None):
    """The stanza's entry of ``pgbackrest info --output=json`` (a dict); ``user`` as for run()."""
    return parse_info(run(["--output=json", "info"], stanza, environ, timeout, user=user), stanza)


def parse_info(text, stanza):
    try:
        # strict=False: a repository error's message may quote raw bytes (control characters) of a file it
        # could not decrypt.
        document = json.loads(text, strict=False)
    except ValueError:
        raise FrendeDbError("pgbackrest info did not return JSON; run 'pgbackrest --stanza=%s info' to see why."
                            % stanza)
    for entry in document if isinstance(document, list) else []:
        if entry.get("name") == stanza:
            return entry
    raise FrendeDbError("The repository has no stanza %r. Run the setup playbook with the backup host in "
                        "the inventory (group frende_backup) to create it." % stanza)


def status(entry):
    """(code, message) of the stanza: 0 ok; pgBackRest's codes otherwise (1 missing stanza, 2 no backup...).

    Of a stanza that cannot be read, the message is the first line of each repository's own (for 99 "other",
    a wrong passphrase: the file it could not load); the lines after it quote that file's bytes."""
    state = entry.get("status") or {}
    code, message = state.get("code", -1), state.get("message", "unknown")
    if not readable(code):
        found = [((repo.get("status") or {}).get("message") or "").strip() for repo in entry.get("repo") or []]
        found = [text.splitlines()[0] for text in found if text]
        if found:
            message = "; ".join(found)
    return code, message


def readable(code):
    """Whether a stanza status code is a repository that was read: 0 ok, 2 no valid backup yet."""
    return code in (0, 2)


def backups(entry):
    """The stanza's good backups, oldest first, as dicts of label, type, start, stop, size, repo_size, wal_start,
    db_id (the entry of the stanza's ``db`` list, which says the PostgreSQL version)."""
    found = []
    for item in entry.get("backup") or []:
        if item.get("error"):
            continue
        stamp = item.get("timestamp") or {}
        sizes = item.get("info") or {}
        found.append(dict(label=item.get("label"), type=item.get("type"), start=stamp.get("start"),
                          stop=stamp.get("stop"), size=sizes.get("size"),
                          repo_size=(sizes.get("repository") or {}).get("delta"),
                          wal_start=(item.get("archive") or {}).get("start"),
                          db_id=(item.get("database") or {}).get("id")))
    found.sort(key=lambda backup: backup["stop"] or 0)
    return found


def db_version(entry, db_id=None):
    """PostgreSQL major version ("17") of the stanza's database ``db_id`` (the newest one when None), or None."""
    dbs = [item for item in entry.get("db") or [] if db_id is None or item.get("id") == db_id]
    return str(dbs[-1].get("version")) if dbs and dbs[-1].get("version") else None


def archive_range(entry):
    """(oldest, newest) WAL segment in the repository for the current database, or (None, None)."""
    ranges = [item for item in entry.get("archive") or [] if item.get("min")]
    if not ranges:
        return None, None
    current = ranges[-1]
    return current.get("min"), current.get("max")
