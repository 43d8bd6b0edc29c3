# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup host's jobs: physical backups with their verification, retention, sealing WAL.

Private to frende.db; standard library only. Each job writes one line per event
to the collection's event log (_command.EventLog), a failure included.
"""

from __future__ import annotations

import time

from ansible_collections.frende.db.plugins.module_utils._repository import pgbackrest
from ansible_collections.frende.db.plugins.module_utils._repository.seal import seal_once

BACKUP_TYPES = ("full", "diff", "incr")


def backup(stanza, kind, log, environ=None):
    """A pgBackRest backup of ``kind``, then ``verify`` of the repository; returns the new backup's facts."""
    started = time.monotonic()
    log.info("backup", "started", stanza=stanza, type=kind)
    before = set(b["label"] for b in pgbackrest.backups(pgbackrest.info(stanza, environ)))
    # Expiry is its own job (frende-db-repository --action expire), logged on its own.
    pgbackrest.run(["--type=" + kind, "--no-expire-auto", "backup"], stanza, environ)
    made = [b for b in pgbackrest.backups(pgbackrest.info(stanza, environ)) if b["label"] not in before]
    newest = made[-1] if made else {}
    duration = time.monotonic() - started
    log.info("backup", "finished", stanza=stanza, type=kind, label=newest.get("label"), size=newest.get("size"),
             repo_size=newest.get("repo_size"), duration_s=round(duration, 3),
             msg="%s backup %s taken" % (kind, newest.get("label")))
    checked = verify(stanza, log, environ)
    return dict(newest, duration_s=round(duration, 3), verified=checked["ok"], msg="%s backup %s taken and verified"
                % (kind, newest.get("label")))


def verify(stanza, log, environ=None):
    started = time.monotonic()
    pgbackrest.run(["verify"], stanza, environ)
    duration = round(time.monotonic() - started, 3)
    log.info("verify", "verified", stanza=stanza, duration_s=duration,
             msg="pgbackrest verify found every backup and WAL file of the repository intact")
    return dict(ok=True, duration_s=duration, msg="repository verified")


def expire(stanza, log, environ=None):
    before = [b["label"] for b in pgbackrest.backups(pgbackrest.info(stanza, environ))]
    pgbackrest.run(["expire"], stanza, environ)
    after = [b["label"] for b in pgbackrest.backups(pgbackrest.info(stanza, environ))]
    removed = [label for label in before if label not in after]
    log.info("expire", "expired", stanza=stanza, removed=",".join(removed) or None, kept=len(after),
             msg="%d backup(s) past retention removed, %d kept" % (len(removed), len(after)))
    return dict(removed=removed, kept=after, msg="%d backup(s) removed" % len(removed))


def seal(ingest_root, repo_root, log, repo_ids=None, ingest_ids=None):
    """One pass of the sealer; a line only when it did something, a warning for every refused file."""
    result = seal_once(ingest_root, repo_root, repo_ids, ingest_ids)
    if result.sealed:
        log.info("seal-wal", "sealed", files=len(result.sealed), newest=result.sealed[-1].rsplit("/", 1)[-1])
    for path, reason in result.refused:
        log.warning("seal-wal", "refused", file=path, msg="WAL from the database host refused: %s" % reason)
    return result.as_dict()
