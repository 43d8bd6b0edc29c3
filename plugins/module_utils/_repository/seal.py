# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sealing archived WAL: the one way WAL from a database host enters the repository.

Private to frende.db; standard library only. Runs on the backup host as root.

Why. pgBackRest's TLS server lets an authorized client remove and overwrite
files wherever the server's OS user may write, and a client chooses the
repository path itself. So the server that database hosts reach runs as an
OS user that may only read the repository and write an ingest directory; this
sealer moves what arrives there into the repository, owned by the repository's
user. It never replaces a sealed file, never accepts a second, different copy
of a segment, and never deletes anything in the repository. A database host
can therefore add WAL but not remove or change any that is sealed.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil

# WAL segments (and .partial), timeline history and backup history files all
# start with the 8 hex digits of their timeline; pgBackRest appends -<sha1> and
# a compression extension. Anything else in the ingest directory is refused.
_ARCHIVE_NAME = re.compile(r"^[0-9A-F]{8}[0-9A-F.a-z-]*$")
_SEGMENT = re.compile(r"^([0-9A-F]{24}(?:\.partial)?)-[0-9a-f]{40}")
_INFO_FILES = ("archive.info", "archive.info.copy")


class SealResult:
    """What one pass did: files sealed, duplicates dropped, files refused (with why)."""

    def __init__(self):
        self.sealed = []
        self.duplicates = []
        self.refused = []
        self.info_synced = []

    def as_dict(self):
        return dict(sealed=list(self.sealed), duplicates=list(self.duplicates),
                    refused=[dict(path=p, reason=r) for p, r in self.refused], info_synced=list(self.info_synced))


def _segment_key(name):
    match = _SEGMENT.match(name)
    return match.group(1) if match else None


def _existing_copy(directory, name):
    """A sealed file for the same WAL segment under another name (another checksum), or None."""
    key = _segment_key(name)
    if key is None or not os.path.isdir(directory):
        return None
    for other in os.listdir(directory):
        if other != name and _segment_key(other) == key:
            return other
    return None


def _make_dirs(root, relative, ids, mode=0o750):
    path = root
    for part in relative.split(os.sep):
        if not part:
            continue
        path = os.path.join(path, part)
        if not os.path.isdir(path):
            os.mkdir(path, mode)
            os.chmod(path, mode)
            if ids:
                os.chown(path, *ids)
    return path


def _copy_in(source, target, ids):
    """Copy ``source`` to ``target`` without ever replacing ``target``: write aside, fsync, then link."""
    temporary = "%s.frende-seal.%d" % (target, os.getpid())
    with open(source, "rb") as src, open(temporary, "xb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
        dst.flush()
        os.fsync(dst.fileno())
    try:
        os.chmod(temporary, 0o640)
        if ids:
            os.chown(temporary, *ids)
        os.link(temporary, target)  # fails when target exists: no replace, ever
    finally:
        os.unlink(temporary)


def _quarantine(path, ingest_root, relative):
    """Keep a refused file for a person to look at, out of the way of the next pass."""
    target = os.path.join(ingest_root, "refused", relative.replace(os.sep, "_"))
    os.makedirs(os.path.dirname(target), mode=0o750, exist_ok=True)
    os.replace(path, target)
    return target


def sync_info(ingest_root, repo_root, ingest_ids, result):
    """Give the ingest directory the repository's archive.info, so that archive-push checks against it."""
    archive = os.path.join(repo_root, "archive")
    if not os.path.isdir(archive):
        return
    for stanza in sorted(os.listdir(archive)):
        for name in _INFO_FILES:
            source = os.path.join(archive, stanza, name)
            if not os.path.isfile(source):
                continue
            directory = _make_dirs(ingest_root, os.path.join("archive", stanza), ingest_ids)
            target = os.path.join(directory, name)
            if os.path.isfile(target) and filecmp.cmp(source, target, shallow=False):
                continue
            temporary = target + ".frende-seal"
            shutil.copyfile(source, temporary)
            os.chmod(temporary, 0o640)
            if ingest_ids:
                os.chown(temporary, *ingest_ids)
            os.replace(temporary, target)
            result.info_synced.append(os.path.join(stanza, name))


def seal_once(ingest_root, repo_root, repo_ids=None, ingest_ids=None):
    """Move every finished file under <ingest>/archive/<stanza>/<archive id>/ into the repository.

    ``repo_ids`` / ``ingest_ids``: (uid, gid) that sealed files and the ingest's
    info files get (None: leave ownership as it is, e.g. in tests as non-root).
    """
    result = SealResult()
    sync_info(ingest_root, repo_root, ingest_ids, result)
    archive = os.path.join(ingest_root, "archive")
    if not os.path.isdir(archive):
        return result
    for directory, subdirs, files in os.walk(archive):
        subdirs.sort()
        relative_dir = os.path.relpath(directory, ingest_root)
        depth = len(relative_dir.split(os.sep))  # archive/<stanza>/<archive id>/... is 3 and deeper
        for name in sorted(files):
            path = os.path.join(directory, name)
            relative = os.path.join(relative_dir, name)
            if depth < 3:
                continue  # archive.info and its copy: kept in step by sync_info
            if name.endswith(".tmp") or ".frende-seal" in name:
                continue  # pgBackRest is still writing it
            if not _ARCHIVE_NAME.match(name) or os.path.islink(path) or not os.path.isfile(path):
                result.refused.append((_quarantine(path, ingest_root, relative), "not an archived WAL file"))
                continue
            target_dir = _make_dirs(repo_root, relative_dir, repo_ids)
            target = os.path.join(target_dir, name)
            if os.path.lexists(target):
                if os.path.isfile(target) and filecmp.cmp(path, target, shallow=False):
                    os.unlink(path)
                    result.duplicates.append(relative)
                else:
                    result.refused.append((_quarantine(path, ingest_root, relative),
                                           "differs from the sealed file of the same name, which is kept"))
                continue
            other = _existing_copy(target_dir, name)
            if other is not None:
                result.refused.append((_quarantine(path, ingest_root, relative),
                                       "a different copy of this WAL segment is sealed already (%s), which is kept"
                                       % other))
                continue
            _copy_in(path, target, repo_ids)
            os.unlink(path)
            result.sealed.append(relative)
    return result
