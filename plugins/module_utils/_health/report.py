# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health report: reads the server, the server log and the backup directory.

Private to frende.db. One implementation for the module frende_db_health and
for ``frende-db-maintenance --action health``. Never raises for a sick server:
every problem becomes a check entry (a check that cannot be measured is
``unknown``). Standard library + psycopg2 only.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import time

try:
    import psycopg2
    from psycopg2 import errors as pg_errors
except ImportError:  # reported by _postgres.require_psycopg2() when connecting
    psycopg2 = None
    pg_errors = None

from ansible_collections.frende.db.plugins.module_utils._backup import catalog as backup_catalog
from ansible_collections.frende.db.plugins.module_utils._health import checks as hc
from ansible_collections.frende.db.plugins.module_utils._health import hba_audit
from ansible_collections.frende.db.plugins.module_utils._health import role_audit
from ansible_collections.frende.db.plugins.module_utils._health import server_log
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._metrics import samples as metric_samples
from ansible_collections.frende.db.plugins.module_utils._metrics import textfile
from ansible_collections.frende.db.plugins.module_utils._metrics.record import record as record_metrics
from ansible_collections.frende.db.plugins.module_utils._postgres import Db, timed_connect, validate_connection_params
from ansible_collections.frende.db.plugins.module_utils._repository import pgbackrest
from ansible_collections.frende.db.plugins.module_utils._units import format_duration

STATEMENT_TIMEOUT_MS = 30000
# The failed-login burst alert's window (failed_auth's value recent_count).
BURST_WINDOW_S = 600

# inet_server_addr() is NULL exactly when this session came in over the Unix socket.
_SSL_SQL = ("SELECT ssl, version, cipher, bits, inet_server_addr() IS NULL AS local_socket "
            "FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
_SSL_SETTINGS_SQL = ("SELECT current_setting('ssl') AS ssl, "
                     "current_setting('ssl_min_protocol_version') AS min_protocol")
_SETTINGS_SQL = "SELECT name, setting, unit, vartype FROM pg_settings WHERE name = ANY(%s)"
_ACTIVITY_SQL = """
SELECT coalesce(state, 'unknown') AS state, count(*)::int AS n
FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1 ORDER BY 1
"""
_OLDEST_XACT_SQL = """
SELECT pid, usename AS user, datname AS database,
       round(extract(epoch FROM now() - xact_start)::numeric, 1)::float8 AS age
FROM pg_stat_activity
WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND backend_type = 'client backend'
ORDER BY xact_start LIMIT 1
"""
_IDLE_XACT_SQL = """
SELECT pid, usename AS user, datname AS database,
       round(extract(epoch FROM now() - state_change)::numeric, 1)::float8 AS age
FROM pg_stat_activity
WHERE state IN ('idle in transaction', 'idle in transaction (aborted)') AND pid <> pg_backend_pid()
ORDER BY state_change LIMIT 1
"""
# pg_database_size() needs CONNECT on the database or pg_read_all_stats (pg_monitor has it).
_SIZES_SQL = """
SELECT datname,
       CASE WHEN has_database_privilege(oid, 'CONNECT')
                 OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
            THEN pg_database_size(oid) END AS bytes
FROM pg_database WHERE datallowconn ORDER BY datname
"""
# The WAL file being filled tells a quiet server (nothing to archive) from a late archiver.
_ARCHIVER_SQL = """
SELECT current_setting('archive_mode') AS archive_mode, archived_count, last_archived_wal, last_archived_time,
       failed_count, last_failed_wal, last_failed_time,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS current_wal
FROM pg_stat_archiver
"""
_HBA_SQL = """
SELECT line_number, type, database, user_name, address, netmask, auth_method, options, error
FROM pg_hba_file_rules ORDER BY line_number
"""


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class HealthCollector:
    """Collect the report. ``options`` come from checks.normalize_options()."""

    def __init__(self, params, options, now=None, connect=timed_connect, repository_user=None):
        self.params = params
        self.options = options
        # The OS user pgBackRest runs as when this runs as root (the security report): its config's owner.
        self.repository_user = repository_user
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self._connect = connect
        self.db = None

    # -- one place that turns a failed measurement into 'unknown' -----------------
    def _guard(self, name, measure):
        try:
            result = measure()
        except FrendeDbError as exc:
            result = hc.make_check(name, hc.UNKNOWN, None, None, exc.msg)
        except OSError as exc:
            result = hc.make_check(name, hc.UNKNOWN, None, None, "%s could not be read: %s" % (name, exc))
        except Exception as exc:  # psycopg2.Error and its subclasses: report, never crash
            if psycopg2 is None or not isinstance(exc, psycopg2.Error):
                raise
            result = hc.make_check(name, hc.UNKNOWN, None, None,
                                   "Could not measure %s: %s" % (name, _first_line(exc)))
        return result if isinstance(result, list) else [result]

    def collect(self):
        checks = []
        try:
            conn, latency = self._connect(self.params, self.params.get("login_db"))
        except FrendeDbError as exc:
            checks.append(hc.evaluate_connection(None, None, error=exc.msg))
            for name in hc.CHECK_NAMES[1:]:
                checks.append(hc.make_check(name, hc.UNKNOWN, None, None,
                                            "Not checked: no connection to the server."))
            return dict(status=hc.aggregate(checks), checks=checks)
        self.db = Db(conn)
        try:
            with conn.cursor() as cur:
                # A health probe must not hang on a stuck server.
                cur.execute("SET statement_timeout = %s", (STATEMENT_TIMEOUT_MS,))
            version = self.db.query_one("SELECT current_setting('server_version') AS v")["v"]
            checks.append(hc.evaluate_connection(latency, version))
            checks += self._guard("ssl", self.check_ssl)
            checks += self._guard("certificate", self.check_certificate)
            checks += self._guard("data_checksums", self.check_data_checksums)
            checks += self._guard("settings", self.check_settings)
            checks += self._guard("connections", self.check_connections)
            checks += self._guard("long_transactions", self.check_long_transactions)
            checks += self._guard("database_size", self.check_database_size)
            checks += self._guard("hba", self.check_hba)
            checks += self._guard("roles", self.check_roles)
            checks += self._guard("password_age", self.check_password_age)
            checks += self._guard("failed_auth", self.check_failed_auth)
            checks += self._guard("backup_age", self.check_backup_age)
            checks += self._guard("wal_archive", self.check_wal_archive)
            checks += self._guard("repository", self.check_repository)
        finally:
            self.db.close()
        return dict(status=hc.aggregate(checks), checks=checks)

    # -- the checks -------------------------------------------------------------
    def check_ssl(self):
        own = self.db.query_one(_SSL_SQL)
        server = self.db.query_one(_SSL_SETTINGS_SQL)
        return hc.evaluate_ssl(own, server["ssl"], server["min_protocol"],
                               self.options["expected"]["ssl_min_protocol_version"])

    def check_settings(self):
        rows = self.db.query(_SETTINGS_SQL, (list(hc.SETTING_NAMES),))
        return hc.evaluate_settings({r["name"]: r for r in rows}, self.options["expected"])

    def check_connections(self):
        by_state = {r["state"]: r["n"] for r in self.db.query(_ACTIVITY_SQL)}
        max_conn = int(self.db.query_one("SELECT current_setting('max_connections') AS m")["m"])
        return hc.evaluate_connections(sum(by_state.values()), max_conn, by_state,
                                       self.options["connections_warn_pct"], self.options["connections_crit_pct"])

    def check_long_transactions(self):
        return hc.evaluate_long_transactions(self.db.query_one(_OLDEST_XACT_SQL),
                                             self.db.query_one(_IDLE_XACT_SQL), self.options)

    def check_database_size(self):
        database = self.options.get("database") or self.db.query_one("SELECT current_database() AS d")["d"]
        sizes = {r["datname"]: r["bytes"] for r in self.db.query(_SIZES_SQL)}
        return hc.evaluate_database_size(database, sizes)

    def check_hba(self):
        try:
            rows = self.db.query(_HBA_SQL)
        except pg_errors.InsufficientPrivilege:
            role = self.db.query_one("SELECT quote_ident(current_user) AS r")["r"]
            return hba_audit.permission_denied_check(role)
        return hba_audit.evaluate_hba(rows)

    def _setting(self, name):
        try:
            return self.db.query_one("SELECT current_setting(%s, true) AS v", (name,))["v"]
        except pg_errors.InsufficientPrivilege:
            return None

    def server_log_path(self):
        """The configured log, else the logging collector's current file, else Debian's."""
        if self.options.get("server_log"):
            return self.options["server_log"]
        try:
            current = self.db.query_one("SELECT pg_current_logfile() AS f")["f"]
        except pg_errors.InsufficientPrivilege:
            current = None  # pg_current_logfile() is superuser-only by default
        if current:
            if os.path.isabs(current):
                return current
            data_dir = self._setting("data_directory")
            if data_dir:
                return os.path.join(data_dir, current)
        return server_log.debian_log_path(self._setting("cluster_name"),
                                          (self._setting("server_version_num") or "15")[:2])

    def check_failed_auth(self):
        window = self.options["failed_auth_window"]
        threshold = dict(max_count=self.options["failed_auth_warn"], window=format_duration(window))
        language = self._setting("lc_messages")
        if not server_log.reads_language(language):
            # Counting translated messages with English markers would say 0: not knowing is the honest answer.
            return hc.make_check("failed_auth", hc.UNKNOWN, dict(lc_messages=language), threshold,
                                 "The server writes its log in lc_messages = %r, and failed logins are counted from "
                                 "PostgreSQL's English messages only. Set lc_messages = 'C' (the frende_db role does)."
                                 % language)
        path = self.server_log_path()
        since = self.now - datetime.timedelta(seconds=window)
        log_tz = server_log.resolve_timezone(self._setting("log_timezone"))
        try:
            files = server_log.find_log_files(path, since)
            summary = server_log.count_failed_auth(files, since, None, log_tz, recent_since=self.now - datetime.timedelta(
                seconds=BURST_WINDOW_S))
        except (OSError, UnicodeError) as exc:
            return hc.make_check("failed_auth", hc.UNKNOWN, dict(server_log=path), threshold,
                                 "The server log %s is not readable here (%s); set server_log to the log "
                                 "file or directory, or run as a user that may read it." % (path, exc))
        return hc.evaluate_failed_auth(summary, window, self.options["failed_auth_warn"])

    def check_password_age(self):
        path = self.options["password_record"]
        record = None
        if path:
            try:
                with open(path, "r", encoding="utf-8") as handle:
                    record = json.load(handle)
            except FileNotFoundError:
                record = None
            except ValueError as exc:
                return hc.make_check("password_age", hc.UNKNOWN, dict(record=path), None,
                                     "The record %s is not JSON: %s." % (path, exc))
        return hc.evaluate_password_age(record, self.now, self.options["password_max_age"], path)

    def check_roles(self):
        app_role = self.options["app_role"]
        roles = self.db.query(role_audit.ROLES_SQL)
        extra = self.db.query(role_audit.APP_EXTRA_SQL, dict(role=app_role)) if app_role else None
        return role_audit.evaluate_roles(roles, self.options["managed_roles"], app_role, extra)

    def check_data_checksums(self):
        return hc.evaluate_data_checksums(self._setting("data_checksums"))

    def check_certificate(self):
        path = self._setting("ssl_cert_file")
        if not path:
            return hc.evaluate_certificate(None, None, self.now,
                                           error="ssl_cert_file is empty or not visible to this role "
                                                 "(it needs pg_read_all_settings, which pg_monitor has).")
        if not os.path.isabs(path):
            path = os.path.join(self._setting("data_directory") or "", path)
        try:
            not_after = certificate_not_after(path)
        except FrendeDbError as exc:
            return hc.evaluate_certificate(path, None, self.now, error=exc.msg)
        return hc.evaluate_certificate(path, not_after, self.now)

    def check_backup_age(self):
        backup_dir = self.options["backup_dir"]
        try:
            if os.path.exists(backup_dir) and not os.access(backup_dir, os.R_OK | os.X_OK):
                raise PermissionError("permission denied")
            newest = backup_catalog.newest_backup(backup_dir)
        except OSError as exc:
            return hc.make_check("backup_age", hc.UNKNOWN, dict(backup_dir=backup_dir), None,
                                 "The backup directory %s is not readable here: %s." % (backup_dir, exc))
        return hc.evaluate_backup(newest, self.now, self.options["max_backup_age"], backup_dir,
                                  self.options["require_encrypted_backups"])

    def check_wal_archive(self):
        archiver = self.db.query_one(_ARCHIVER_SQL)
        return hc.evaluate_wal_archive(archiver, self.now, self.options["wal_archive_max_age"])

    def check_repository(self):
        stanza = self.options["repository_stanza"]
        if stanza is None:
            return hc.evaluate_repository(None, None, self.now, self.options["repository_max_age"])
        try:
            entry = pgbackrest.info(stanza, timeout=60, user=self.repository_user)
        except FrendeDbError as exc:
            return hc.evaluate_repository(stanza, None, self.now, self.options["repository_max_age"], error=exc.msg)
        backups = pgbackrest.backups(entry)
        code, message = pgbackrest.status(entry)
        if not backups and not pgbackrest.readable(code):  # 2, no valid backup yet: evaluate_repository says so
            return hc.evaluate_repository(stanza, None, self.now, self.options["repository_max_age"],
                                          error="pgbackrest info says stanza %s: %s (code %s)" % (stanza, message, code))
        newest = backups[-1]["stop"] if backups else None
        return hc.evaluate_repository(stanza, newest, self.now, self.options["repository_max_age"])


def certificate_not_after(path):
    """The notAfter of the PEM certificate at ``path``, as openssl reads it (an aware UTC datetime)."""
    try:
        proc = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", path], capture_output=True, text=True,
                              timeout=30, check=False)
    except OSError as exc:
        raise FrendeDbError("The certificate %s could not be read: openssl is not available (%s)." % (path, exc))
    line = proc.stdout.strip()
    if proc.returncode != 0 or not line.startswith("notAfter="):
        raise FrendeDbError("The certificate %s could not be read here: %s" % (
            path, (proc.stderr.strip().splitlines() or ["openssl x509 failed"])[0]))
    moment = datetime.datetime.strptime(" ".join(line[len("notAfter="):].split()), "%b %d %H:%M:%S %Y GMT")
    return moment.replace(tzinfo=datetime.timezone.utc)


def collect(params, options, now=None):
    return HealthCollector(params, options, now=now).collect()


class HealthReport:
    """What the module does: validate options, collect, decide whether the task fails."""

    def __init__(self, params):
        self.params = params
        # Bad options are refused before anything is measured; a bad port is an input error,
        # not an unreachable server.
        validate_connection_params(params)
        self.options = hc.normalize_options(params)
        self.metrics_file = textfile.check_path(params.get("metrics_file"), "metrics_file")
        self.result = None

    def run(self):
        report = HealthCollector(self.params, self.options).collect()
        self.result = dict(changed=False, status=report["status"], checks=report["checks"])
        return self.result

    def record_metrics(self):
        """The report's gauges into metrics_file, as the scheduled check writes them; returns why not, or None."""
        status = self.result["status"]
        found = metric_samples.job_run("health", 1 if status == hc.UNHEALTHY else 0, time.time())
        found += metric_samples.health(self.result["checks"], self.params.get("database") or self.params.get("login_db"))
        return record_metrics(self.metrics_file, found, None, "health")

    @property
    def fails(self):
        return hc.reaches(self.result["status"], self.options["fail_on"])

    def failure_message(self):
        return "PostgreSQL health is %s (fail_on=%s): %s" % (
            self.result["status"], self.options["fail_on"], "; ".join(hc.problems(self.result["checks"])))
