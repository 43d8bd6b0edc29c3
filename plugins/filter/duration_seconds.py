# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""frende.db.duration_seconds: a duration as operators write it ('90s', '30min', '26h', '7d') in seconds."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._units import parse_duration


def duration_seconds(value: object, what: str = "value") -> int | float:
    """Seconds of ``value`` (an int when whole); a value that is no duration fails with a message naming ``what``."""
    try:
        seconds = parse_duration(value, what)
    except FrendeDbError as exc:
        raise AnsibleFilterError(str(exc)) from None
    return int(seconds) if seconds.is_integer() else seconds


class FilterModule:
    def filters(self):
        return dict(duration_seconds=duration_seconds)
