# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Durations as operators write them ('90s', '30min', '26h', '7d'). Private to frende.db."""

from __future__ import annotations

import re

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError

_UNITS = {
    "ms": 0.001,
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


def parse_duration(value, what="duration", default_unit="s"):
    """Seconds (float) from '60s', '30min', '26h', '7d' or a bare number of ``default_unit``."""
    if isinstance(value, bool):
        raise FrendeDbError("%s must be a duration such as '60s', '30min', '26h' or '7d', got %r." % (what, value))
    if isinstance(value, (int, float)):
        seconds = float(value) * _UNITS[default_unit]
    else:
        match = _DURATION_RE.match(str(value).lower())
        if not match or (match.group(2) or default_unit) not in _UNITS:
            raise FrendeDbError(
                "%s must be a duration such as '60s', '30min', '26h' or '7d', got %r." % (what, value)
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2) or default_unit]
    if seconds < 0:
        raise FrendeDbError("%s must not be negative, got %r." % (what, value))
    return seconds


def format_duration(seconds):
    """A short human form: 45s, 12min, 3.5h, 2d."""
    seconds = float(seconds)
    if seconds < 120:
        return "%ds" % round(seconds)
    if seconds < 7200:
        return "%dmin" % round(seconds / 60)
    if seconds < 172800:
        return "%sh" % (round(seconds / 3600, 1)).__format__("g")
    return "%sd" % (round(seconds / 86400, 1)).__format__("g")
