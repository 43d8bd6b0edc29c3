# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files of the backup directory: atomic writes, the lock, leftovers, and safe name resolution.

Private to frende.db; stdlib only. A file becomes visible under its final name
only after its content is complete and on disk (fsync of file and directory);
until then it is ``.<final>.<pid>.partial``.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import json
import os
import pwd
import time

from ansible_collections.frende.db.plugins.module_utils._backup import catalog
from ansible_collections.frende.db.plugins.module_utils._command import os_user_ids
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._backup.pipeline import disk_full, pid_alive

LOCK_NAME = ".frende-db-backup.lock"


def owner_ids(owner):
    """(uid, gid) to give files to when running as root; None otherwise."""
    try:
        return os_user_ids(owner)
    except KeyError:
        raise FrendeDbError("owner %r is not a user on this host; set owner to the database OS user "
                            "(usually postgres)." % owner)


def describe_owner(ids):
    if not ids:
        return None
    return "%s:%s" % (pwd.getpwuid(ids[0]).pw_name, grp.getgrgid(ids[1]).gr_name)


def ensure_dir(path, ids, mode=0o700):
    """Create ``path`` if needed and make it ``mode``, owned by ``ids``; returns True if it changed."""
    changed = False
    try:
        if not os.path.isdir(path):
            os.makedirs(path, mode=mode)
            changed = True
        st = os.stat(path)
        if st.st_mode & 0o7777 != mode:
            os.chmod(path, mode)
            changed = True
        if ids and (st.st_uid, st.st_gid) != tuple(ids):
            os.chown(path, *ids)
            changed = True
    except OSError as exc:
        raise FrendeDbError("Cannot prepare the directory %s: %s." % (path, exc.strerror))
    return changed


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PartialFile:
    """``.<final>.<pid>.partial`` in ``directory``, renamed to ``final`` by commit()."""

    def __init__(self, directory, final, ids):
        self.directory = directory
        self.final = final
        self.path = os.path.join(directory, catalog.partial_name(final, os.getpid()))
        self.fd = None
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            if ids:
                os.fchown(self.fd, *ids)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise disk_full(self.path)
            raise FrendeDbError("Cannot create %s: %s." % (self.path, exc.strerror))

    def close_unsynced(self):
        """Close without fsync: for scratch files that never need to survive a crash."""
        os.close(self.fd)
        self.fd = None

    def sync(self):
        try:
            os.fsync(self.fd)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise disk_full(self.path)
            raise FrendeDbError("Cannot write %s to disk: %s." % (self.path, exc.strerror))
        os.close(self.fd)
        self.fd = None

    def commit(self):
        """Rename into place; the caller fsyncs the directory once for all files."""
        if self.fd is not None:
            self.sync()
        final_path = os.path.join(self.directory, self.final)
        os.rename(self.path, final_path)
        self.path = None
        return final_path

    def discard(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.path = None


def write_json(directory, final, data, ids):
    """Write ``data`` as ``directory/final`` atomically (0600); returns the path."""
    part = PartialFile(directory, final, ids)
    try:
        payload = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
        view = memoryview(payload)
        while view:
            try:
                view = view[os.write(part.fd, view):]
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise disk_full(part.path)
                raise
        path = part.commit()
        fsync_dir(directory)
        return path
    except BaseException:
        part.discard()
        raise


def stale_partials(directory):
    """Partial files whose writer is gone (a killed or crashed run)."""
    found = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return found
    for name in names:
        parsed = catalog.parse_partial(name)
        if parsed and (parsed[1] != os.getpid()) and not pid_alive(parsed[1]):
            found.append(os.path.join(directory, name))
    return sorted(found)


def orphan_files(directory):
    """Dump/globals files without a manifest: a run died between its renames. Call under the lock."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    names = set(names)
    found = []
    for name in names:
        parsed = catalog.parse_backup_filename(name)
        if parsed and parsed[1] in ("dump", "globals") and parsed[0] + catalog.MANIFEST_SUFFIX not in names:
            found.append(os.path.join(directory, name))
    return sorted(found)


def remove_files(paths):
    removed = []
    for path in paths:
        try:
            os.unlink(path)
            removed.append(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise FrendeDbError("Cannot remove %s: %s." % (path, exc.strerror))
    return removed


class BackupLock:
    """An exclusive flock on ``<backup_dir>/.frende-db-backup.lock`` for runs that change things."""

    def __init__(self, directory, action, timeout_s, ids=None):
        self.path = os.path.join(directory, LOCK_NAME)
        self.action = action
        self.timeout_s = timeout_s
        self.ids = ids
        self.fd = None

    def _holder(self):
        try:
            with open(self.path, "r", encoding="utf-8") as handle:
                info = json.loads(handle.read() or "{}")
            return "pid %s, action %s, since %s" % (info.get("pid"), info.get("action"), info.get("since"))
        except (OSError, ValueError):
            return "holder unknown"

    def __enter__(self):
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            if self.ids:
                os.fchown(self.fd, *self.ids)
        except OSError as exc:
            raise FrendeDbError("Cannot open the lock file %s: %s." % (self.path, exc.strerror))
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder()
                    os.close(self.fd)
                    self.fd = None
                    raise FrendeDbError(
                        "Another frende-db-backup run is working in %s (%s); waited %s s (lock_timeout). "
                        "Let it finish and try again, or raise lock_timeout to wait longer."
                        % (os.path.dirname(self.path), holder, int(self.timeout_s)))
                time.sleep(0.2)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(dict(pid=os.getpid(), action=self.action,
                                           since=catalog.utc_now().isoformat())).encode(), 0)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        return False


def resolve_backup_file(backup_dir, value, database=None):
    """The catalog entry that ``value`` names: ``latest``, a set name, or a path inside backup_dir.

    Refuses paths outside backup_dir (after resolving symlinks and ``..``),
    partial files, and sets without a manifest, with a message saying why.
    """
    if not isinstance(value, str) or not value.strip():
        raise FrendeDbError("backup_file must be a file in backup_dir, a set name, or 'latest'.")
    value = value.strip()
    entries = catalog.list_backups(backup_dir, database)
    if value == "latest":
        if not entries:
            raise FrendeDbError("There is no complete backup%s in %s; nothing to use as 'latest'."
                                % (" of database %s" % database if database else "", backup_dir))
        return entries[0]
    real_dir = os.path.realpath(backup_dir)
    candidate = value if os.path.isabs(value) or "/" in value else os.path.join(backup_dir, value)
    real = os.path.realpath(candidate)
    if os.path.commonpath([real_dir, real]) != real_dir or real == real_dir:
        raise FrendeDbError("backup_file %s is outside the backup directory %s (after resolving symlinks "
                            "and '..'); only backups in backup_dir are accepted." % (value, backup_dir))
    if os.path.dirname(real) != real_dir:
        raise FrendeDbError("backup_file %s is in a subdirectory of %s; backups live directly in backup_dir."
                            % (value, backup_dir))
    filename = os.path.basename(real)
    if catalog.parse_partial(filename) or filename.startswith("."):
        raise FrendeDbError("backup_file %s is an unfinished (partial) file of a backup that did not complete; "
                            "it is never restored. Pick a complete backup (--action list)." % value)
    parsed = catalog.parse_backup_filename(filename)
    base = parsed[0] if parsed else filename
    if parsed and parsed[1] == "legacy":
        base = filename[: -len(catalog.LEGACY_SUFFIX)]
    all_entries = catalog.list_backups(backup_dir)
    for entry in all_entries:
        if entry["name"] == base and (parsed is None or (parsed[1] == "legacy") == (entry["format"] != "custom")):
            return entry
    leftovers = [name for name in (os.listdir(real_dir) if os.path.isdir(real_dir) else [])
                 if (catalog.parse_backup_filename(name) or ("", ""))[0] == base]
    if (parsed is None or parsed[1] in ("dump", "globals", "verify", "manifest")) and leftovers:
        raise FrendeDbError("backup_file %s belongs to set %s, which has no readable manifest: the backup did not "
                            "complete (or its manifest is lost) and is not trusted." % (value, base))
    raise FrendeDbError("No backup named %s in %s. See the complete backups with --action list."
                        % (value, backup_dir))
