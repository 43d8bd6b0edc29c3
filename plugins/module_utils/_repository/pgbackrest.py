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


def run(args, stanza, environ=None, timeout=None):
    """Run ``pgbackrest --stanza=<stanza> <args>``; FrendeDbError with pgBackRest's own words on failure."""
    argv = [PGBACKREST, "--stanza=" + stanza, "--log-level-console=warn", "--log-level-stderr=off"] + list(args)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=environ, timeout=timeout, check=False)
    except FileNotFoundError:
        raise FrendeDbError("pgbackrest is not installed on this host. Run the setup playbook (it installs "
                            "Debian's pgbackrest package) and try again.")
    except subprocess.TimeoutExpired:
        raise FrendeDbError("pgbackrest %s did not finish within %ss." % (" ".join(args), timeout))
    if proc.returncode != 0:
        words = (proc.stdout.strip() + "\n" + proc.stderr.strip()).strip().splitlines()
        errors = [line for line in words if "ERROR" in line] or words[-3:]
        raise FrendeDbError("pgbackrest %s failed (exit %d): %s" % (
            " ".join(args), proc.returncode, " ".join(" ".join(errors).split()) or "no message"),
            exit_code=proc.returncode)
    return proc.stdout


def info(stanza, environ=None, timeout=120):
    """The stanza's entry of ``pgbackrest info --output=json`` (a dict)."""
    return parse_info(run(["--output=json", "info"], stanza, environ, timeout), stanza)


def parse_info(text, stanza):
    try:
        document = json.loads(text)
    except ValueError:
        raise FrendeDbError("pgbackrest info did not return JSON; run 'pgbackrest --stanza=%s info' to see why."
                            % stanza)
    for entry in document if isinstance(document, list) else []:
        if entry.get("name") == stanza:
            return entry
    raise FrendeDbError("The repository has no stanza %r. Run the setup playbook with the backup host in "
                        "the inventory (group frende_backup) to create it." % stanza)


def status(entry):
    """(code, message) of the stanza: 0 ok; pgBackRest's codes otherwise (1 missing stanza, 2 no backup...)."""
    state = entry.get("status") or {}
    return state.get("code", -1), state.get("message", "unknown")


def backups(entry):
    """The stanza's good backups, oldest first, as dicts of label, type, start, stop, size, repo_size, wal_start."""
    found = []
    for item in entry.get("backup") or []:
        if item.get("error"):
            continue
        stamp = item.get("timestamp") or {}
        sizes = item.get("info") or {}
        found.append(dict(label=item.get("label"), type=item.get("type"), start=stamp.get("start"),
                          stop=stamp.get("stop"), size=sizes.get("size"),
                          repo_size=(sizes.get("repository") or {}).get("delta"),
                          wal_start=(item.get("archive") or {}).get("start")))
    found.sort(key=lambda backup: backup["stop"] or 0)
    return found


def archive_range(entry):
    """(oldest, newest) WAL segment in the repository for the current database, or (None, None)."""
    ranges = [item for item in entry.get("archive") or [] if item.get("min")]
    if not ranges:
        return None, None
    current = ranges[-1]
    return current.get("min"), current.get("max")
