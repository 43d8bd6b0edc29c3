# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One line per backup event in /var/log/frende/backup.log. Private to frende.db; stdlib only.

A line reads ``<UTC time> <tool>[<pid>] action=backup event=done key=value ...``,
easy to grep at 3 a.m. and to parse. Values are never secrets: the engine hands
this file names, sizes, durations and messages only.
"""

from __future__ import annotations

import json
import os
import re

from ansible_collections.frende.db.plugins.module_utils._backup_catalog import utc_now
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError

_PLAIN = re.compile(r"^[A-Za-z0-9_.:/@+,-]*$")


def format_value(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "%.3f" % value
    text = str(value)
    return text if text and _PLAIN.match(text) else json.dumps(text)


def format_line(tool, pid, moment, action, event, fields):
    parts = ["%s %s[%d] action=%s event=%s" % (moment.strftime("%Y-%m-%dT%H:%M:%SZ"), tool, pid, action, event)]
    parts.extend("%s=%s" % (key, format_value(value)) for key, value in fields.items() if value is not None)
    return " ".join(parts)


class EventLog:
    """Appends event lines to ``path``; ``enabled=False`` (check mode, list) writes nothing."""

    def __init__(self, path, tool, enabled=True, owner_ids=None):
        self.path = path
        self.tool = tool
        self.enabled = enabled and bool(path)
        self.owner_ids = owner_ids
        self.lines = []

    def open_check(self):
        """Fail before any work when the log cannot be written."""
        if not self.enabled:
            return
        try:
            parent = os.path.dirname(self.path)
            if not os.path.isdir(parent):
                os.makedirs(parent, mode=0o750)
                if self.owner_ids:
                    os.chown(parent, *self.owner_ids)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                if self.owner_ids and os.fstat(fd).st_size == 0:
                    os.fchown(fd, *self.owner_ids)
            finally:
                os.close(fd)
        except OSError as exc:
            raise FrendeDbError("Cannot write the backup log %s: %s. Set log_file to a writable path."
                                % (self.path, exc.strerror))

    def event(self, action, event, **fields):
        line = format_line(self.tool, os.getpid(), utc_now(), action, event, fields)
        self.lines.append(line)
        if not self.enabled:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, (line + "\n").encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            raise FrendeDbError("Cannot write the backup log %s: %s." % (self.path, exc.strerror))
