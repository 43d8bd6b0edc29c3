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
        elif entry.endswith(LEGACY_SUFFIX) and os.path.isfile(path):
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
