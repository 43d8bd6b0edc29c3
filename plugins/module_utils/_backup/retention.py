# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which backups cleanup removes. Private to frende.db; stdlib only.

Older than ``retention_days`` goes, except that the newest ``keep_min`` sets of
each database that passed verification stay whatever their age: a host whose
backups stopped weeks ago must not end up with none, and a set nobody verified
is not counted as one of the good ones. While a database has fewer than
``keep_min`` verified sets, no set that has not failed verification is removed
(the unverified ones may be all there is).
"""

from __future__ import annotations

import datetime

VERIFIED, FAILED, NEVER = "ok", "failed", "never"


def select_for_cleanup(backups, now, retention_days, keep_min):
    """``(remove, keep)`` lists of names.

    ``backups``: dicts with ``name``, ``database``, ``finished_at`` (aware datetime) and
    ``verified``: ``ok`` (passed verification), ``failed`` (failed it, or the set is
    incomplete) or ``never`` (not verified yet).
    """
    cutoff = now - datetime.timedelta(days=retention_days)
    groups = {}
    for backup in backups:
        groups.setdefault(backup.get("database"), []).append(backup)
    remove, keep = [], []
    for group in groups.values():
        group.sort(key=lambda b: b["finished_at"], reverse=True)
        verified = [b for b in group if b["verified"] == VERIFIED]
        protected = set(b["name"] for b in verified[:keep_min])
        if len(verified) < keep_min:
            protected |= set(b["name"] for b in group if b["verified"] == NEVER)
        for backup in group:
            if backup["name"] not in protected and backup["finished_at"] < cutoff:
                remove.append(backup["name"])
            else:
                keep.append(backup["name"])
    return remove, keep
