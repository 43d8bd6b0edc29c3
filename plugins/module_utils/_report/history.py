# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The last 30 days of a host, from what its jobs left behind: pure functions over lines and records.

Private to frende.db. The event logs of the frende-db commands and of the collection's audit trail
(one line per event, _command.format_line), the backup catalog's entries, pgBackRest's backups and
the drill reports become the report's series by day. Nothing here reads a file.
"""

from __future__ import annotations

import datetime
import json
import re

_FIELD_RE = re.compile(r'(?P<key>[a-z_]+)=(?P<value>"(?:[^"\\]|\\.)*"|\S+)')
_STAMP_RE = re.compile(r"^(?P<stamp>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z) (?P<prog>\S+) (?P<level>[A-Z]+) ")


def parse_event_line(line: str) -> tuple | None:
    """(moment, level, {key: value}) of one event log line, or None for any other line."""
    match = _STAMP_RE.match(line)
    if not match:
        return None
    moment = datetime.datetime.strptime(match.group("stamp"), "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    fields = {}
    for field in _FIELD_RE.finditer(line[match.end():]):
        value = field.group("value")
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                value = value.strip('"')
        fields[field.group("key")] = value
    return moment, match.group("level"), fields


def day(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).date().isoformat()


def operations(lines, since: datetime.datetime, keep: int = 20) -> dict:
    """The collection's own audit trail (audit.log): {total, by_playbook, by_day, recent}."""
    total, by_playbook, by_day, recent = 0, {}, {}, []
    for line in lines:
        event = parse_event_line(line)
        if event is None or event[0] < since or event[2].get("action") != "audit":
            continue
        moment, _level, fields = event
        total += 1
        playbook = fields.get("playbook") or "unknown"
        by_playbook[playbook] = by_playbook.get(playbook, 0) + 1
        by_day[day(moment)] = by_day.get(day(moment), 0) + 1
        who = fields.get("user") or "unknown"
        if fields.get("awx_job") not in (None, "-"):
            who = "%s (AWX job %s)" % (who, fields["awx_job"])
        recent.append(dict(time=moment.isoformat(), source="frende.db",
                           text="%s by %s: %s" % (playbook, who, fields.get("msg") or "")))
    recent.sort(key=lambda event: event["time"], reverse=True)
    return dict(total=total, by_playbook=by_playbook, by_day=by_day, recent=recent[:keep])


def connection_peak(lines, since: datetime.datetime) -> dict:
    """The most connections in use that the health checks saw (health.log's 'done' lines)."""
    peak, peak_at, samples = None, None, 0
    for line in lines:
        event = parse_event_line(line)
        if event is None or event[0] < since:
            continue
        moment, _level, fields = event
        if fields.get("action") != "health" or fields.get("event") != "done" or "connections_used" not in fields:
            continue
        try:
            used = int(fields["connections_used"])
        except ValueError:
            continue
        samples += 1
        if peak is None or used > peak:
            peak, peak_at = used, moment.isoformat()
    return dict(peak=peak, peak_at=peak_at, samples=samples)


def logical_backups(entries, verify_states, since: datetime.datetime) -> list:
    """The catalog's sets finished since ``since``, oldest first, with their verification."""
    found = []
    for entry in entries:
        if entry["finished_at"] < since:
            continue
        manifest = entry.get("manifest") or {}
        state = verify_states.get(entry["name"]) or {}
        verified = {"ok": True, "failed": False}.get(state.get("state"))
        found.append(dict(name=entry["name"], finished_at=entry["finished_at"].isoformat(),
                          day=day(entry["finished_at"]), size=manifest.get("size"),
                          duration_s=manifest.get("duration_s"), encrypted=bool(manifest.get("encrypted")),
                          verified=verified, verify_level=state.get("level")))
    found.sort(key=lambda item: item["finished_at"])
    return found


def physical_backups(backups, since: datetime.datetime) -> list:
    """pgBackRest's backups (_repository.pgbackrest.backups()) that stopped since ``since``."""
    found = []
    for backup in backups:
        if not backup.get("stop"):
            continue
        stop = datetime.datetime.fromtimestamp(backup["stop"], datetime.timezone.utc)
        if stop < since:
            continue
        start = backup.get("start")
        found.append(dict(label=backup.get("label"), type=backup.get("type"), finished_at=stop.isoformat(),
                          day=day(stop), size=backup.get("size"), repo_size=backup.get("repo_size"),
                          duration_s=float(backup["stop"] - start) if start else None))
    return found


def _moment(text):
    try:
        moment = datetime.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def drills(reports, since: datetime.datetime) -> list:
    """Drill reports (the database host's drill-*.json, the backup host's physical ones), oldest first."""
    found = []
    for report in reports:
        if not isinstance(report, dict):
            continue
        finished = _moment(report.get("finished_at"))
        if finished is None or finished < since:
            continue
        physical = report.get("kind") == "physical"
        found.append(dict(
            kind="physical" if physical else "logical", finished_at=finished.isoformat(), day=day(finished),
            rto_s=report.get("rto_s") if physical else report.get("achieved_rto_s"),
            rpo_s=report.get("rpo_s") if physical else report.get("achieved_rpo_s"),
            rto_target_s=report.get("rto_target_s"), rpo_target_s=report.get("rpo_target_s"),
            passed=bool(report.get("ok") if physical else report.get("passed")),
            error=report.get("error")))
    found.sort(key=lambda item: item["finished_at"])
    return found


def newest_age_s(logical: list, physical: list, now: datetime.datetime) -> float | None:
    moments = [_moment(item["finished_at"]) for item in logical + physical]
    moments = [m for m in moments if m is not None]
    return round((now - max(moments)).total_seconds(), 1) if moments else None
