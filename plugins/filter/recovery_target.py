# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""frende.db.recovery_target: a point-in-time recovery target, checked before any host changes."""

from __future__ import annotations

import datetime
import re

from ansible.errors import AnsibleFilterError

# 2026-12-01 15:59:00+00, 2026-12-01T15:59:00.5+01:00, 2026-12-01 15:59:00Z, 2026-12-01 15:59+00
_TARGET_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)$",
                        re.I)


def parse_target(text, now=None):
    """(aware datetime in UTC, None) for a valid target; (None, reason) otherwise."""
    if not isinstance(text, str) or not text.strip():
        return None, "it is empty"
    match = _TARGET_RE.match(text.strip())
    if not match:
        return None, ("it is not a time with its zone, such as '2026-12-01 15:59:00+00' (a time without a zone "
                      "is refused: whose 15:59 would it be?)")
    day, clock, zone = match.groups()
    zone = zone.upper()
    if zone in ("Z", "UTC"):
        zone = "+00:00"
    elif len(zone) == 3:
        zone += ":00"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    if clock.count(":") == 1:
        clock += ":00"
    try:
        moment = datetime.datetime.fromisoformat("%sT%s%s" % (day, clock, zone))
    except ValueError as exc:
        return None, "it is not a valid time (%s)" % exc
    moment = moment.astimezone(datetime.timezone.utc)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if moment > now:
        return None, "it is in the future (now is %s UTC)" % now.strftime("%Y-%m-%d %H:%M:%S")
    return moment, None


def recovery_target(text, now_epoch=None):
    """{'epoch': seconds, 'utc': 'YYYY-MM-DD HH:MM:SS.ffffff+00'} for pgBackRest's --target, or a clear error."""
    now = datetime.datetime.fromtimestamp(float(now_epoch), datetime.timezone.utc) if now_epoch else None
    moment, reason = parse_target(text, now)
    if moment is None:
        raise AnsibleFilterError("recover_target_time %r is refused, nothing was changed: %s." % (text, reason))
    return dict(epoch=moment.timestamp(), utc=moment.strftime("%Y-%m-%d %H:%M:%S.%f+00"))


class FilterModule:
    def filters(self):
        return dict(recovery_target=recovery_target)
