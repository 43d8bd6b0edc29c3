# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one exception type of the collection.

Private to frende.db. Every module turns it into ``fail_json(msg=...)`` in one
place; the backup command turns it into one log line and a non-zero exit.
"""

from __future__ import annotations


class FrendeDbError(Exception):
    """A failure that the operator can act on; ``str()`` says what and what to do.

    ``details`` holds extra keys for the module result (never secrets).
    """

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def __str__(self):
        return self.msg


def mark_logged(exc):
    """Note that the failure ``exc`` is already in the command's log, so the caller does not log it again."""
    try:
        exc.frende_db_logged = True
    except AttributeError:  # an exception type without a __dict__
        pass
    return exc


def was_logged(exc):
    return bool(getattr(exc, "frende_db_logged", False))
