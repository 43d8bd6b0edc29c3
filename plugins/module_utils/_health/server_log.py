# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Failed authentication attempts counted from the PostgreSQL server log.

Private to frende.db. Reads the text ("stderr") log format whose
log_line_prefix starts with %m or %t (Debian's default is '%m [%p] %q%u@%d ').
Standard library only.
"""

from __future__ import annotations

import datetime
import gzip
import os
import re

try:
    import zoneinfo
except ImportError:  # Python < 3.9: names of log_timezone cannot be resolved; local time is used
    zoneinfo = None

DEBIAN_LOG = "/var/log/postgresql/postgresql-%s-%s.log"

# %m: '2026-11-28 06:06:58.440 UTC', %t: '2026-11-28 06:06:58 UTC'; the zone is an
# abbreviation (UTC, CET, CEST) or a numeric offset (+01, -0330).
_STAMP_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,6})?"
    r"(?: (?P<zone>[A-Za-z][A-Za-z0-9]{0,9}|[+-]\d{2}(?::?\d{2})?))?(?=\s|$)")
_PID_RE = re.compile(r"\[(\d+)\]")
_FATAL_RE = re.compile(r"\bFATAL:\s+(?:[0-9A-Z]{5}:\s+)?(?P<msg>.*)$")
_RECEIVED_RE = re.compile(r"\bLOG:\s+(?:[0-9A-Z]{5}:\s+)?connection received: host=(?P<host>\S+)")
_USER_RE = re.compile(r'user "(?P<user>(?:[^"]|"")*)"')
_HOST_RE = re.compile(r'host "(?P<host>[^"]*)"')
# Messages of PostgreSQL (English, lc_messages C) for refused logins.
_FAILED_MARKERS = ("authentication failed", "no pg_hba.conf entry", "pg_hba.conf rejects connection")
_SKIP_SUFFIXES = (".csv", ".json")
_ROTATED_RE = re.compile(r"^(?P<base>.+)\.(?P<n>\d+)(?:\.gz)?$")
# pgaudit: 'LOG:  AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,<statement>,<parameter>'
_AUDIT_RE = re.compile(r"\bLOG:\s+(?:[0-9A-Z]{5}:\s+)?AUDIT: (?P<type>SESSION|OBJECT),\d+,\d+,(?P<class>[A-Z]+),"
                       r"(?P<command>[^,]*),(?P<object_type>[^,]*),(?P<object>[^,]*),")


def reads_language(lc_messages):
    """True when the server writes its log in a language these markers match (English).

    ``lc_messages`` as the server reports it: C, POSIX and en_* are English; empty
    means the server took its environment's locale, which for Debian's clusters is C.
    """
    value = (lc_messages or "").strip().lower()
    return value == "" or value.split(".")[0] in ("c", "posix") or value.startswith("en")


def is_failed_auth(message):
    return any(marker in message for marker in _FAILED_MARKERS)


def _zone(name, log_tz):
    """tzinfo for a zone printed in the prefix, or None to use ``log_tz``."""
    if name is None:
        return None
    if name.upper() in ("UTC", "GMT", "Z", "UCT"):
        return datetime.timezone.utc
    if name[0] in "+-":
        digits = name[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
        return datetime.timezone(datetime.timedelta(minutes=minutes if name[0] == "+" else -minutes))
    return None


def resolve_timezone(name):
    """A tzinfo for the server's log_timezone name, or None when unknown here."""
    if not name or zoneinfo is None:
        return None
    if name.upper() in ("UTC", "GMT", "ETC/UTC", "ETC/GMT", "UCT", "ZULU", "ETC/ZULU"):
        return datetime.timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def parse_time(line, log_tz=None):
    """The timestamp (aware, in UTC) at the start of a log line, or None for other lines.

    An abbreviated zone (CET) is read in ``log_tz`` (the server's log_timezone),
    with the abbreviation choosing the side of a daylight-saving change; without
    ``log_tz`` the host's local time is assumed.
    """
    match = _STAMP_RE.match(line)
    if not match:
        return None
    try:
        naive = datetime.datetime.strptime(match.group("date") + " " + match.group("time"), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    if match.group("frac"):
        naive = naive.replace(microsecond=int(match.group("frac")[1:].ljust(6, "0")))
    zone_name = match.group("zone")
    fixed = _zone(zone_name, log_tz)
    if fixed is not None:
        return naive.replace(tzinfo=fixed).astimezone(datetime.timezone.utc)
    if log_tz is not None:
        for fold in (0, 1):
            moment = naive.replace(tzinfo=log_tz, fold=fold)
            if zone_name is None or moment.tzname() == zone_name:
                return moment.astimezone(datetime.timezone.utc)
        return naive.replace(tzinfo=log_tz).astimezone(datetime.timezone.utc)
    return naive.astimezone().astimezone(datetime.timezone.utc)


def open_log(path):
    """A log file, or its gzip-compressed rotation, as text."""
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, "r", encoding="utf-8", errors="replace")


def find_log_files(path, since):
    """Files to read: ``path`` itself (and its rotated ``.1``/``.1.gz`` siblings when they
    were written since ``since``), or the recently written files of a directory.

    Raises OSError when ``path`` does not exist or cannot be read.
    """
    cutoff = since.timestamp()
    if os.path.isdir(path):
        files = []
        for name in os.listdir(path):
            full = os.path.join(path, name)
            if name.startswith(".") or name.endswith(_SKIP_SUFFIXES) or not os.path.isfile(full):
                continue
            if os.path.getmtime(full) >= cutoff:
                files.append(full)
        return sorted(files, key=os.path.getmtime)
    if not os.path.exists(path):
        raise FileNotFoundError("%s does not exist" % path)
    # logrotate's siblings (.1, .2.gz, ...): a window of days reaches back over several daily rotations.
    directory, base = os.path.split(path)
    rotated = []
    for name in os.listdir(directory or "."):
        match = _ROTATED_RE.match(name)
        full = os.path.join(directory, name)
        if match and match.group("base") == base and os.path.isfile(full) and os.path.getmtime(full) >= cutoff:
            rotated.append((int(match.group("n")), full))
    return [full for _n, full in sorted(rotated, reverse=True)] + [path]


def count_failed_auth(paths, since, until=None, log_tz=None, recent_since=None):
    """Failed logins in ``paths`` with a timestamp in [since, until].

    Returns {count, by_user, by_client, by_day, files, first, last, recent}; ``recent``
    counts those at or after ``recent_since`` (None without it). The client comes from
    the message (pg_hba.conf lines name the host) or from the 'connection received'
    line of the same backend pid (log_connections=on, as the policy asks).
    """
    count, by_user, by_client, by_day = 0, {}, {}, {}
    first = last = None
    recent = 0 if recent_since is not None else None
    for path in paths:
        hosts = {}
        with open_log(path) as handle:
            for line in handle:
                if "FATAL" not in line and "connection received" not in line:
                    continue
                received = _RECEIVED_RE.search(line)
                pid = _PID_RE.search(line)
                if received:
                    if pid:
                        hosts[pid.group(1)] = received.group("host")
                    continue
                fatal = _FATAL_RE.search(line)
                if not fatal or not is_failed_auth(fatal.group("msg")):
                    continue
                moment = parse_time(line, log_tz)
                if moment is None or moment < since or (until is not None and moment > until):
                    continue
                message = fatal.group("msg")
                count += 1
                if recent is not None and moment >= recent_since:
                    recent += 1
                user = _USER_RE.search(message)
                user = user.group("user").replace('""', '"') if user else "unknown"
                host = _HOST_RE.search(message)
                host = host.group("host") if host else hosts.get(pid.group(1) if pid else None, "unknown")
                by_user[user] = by_user.get(user, 0) + 1
                by_client[host] = by_client.get(host, 0) + 1
                day = moment.date().isoformat()
                by_day[day] = by_day.get(day, 0) + 1
                first = moment if first is None or moment < first else first
                last = moment if last is None or moment > last else last
    return dict(count=count, by_user=by_user, by_client=by_client, by_day=by_day, files=list(paths),
                first=first.isoformat() if first else None, last=last.isoformat() if last else None,
                recent=recent)


def count_audit(paths, since, log_tz=None, keep=20):
    """pgaudit's events in ``paths`` since ``since``: {total, by_class, by_day, recent}.

    ``recent``: the newest ``keep`` events (time, class, command, object), newest first. Only the audit
    line's fields before the statement are read: the statement text stays in the server log.
    """
    total, by_class, by_day, recent = 0, {}, {}, []
    for path in paths:
        with open_log(path) as handle:
            for line in handle:
                if "AUDIT: " not in line:
                    continue
                match = _AUDIT_RE.search(line)
                moment = parse_time(line, log_tz) if match else None
                if moment is None or moment < since:
                    continue
                total += 1
                klass = match.group("class")
                by_class[klass] = by_class.get(klass, 0) + 1
                day = moment.date().isoformat()
                by_day[day] = by_day.get(day, 0) + 1
                recent.append(dict(time=moment.isoformat(), klass=klass, command=match.group("command"),
                                   object=match.group("object") or None))
    recent.sort(key=lambda event: event["time"], reverse=True)
    return dict(total=total, by_class=by_class, by_day=by_day, recent=recent[:keep])


def debian_log_path(cluster_name, version_major="15"):
    """Debian's log file of a cluster: cluster_name '15/main' -> postgresql-15-main.log."""
    if cluster_name and "/" in cluster_name:
        version, name = cluster_name.split("/", 1)
        if version and name:
            return DEBIAN_LOG % (version, name)
    return DEBIAN_LOG % (version_major, "main")
