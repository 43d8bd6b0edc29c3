# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health thresholds and their evaluation: pure functions, no server needed.

Private to frende.db. The module frende_db_health and the command
frende-db-maintenance validate their options with ``normalize_options`` and
turn measured values into check entries with the ``evaluate_*`` functions, so
both judge the database the same way. Standard library only (the command runs
without Ansible).
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.frende.db.plugins.module_utils._command import to_bool, to_choice, to_int, to_path
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._postgres import validate_identifier
from ansible_collections.frende.db.plugins.module_utils._units import format_duration, parse_duration

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"
UNKNOWN = "unknown"
STATUSES = (HEALTHY, DEGRADED, UNHEALTHY, UNKNOWN)
_SEVERITY = {HEALTHY: 0, UNKNOWN: 0, DEGRADED: 1, UNHEALTHY: 2}

FAIL_ON = ("unhealthy", "degraded", "never")

# The security document's policy; the module's option defaults and the
# command's built-in defaults both come from here.
EXPECTED_DEFAULTS = dict(
    max_connections=200,
    authentication_timeout="60s",
    log_connections=True,
    log_disconnections=True,
    password_encryption="scram-sha-256",
    ssl_min_protocol_version="TLSv1.2",
)
PASSWORD_ENCRYPTIONS = ("scram-sha-256", "md5")
TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")

DEFAULTS = dict(
    connections_warn_pct=80,
    connections_crit_pct=95,
    long_transaction_warn="5min",
    long_transaction_crit="30min",
    idle_in_transaction_warn="5min",
    idle_in_transaction_crit="30min",
    failed_auth_window="24h",
    failed_auth_warn=10,
    backup_dir="/var/backups/frende/database",
    max_backup_age="26h",
    wal_archive_max_age="5min",
    repository_stanza=None,
    repository_max_age="26h",
    app_role=None,
    managed_roles=None,
    require_encrypted_backups=False,
    password_record=None,
    password_max_age="90d",
    fail_on="unhealthy",
)
# Days before the server certificate expires: degraded below the first, unhealthy below the second.
CERTIFICATE_WARN_DAYS = 30
CERTIFICATE_CRIT_DAYS = 7

# The settings entries, in report order; ssl_min_protocol_version is judged by the ssl check.
SETTING_NAMES = ("max_connections", "authentication_timeout", "log_connections",
                 "log_disconnections", "password_encryption")

CHECK_NAMES = ("connection", "ssl", "certificate", "data_checksums", "settings", "connections", "long_transactions",
               "database_size", "hba", "roles", "password_age", "failed_auth", "backup_age", "wal_archive", "repository")


def make_check(name, status, value=None, threshold=None, message=""):
    if status not in STATUSES:
        raise ValueError("unknown status %r" % status)
    return dict(name=name, status=status, value=value, threshold=threshold, message=message)


def worst(statuses):
    """The most severe status; unknown counts as healthy (it is listed, it does not degrade)."""
    result = HEALTHY
    for status in statuses:
        if _SEVERITY[status] > _SEVERITY[result]:
            result = status
    return result


def aggregate(checks):
    return worst(c["status"] for c in checks)


def reaches(status, fail_on):
    """True when the overall ``status`` is at or beyond the ``fail_on`` level."""
    if fail_on == "never":
        return False
    return _SEVERITY[status] >= _SEVERITY[fail_on]


def problems(checks):
    """One line per check that is not healthy (for failure messages and log lines)."""
    return ["%s is %s: %s" % (c["name"], c["status"], c["message"])
            for c in checks if c["status"] in (DEGRADED, UNHEALTHY)]


# -- option validation ------------------------------------------------------

def _positive_duration(value, what):
    seconds = parse_duration(value, what)
    if seconds <= 0:
        raise FrendeDbError("%s must be longer than zero, got %r." % (what, value))
    return seconds


def normalize_expected(expected):
    """The policy values to compare against, with durations in seconds."""
    merged = dict(EXPECTED_DEFAULTS)
    unknown = sorted(set(expected or {}) - set(EXPECTED_DEFAULTS))
    if unknown:
        raise FrendeDbError("expected has unknown keys %s; known keys: %s."
                            % (", ".join(unknown), ", ".join(sorted(EXPECTED_DEFAULTS))))
    merged.update({k: v for k, v in (expected or {}).items() if v is not None})
    timeout = parse_duration(merged["authentication_timeout"], "expected.authentication_timeout")
    if not 1 <= timeout <= 600:
        raise FrendeDbError("expected.authentication_timeout must be between 1s and 600s "
                            "(PostgreSQL's range), got %r." % (merged["authentication_timeout"],))
    return dict(
        max_connections=to_int(merged["max_connections"], "expected.max_connections", 1, 262143),
        authentication_timeout=timeout,
        log_connections=to_bool(merged["log_connections"], "expected.log_connections"),
        log_disconnections=to_bool(merged["log_disconnections"], "expected.log_disconnections"),
        password_encryption=to_choice(merged["password_encryption"], "expected.password_encryption",
                                      PASSWORD_ENCRYPTIONS),
        ssl_min_protocol_version=to_choice(merged["ssl_min_protocol_version"],
                                           "expected.ssl_min_protocol_version", TLS_VERSIONS),
    )


def _stanza(value):
    if value in (None, ""):
        return None
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", str(value)):
        raise FrendeDbError("repository_stanza %r is not a pgBackRest stanza name: use letters, digits, '_', '-' "
                            "or '.'." % (value,))
    return str(value)


def _role_names(value, what):
    """A list of role names (a list, or text separated by commas or spaces in a config file); None: none."""
    if value in (None, "", []):
        return []
    items = re.split(r"[\s,]+", value.strip()) if isinstance(value, str) else list(value)
    return [validate_identifier(str(item), what) for item in items if str(item)]


def normalize_options(raw):
    """Validate the health options (module or command) and return them parsed.

    Durations become seconds (``*_seconds`` keys are added); every bad value raises
    FrendeDbError naming the option and what is accepted.
    """
    opts = dict(DEFAULTS)
    opts.update({k: v for k, v in raw.items() if v is not None})
    warn = to_int(opts["connections_warn_pct"], "connections_warn_pct", 1, 100)
    crit = to_int(opts["connections_crit_pct"], "connections_crit_pct", 1, 100)
    if warn >= crit:
        raise FrendeDbError("connections_warn_pct (%d) must be lower than connections_crit_pct (%d)."
                            % (warn, crit))
    result = dict(
        database=validate_identifier(opts["database"], "database") if opts.get("database") else None,
        expected=normalize_expected(opts.get("expected")),
        connections_warn_pct=warn,
        connections_crit_pct=crit,
        failed_auth_warn=to_int(opts["failed_auth_warn"], "failed_auth_warn", 0),
        failed_auth_window=_positive_duration(opts["failed_auth_window"], "failed_auth_window"),
        max_backup_age=_positive_duration(opts["max_backup_age"], "max_backup_age"),
        wal_archive_max_age=_positive_duration(opts["wal_archive_max_age"], "wal_archive_max_age"),
        repository_stanza=_stanza(opts.get("repository_stanza")),
        repository_max_age=_positive_duration(opts["repository_max_age"], "repository_max_age"),
        app_role=validate_identifier(opts["app_role"], "app_role") if opts.get("app_role") else None,
        managed_roles=_role_names(opts.get("managed_roles"), "managed_roles"),
        require_encrypted_backups=to_bool(opts["require_encrypted_backups"], "require_encrypted_backups"),
        password_record=to_path(opts.get("password_record"), "password_record"),
        password_max_age=_positive_duration(opts["password_max_age"], "password_max_age"),
        fail_on=to_choice(opts["fail_on"], "fail_on", FAIL_ON),
    )
    for pair in ("long_transaction", "idle_in_transaction"):
        w = _positive_duration(opts[pair + "_warn"], pair + "_warn")
        c = _positive_duration(opts[pair + "_crit"], pair + "_crit")
        if w > c:
            raise FrendeDbError("%s_warn (%s) must not be longer than %s_crit (%s)."
                                % (pair, opts[pair + "_warn"], pair, opts[pair + "_crit"]))
        result[pair + "_warn"] = w
        result[pair + "_crit"] = c
    for key in ("backup_dir", "server_log"):
        result[key] = to_path(opts.get(key), key)
    return result


# -- evaluation ---------------------------------------------------------------

def _pct(part, whole):
    return round(100.0 * part / whole, 1) if whole else 0.0


def evaluate_connection(latency_ms, version, error=None):
    if error:
        return make_check("connection", UNHEALTHY, dict(reachable=False), None,
                          "The server is not reachable: %s" % error)
    return make_check("connection", HEALTHY, dict(reachable=True, latency_ms=latency_ms, server_version=version),
                      None, "Connected in %s ms to PostgreSQL %s." % (latency_ms, version))


def tls_rank(version):
    """Order of TLS protocol versions; '' (no minimum) ranks lowest."""
    return TLS_VERSIONS.index(version) if version in TLS_VERSIONS else -1


def evaluate_ssl(own, server_ssl, min_protocol, expected_min):
    """``own``: this connection's pg_stat_ssl row plus ``local_socket`` (dict or None).

    A connection over the server's Unix socket needs no TLS: it never leaves the
    host, and libpq does not even offer TLS there. The server's own TLS settings
    are checked either way, since they protect every TCP client.
    """
    own = own or {}
    used = bool(own.get("ssl"))
    local = bool(own.get("local_socket"))
    value = dict(connection_ssl=used, local_socket=local,
                 protocol=own.get("version") if used else None,
                 cipher=own.get("cipher") if used else None,
                 server_ssl=server_ssl, ssl_min_protocol_version=min_protocol or "")
    threshold = dict(connection_ssl=not local, server_ssl="on", ssl_min_protocol_version=">= " + expected_min)
    issues, status = [], HEALTHY
    if server_ssl != "on":
        issues.append("the server has ssl=%s, so no client can use TLS" % server_ssl)
        status = UNHEALTHY
    if not used and not local:
        issues.append("this connection is not encrypted (use ssl_mode require or verify-full)")
        status = worst([status, DEGRADED])
    if tls_rank(min_protocol) < tls_rank(expected_min):
        issues.append("the server's ssl_min_protocol_version is %r, the policy asks for at least %s"
                      % (min_protocol or "", expected_min))
        status = worst([status, DEGRADED])
    if issues:
        text = "; ".join(issues)
        return make_check("ssl", status, value, threshold, text[0].upper() + text[1:] + ".")
    if used:
        transport = "This connection uses %s" % value["protocol"]
    else:
        transport = "This connection is over the local socket (TLS does not apply there)"
    return make_check("ssl", HEALTHY, value, threshold,
                      "%s; server ssl=on; minimum protocol %s." % (transport, min_protocol))


_TIME_UNITS = {"ms": 0.001, "s": 1, "min": 60}


def setting_value(row):
    """A pg_settings row as a comparable Python value (times in seconds)."""
    vartype, setting, unit = row.get("vartype"), row.get("setting"), row.get("unit")
    if vartype == "bool":
        return setting == "on"
    if vartype in ("integer", "real"):
        number = float(setting) if vartype == "real" else int(setting)
        if unit in _TIME_UNITS:
            return number * _TIME_UNITS[unit]
        return number
    return setting


def _shown(name, value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if name == "authentication_timeout":
        return "%gs" % value
    return str(value)


def _reported(name, value):
    """Value as returned in the check entry: native where JSON has a type, else as shown."""
    if isinstance(value, bool) or name == "max_connections":
        return value
    return _shown(name, value)


def evaluate_settings(rows, expected):
    """One ``settings.<name>`` entry per policy setting; ``rows`` from pg_settings by name."""
    checks = []
    for name in SETTING_NAMES:
        row = rows.get(name)
        want = expected[name]
        if row is None:
            checks.append(make_check("settings." + name, UNKNOWN, None, _reported(name, want),
                                     "%s is not visible in pg_settings." % name))
            continue
        have = setting_value(row)
        same = have == want if not isinstance(want, str) else str(have).lower() == want.lower()
        if same:
            checks.append(make_check("settings." + name, HEALTHY, _reported(name, have), _reported(name, want),
                                     "%s = %s as the policy says." % (name, _shown(name, have))))
        else:
            checks.append(make_check("settings." + name, DEGRADED, _reported(name, have), _reported(name, want),
                                     "%s is %s; the policy says %s." % (name, _shown(name, have), _shown(name, want))))
    return checks


def evaluate_connections(used, max_connections, by_state, warn_pct, crit_pct):
    pct = _pct(used, max_connections)
    value = dict(used=used, max=max_connections, pct=pct, by_state=by_state)
    threshold = dict(warn_pct=warn_pct, crit_pct=crit_pct)
    text = "%d of %d connections in use (%s%%)" % (used, max_connections, pct)
    if pct > crit_pct:
        return make_check("connections", UNHEALTHY, value, threshold,
                          "%s, above %d%%: connection pool exhaustion is near." % (text, crit_pct))
    if pct > warn_pct:
        return make_check("connections", DEGRADED, value, threshold, "%s, above %d%%." % (text, warn_pct))
    return make_check("connections", HEALTHY, value, threshold, text + ".")


def _age_status(age, warn, crit):
    if age is None:
        return HEALTHY
    if age > crit:
        return UNHEALTHY
    if age > warn:
        return DEGRADED
    return HEALTHY


def evaluate_long_transactions(oldest, idle, opts):
    """``oldest``/``idle``: dicts with ``age`` (seconds) and ``pid``, ``user``, ``database``; or None."""
    threshold = {key: format_duration(opts[key]) for key in (
        "long_transaction_warn", "long_transaction_crit", "idle_in_transaction_warn", "idle_in_transaction_crit")}
    value = dict(oldest_transaction_seconds=oldest["age"] if oldest else None,
                 oldest_transaction=oldest,
                 idle_in_transaction_seconds=idle["age"] if idle else None,
                 idle_in_transaction=idle)
    s1 = _age_status(oldest["age"] if oldest else None,
                     opts["long_transaction_warn"], opts["long_transaction_crit"])
    s2 = _age_status(idle["age"] if idle else None,
                     opts["idle_in_transaction_warn"], opts["idle_in_transaction_crit"])
    parts = []
    for label, item, status, w, c in (
            ("oldest open transaction", oldest, s1, opts["long_transaction_warn"], opts["long_transaction_crit"]),
            ("longest idle in transaction", idle, s2, opts["idle_in_transaction_warn"],
             opts["idle_in_transaction_crit"])):
        if item is None:
            parts.append("no %s" % label.replace("longest ", "session ").replace("oldest ", ""))
            continue
        text = "%s %s (pid %s, %s@%s)" % (label, format_duration(item["age"]), item.get("pid"),
                                          item.get("user"), item.get("database"))
        if status != HEALTHY:
            limit = c if status == UNHEALTHY else w
            text += " is above %s" % format_duration(limit)
        parts.append(text)
    message = "; ".join(parts)
    return make_check("long_transactions", worst([s1, s2]), value, threshold, message[0].upper() + message[1:] + ".")


def evaluate_database_size(database, sizes):
    """``sizes``: {name: bytes or None (not measurable by this role)} of every database that allows connections."""
    if database not in sizes:
        return make_check("database_size", UNHEALTHY, dict(database=database, all=sizes), None,
                          "Database %r does not exist (or allows no connections)." % database)
    total = sum(v for v in sizes.values() if v is not None)
    value = dict(database=database, bytes=sizes[database], total_bytes=total, all=sizes)
    if sizes[database] is None:
        return make_check("database_size", UNKNOWN, value, None,
                          "This role may not measure %s: it needs CONNECT on it or membership in "
                          "pg_monitor (pg_read_all_stats)." % database)
    return make_check("database_size", HEALTHY, value, None,
                      "%s is %s; all databases %s." % (database, human_bytes(sizes[database]), human_bytes(total)))


def human_bytes(count):
    size = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024.0
    return "%d B" % count  # pragma: no cover


def evaluate_failed_auth(summary, window, warn):
    """``summary`` from server_log.count_failed_auth(), or None when the log was not readable."""
    threshold = dict(max_count=warn, window=format_duration(window))
    value = dict(count=summary["count"], by_user=summary["by_user"], by_client=summary["by_client"],
                 files=summary["files"], recent_count=summary.get("recent"))
    text = "%d failed authentication attempts in the last %s" % (summary["count"], format_duration(window))
    if summary["count"] > warn:
        top = sorted(summary["by_user"].items(), key=lambda kv: -kv[1])[:3]
        who = ", ".join("%s: %d" % kv for kv in top)
        return make_check("failed_auth", DEGRADED, value, threshold,
                          "%s, more than %d (%s)." % (text, warn, who or "users unknown"))
    return make_check("failed_auth", HEALTHY, value, threshold, text + ".")


def evaluate_backup(newest, now, max_age, backup_dir, require_encrypted=False):
    threshold = dict(max_age=format_duration(max_age), max_age_seconds=max_age, encrypted=require_encrypted)
    if newest is None:
        return make_check("backup_age", UNKNOWN, dict(backup_dir=backup_dir), threshold,
                          "No complete backup in %s yet." % backup_dir)
    age = max(0.0, (now - newest["finished_at"]).total_seconds())
    value = dict(backup_dir=backup_dir, newest=newest["name"], database=newest["database"],
                 format=newest["format"], finished_at=newest["finished_at"].isoformat(),
                 finished_timestamp=newest["finished_at"].timestamp(), age_seconds=round(age))
    text = "Newest backup %s finished %s ago" % (newest["name"], format_duration(age))
    value["encrypted"] = bool((newest.get("manifest") or {}).get("encrypted"))
    if age > max_age:
        return make_check("backup_age", DEGRADED, value, threshold,
                          "%s, older than %s: the recovery point objective is missed." % (text, format_duration(max_age)))
    if require_encrypted and not value["encrypted"]:
        return make_check("backup_age", DEGRADED, value, threshold,
                          "%s, but it is not encrypted: whoever gets the file reads the data (frende_db_backup_encrypt "
                          "is false, or the set was made by hand without encrypt_recipients)." % text)
    return make_check("backup_age", HEALTHY, value, threshold, "%s." % text)


def _segment_number(wal_name):
    """The position of a WAL file name within its timeline (log * 256 + segment), or None."""
    if not wal_name or not re.match(r"^[0-9A-F]{24}", wal_name):
        return None
    return int(wal_name[8:16], 16) * 0x100 + int(wal_name[16:24], 16)


def evaluate_wal_archive(archiver, now, max_age):
    """``archiver``: pg_stat_archiver's row plus archive_mode and the current WAL file (None: not readable)."""
    threshold = dict(max_age=format_duration(max_age), max_age_seconds=max_age)
    if not archiver or archiver.get("archive_mode") not in ("on", "always"):
        return make_check("wal_archive", UNKNOWN, None, threshold,
                          "WAL archiving is off: no backup host (group frende_backup) is configured.")
    last, failed = archiver.get("last_archived_time"), archiver.get("last_failed_time")
    value = dict(last_archived_wal=archiver.get("last_archived_wal"), failed_count=archiver.get("failed_count"),
                 last_failed_wal=archiver.get("last_failed_wal"), current_wal=archiver.get("current_wal"))
    if failed is not None and (last is None or failed > last):
        value["last_failed_time"] = failed.isoformat()
        return make_check("wal_archive", UNHEALTHY, value, threshold,
                          "WAL archiving is failing: %s could not be archived (at %s) and nothing has been archived "
                          "since; WAL piles up in pg_wal. Check the server log and `pgbackrest check`."
                          % (archiver.get("last_failed_wal"), failed.strftime("%Y-%m-%d %H:%M:%S UTC")))
    if last is None:
        return make_check("wal_archive", DEGRADED, value, threshold, "No WAL segment has been archived yet.")
    age = max(0.0, (now - last).total_seconds())
    value["age_seconds"] = round(age)
    done, current = _segment_number(archiver.get("last_archived_wal")), _segment_number(archiver.get("current_wal"))
    # A quiet server writes no new segment; only WAL beyond the one being filled is late.
    backlog = None if done is None or current is None else max(0, current - done - 1)
    value["segments_waiting"] = backlog
    text = "Last WAL segment archived %s ago" % format_duration(age)
    if age > max_age and backlog:
        return make_check("wal_archive", DEGRADED, value, threshold,
                          "%s, and %d finished segment(s) wait: the %s recovery point target is missed."
                          % (text, backlog, format_duration(max_age)))
    return make_check("wal_archive", HEALTHY, value, threshold, "%s; no finished segment waits." % text
                      if not backlog else "%s; %d segment(s) on their way." % (text, backlog))


def evaluate_repository(stanza, newest_stop, now, max_age, error=None):
    """The newest backup in the pgBackRest repository, as the database host sees it."""
    threshold = dict(max_age=format_duration(max_age), max_age_seconds=max_age)
    if stanza is None:
        return make_check("repository", UNKNOWN, None, threshold,
                          "No backup host: backups stay on this host (add one to the group frende_backup).")
    if error:
        return make_check("repository", UNHEALTHY, dict(stanza=stanza), threshold,
                          "The repository cannot be read from here: %s" % error)
    if newest_stop is None:
        return make_check("repository", DEGRADED, dict(stanza=stanza), threshold,
                          "The repository holds no backup of stanza %s yet." % stanza)
    age = max(0.0, now.timestamp() - newest_stop)
    value = dict(stanza=stanza, age_seconds=round(age))
    text = "Newest backup in the repository finished %s ago" % format_duration(age)
    if age > max_age:
        return make_check("repository", DEGRADED, value, threshold, "%s, older than %s." % (text, format_duration(max_age)))
    return make_check("repository", HEALTHY, value, threshold, text + ".")


def evaluate_certificate(path, not_after, now, error=None):
    """Days until the server certificate at ``path`` expires (``not_after``: an aware datetime)."""
    threshold = dict(degraded_below_days=CERTIFICATE_WARN_DAYS, unhealthy_below_days=CERTIFICATE_CRIT_DAYS)
    if error:
        return make_check("certificate", UNKNOWN, dict(path=path), threshold, error)
    days = (not_after - now).total_seconds() / 86400.0
    value = dict(path=path, not_after=not_after.isoformat(), not_after_timestamp=not_after.timestamp(),
                 days_left=round(days, 1))
    if days <= 0:
        return make_check("certificate", UNHEALTHY, value, threshold,
                          "The server certificate %s expired on %s: TLS clients that verify it are refused. Run the "
                          "setup playbook to renew the role's certificate, or install a new one."
                          % (path, not_after.strftime("%Y-%m-%d")))
    text = "The server certificate %s expires on %s, in %.0f days" % (path, not_after.strftime("%Y-%m-%d"), days)
    if days < CERTIFICATE_WARN_DAYS:
        return make_check("certificate", UNHEALTHY if days < CERTIFICATE_CRIT_DAYS else DEGRADED, value, threshold,
                          "%s; renew it now (the setup playbook renews the role's own certificate)." % text)
    return make_check("certificate", HEALTHY, value, threshold, text + ".")


def evaluate_data_checksums(setting):
    """``setting``: SHOW data_checksums (on or off)."""
    if setting == "on":
        return make_check("data_checksums", HEALTHY, dict(data_checksums="on"), dict(data_checksums="on"),
                          "Data checksums are on: a corrupted page is detected when it is read.")
    return make_check("data_checksums", DEGRADED, dict(data_checksums=setting), dict(data_checksums="on"),
                      "Data checksums are off (a cluster made before frende.db made new ones with them): corrupted "
                      "pages go unnoticed. Enabling them stops PostgreSQL for a while (pg_checksums reads every "
                      "page): run the setup playbook with -e frende_db_enable_data_checksums=true in a maintenance "
                      "window.")


def evaluate_password_age(record, now, max_age, path=None):
    """``record``: the rotation record (active login role, set_at per role as ISO time), or None without one."""
    threshold = dict(max_age=format_duration(max_age), max_age_seconds=max_age)
    if not record:
        return make_check("password_age", UNKNOWN, dict(record=path), threshold,
                          "No record of when the application password was set%s; the setup playbook writes one."
                          % (" (%s)" % path if path else ""))
    active = record.get("active")
    stamp = (record.get("set_at") or {}).get(active)
    try:
        set_at = datetime.datetime.fromisoformat(stamp)
        if set_at.tzinfo is None:  # Ansible's now(utc=true) writes UTC without an offset
            set_at = set_at.replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return make_check("password_age", UNKNOWN, dict(record=path, active=active), threshold,
                          "The record %s does not say when the password of %s was set." % (path, active))
    age = max(0.0, (now - set_at).total_seconds())
    value = dict(record=path, active=active, set_at=set_at.isoformat(), age_seconds=round(age),
                 rotation_pending=record.get("phase") == "pending")
    text = "The password of %s was set %s ago" % (active, format_duration(age))
    if age > max_age:
        return make_check("password_age", DEGRADED, value, threshold,
                          "%s, more than %s: rotate it (playbooks/rotate_password.yml, two phases)."
                          % (text, format_duration(max_age)))
    return make_check("password_age", HEALTHY, value, threshold, text + ".")
