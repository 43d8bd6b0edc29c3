# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One host's part of the security report: read, never write.

Private to frende.db. Used by the module frende_db_report and by ``frende-db-maintenance --action
report``. A database host is read through the health checks (as the monitoring role: catalogs and
pg_monitor's views, no superuser), the server log, the backup directory and pgBackRest's info; every
host through its audit trail and its firewall table. What cannot be read becomes a note and an
``unknown`` check, never a failure of the whole report. Standard library + psycopg2 only.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import stat
import subprocess
import urllib.parse

try:
    import psycopg2
except ImportError:  # reported by _postgres.require_psycopg2() when connecting
    psycopg2 = None

from ansible_collections.frende.db.plugins.module_utils._backup import catalog
from ansible_collections.frende.db.plugins.module_utils._backup.engine import read_verify_state
from ansible_collections.frende.db.plugins.module_utils._backup.drill import REPORT_PREFIX
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._health import server_log
from ansible_collections.frende.db.plugins.module_utils._health.report import HealthCollector
from ansible_collections.frende.db.plugins.module_utils._health.role_audit import BOOTSTRAP
from ansible_collections.frende.db.plugins.module_utils._postgres import Db, connect
from ansible_collections.frende.db.plugins.module_utils._report import history, policy, privileges
from ansible_collections.frende.db.plugins.module_utils._repository import pgbackrest

KINDS = ("database", "backup", "application")
SETTINGS = ("ssl", "ssl_min_protocol_version", "log_timezone", "log_line_prefix", "log_connections",
            "log_disconnections", "log_replication_commands", "log_statement", "shared_preload_libraries",
            "pgaudit.log", "auth_delay.milliseconds", "unix_socket_permissions", "unix_socket_group",
            "data_directory", "max_connections")
_SETTINGS_SQL = "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)"
_UMASK_RE = re.compile(r"^Umask:\s+(\d+)$", re.M)
_DROPPED_RE = re.compile(r'^frende_db_firewall_dropped_packets\{service="([^"]+)"\} (\S+)$', re.M)
_PHYSICAL_DRILL_RE = re.compile(r"^drill-.+-\d{8}T\d{6}Z\.json$")
_LOGICAL_DRILL_RE = re.compile(r"^" + re.escape(REPORT_PREFIX) + r"\d{8}T\d{6}Z\.json$")


def read_lines(path: str, since: datetime.datetime) -> list:
    """The lines of an event log and of its rotated siblings written since ``since`` (none when absent)."""
    try:
        paths = server_log.find_log_files(path, since)
    except FileNotFoundError:
        return []
    lines = []
    for name in paths:
        with server_log.open_log(name) as handle:
            lines.extend(handle)
    return lines


def read_json_files(directory: str, pattern) -> list:
    found = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    for name in names:
        if pattern.match(name):
            try:
                found.append(catalog.read_json(os.path.join(directory, name)))
            except (OSError, ValueError):
                continue  # a drill report being written or damaged is no drill
    return found


def _run(argv, timeout=30):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr.strip()


def encryption_at_rest(path: str) -> dict:
    """Whether ``path`` lies on a dm-crypt device: findmnt names the source, lsblk its stack."""
    try:
        code, out, err = _run(["findmnt", "-n", "-o", "SOURCE", "--target", path])
    except (OSError, subprocess.TimeoutExpired) as exc:
        return dict(encrypted=None, device=None, evidence="findmnt could not be run: %s" % exc)
    source = out.strip().split("[")[0]
    if code != 0 or not source:
        return dict(encrypted=None, device=None, evidence="findmnt found no mount for %s: %s" % (path, err))
    if not source.startswith("/dev/"):
        return dict(encrypted=None, device=source, evidence="%s is on %s, not a block device: whether the storage "
                    "beneath is encrypted cannot be seen from this host" % (path, source))
    try:
        code, out, err = _run(["lsblk", "-n", "-s", "-o", "TYPE", source])
    except (OSError, subprocess.TimeoutExpired) as exc:
        return dict(encrypted=None, device=source, evidence="lsblk could not be run: %s" % exc)
    if code != 0:
        return dict(encrypted=None, device=source, evidence="lsblk could not read %s: %s" % (source, err))
    encrypted = "crypt" in out.split()
    return dict(encrypted=encrypted, device=source, evidence="%s is on %s, %s" % (
        path, source, "a dm-crypt device" if encrypted else "not on a dm-crypt device"))


def server_umask(data_directory: str) -> str | None:
    """The postmaster's umask (its pid from postmaster.pid, the mask from /proc)."""
    try:
        with open(os.path.join(data_directory, "postmaster.pid"), "r", encoding="utf-8") as handle:
            pid = int(handle.readline().strip())
        with open("/proc/%d/status" % pid, "r", encoding="utf-8") as handle:
            match = _UMASK_RE.search(handle.read())
    except (OSError, ValueError):
        return None
    return match.group(1) if match else None


def firewall_state(expected: str, metrics_path: str) -> dict:
    if expected == "none":
        return dict(expected="none")
    # The file is written by libexec/firewall-metrics in one fixed line format, also on hosts without
    # prometheus_client (a monitoring host runs no job that needs it): read those lines as they are written.
    try:
        with open(metrics_path, "r", encoding="utf-8") as handle:
            dropped = {m.group(1): int(float(m.group(2))) for m in _DROPPED_RE.finditer(handle.read())}
    except (OSError, ValueError):
        dropped = None
    try:
        code, _out, err = _run(["nft", "list", "table", "inet", "frende_db"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        return dict(expected=expected, loaded=None, error="nft could not be run: %s" % exc, dropped=dropped)
    if code != 0 and "Operation not permitted" in err:
        return dict(expected=expected, loaded=None, error="nft needs root: %s" % err, dropped=dropped)
    return dict(expected=expected, loaded=code == 0, dropped=dropped)


def application_env(path: str) -> dict:
    """database.env's TLS settings and mode: from DATABASE_URL's query (sslmode, sslrootcert) or PGSSLMODE and
    PGSSLROOTCERT. The URL's user and password part is never kept."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return dict(path=path, exists=False)
    values = {}
    with open(path, "r", encoding="utf-8") as handle:
        for line in handle:
            key, _sep, value = line.strip().partition("=")
            value = value.strip().strip("'\"")
            if key == "DATABASE_URL":
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(value).query)
                values.setdefault("sslmode", (query.get("sslmode") or [None])[0])
                values.setdefault("sslrootcert", (query.get("sslrootcert") or [None])[0])
            elif key in ("PGSSLMODE", "PGSSLROOTCERT"):
                values[key[len("PG"):].lower()] = value
    rootcert = values.get("sslrootcert")
    return dict(path=path, exists=True, mode="%04o" % stat.S_IMODE(info.st_mode), sslmode=values.get("sslmode"),
                rootcert=rootcert, rootcert_exists=bool(rootcert) and os.path.isfile(rootcert))


class HostGatherer:
    """``params``: the module's options (gather.DEFAULTS for the others); ``health_options`` normalized."""

    def __init__(self, params: dict, health_options: dict, now: datetime.datetime | None = None):
        self.params = params
        self.health_options = health_options
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self.since = self.now - datetime.timedelta(days=params["window_days"])
        self.notes = []

    def gather(self) -> dict:
        kinds = self.params["kinds"]
        # Roles belong to a database host, drills to a database or backup host: elsewhere the page leaves them out.
        facts = dict(gathered_at=self.now.isoformat(), window_days=self.params["window_days"], checks=[],
                     roles=[] if "database" in kinds else None, failed_logins=None, backups=None,
                     drills=[] if set(kinds) & {"database", "backup"} else None, audit=None, connections=None,
                     encryption_at_rest=None, notes=self.notes)
        measured = dict(firewall=None)
        operations = history.operations(self._lines(self.params["audit_log"]), self.since)
        facts["audit"] = dict(pgaudit=None, operations=operations, recent=operations.pop("recent"))
        if "database" in kinds:
            measured["database"] = self._database(facts, operations)
        if "backup" in kinds:
            drills = history.drills(read_json_files(self.params["repository_report_dir"], _PHYSICAL_DRILL_RE),
                                    self.since)
            facts["drills"] += drills
            measured["backup"] = dict(drills=drills)
        if "application" in kinds:
            measured["application"] = application_env(self.params["app_env_file"])
        if self.params["firewall"] is not None:
            measured["firewall"] = firewall_state(self.params["firewall"], self.params["firewall_metrics"])
            if facts["failed_logins"] is not None and measured["firewall"].get("dropped") is not None:
                facts["failed_logins"]["firewall_dropped"] = measured["firewall"]["dropped"]
        facts["checks"] = policy.evaluate(measured)
        return facts

    def _lines(self, path):
        try:
            return read_lines(path, self.since)
        except (OSError, UnicodeError) as exc:
            self.notes.append("%s could not be read: %s" % (path, exc))
            return []

    # -- the database host ------------------------------------------------------
    def _database(self, facts, operations):
        collector = HealthCollector(self.params, self.health_options, now=self.now,
                                    repository_user=self._repository_user())
        report = collector.collect()
        health = {c["name"]: c for c in report["checks"]}
        measured = dict(health=health, audit_log_present=operations["total"] > 0 or os.path.exists(
            self.params["audit_log"]))
        try:
            collector.db = Db(connect(self.params, self.params.get("login_db")))
        except FrendeDbError as exc:
            self.notes.append("The server could not be read: %s" % exc.msg)
            collector.db = None
        if collector.db is not None:
            try:
                self._from_server(collector, facts, measured)
            except Exception as exc:  # psycopg2.Error: the report shows what it has
                if psycopg2 is None or not isinstance(exc, psycopg2.Error):
                    raise
                self.notes.append("Reading the server failed: %s" % str(exc).strip().splitlines()[0])
            finally:
                collector.db.close()
        logical = self._logical_backups()
        physical = self._physical_backups()
        drills = history.drills(read_json_files(self.params["backup_dir"], _LOGICAL_DRILL_RE), self.since)
        facts["drills"] += drills
        wal = health.get("wal_archive") or {}
        facts["backups"] = dict(logical=logical, physical=physical,
                                newest_age_s=history.newest_age_s(logical, physical, self.now),
                                wal_archive=dict(status=policy.FROM_HEALTH.get(wal.get("status"), policy.UNKNOWN),
                                                 message=wal.get("message") or "not measured"))
        used = (health.get("connections") or {}).get("value") or {}
        peak = history.connection_peak(self._lines(self.params["health_log"]), self.since)
        if used.get("used") is not None and (peak["peak"] is None or used["used"] > peak["peak"]):
            peak.update(peak=used["used"], peak_at=self.now.isoformat())
        facts["connections"] = dict(current=used.get("used"), max_connections=used.get("max"), **peak)
        measured.update(logical=logical, drills=drills)
        data_directory = measured.get("settings", {}).get("data_directory")
        if data_directory:
            facts["encryption_at_rest"] = measured["encryption_at_rest"] = encryption_at_rest(data_directory)
            measured["umask"] = server_umask(data_directory)
        return measured

    def _from_server(self, collector, facts, measured):
        db = collector.db
        settings = {r["name"]: r["setting"] for r in db.query(_SETTINGS_SQL, (list(SETTINGS),))}
        measured["settings"] = settings
        grant_rows = db.query(privileges.GRANTS_SQL)
        facts["roles"] = privileges.roles_table(db.query(privileges.ROLES_SQL), privileges.summarize_grants(grant_rows),
                                                self.health_options["managed_roles"] + self.params["nologin_roles"]
                                                + [BOOTSTRAP])
        measured["roles"] = facts["roles"]
        measured["public_usage"] = privileges.public_schema_usage(grant_rows)
        log_tz = server_log.resolve_timezone(collector._setting("log_timezone"))
        path = collector.server_log_path()
        try:
            files = server_log.find_log_files(path, self.since)
            failed = server_log.count_failed_auth(files, self.since, None, log_tz)
            audit = server_log.count_audit(files, self.since, log_tz)
        except (OSError, UnicodeError) as exc:
            self.notes.append("The server log %s could not be read: %s" % (path, exc))
            return
        facts["failed_logins"] = dict(window_days=self.params["window_days"], total=failed["count"],
                                      by_day=failed["by_day"], by_client=failed["by_client"], firewall_dropped=None)
        recent = [dict(time=e["time"], source="pgaudit", text=" ".join(
            part for part in (e["klass"], e["command"], e["object"]) if part)) for e in audit["recent"]]
        facts["audit"]["pgaudit"] = dict(total=audit["total"], by_class=audit["by_class"], by_day=audit["by_day"])
        merged = sorted(recent + facts["audit"]["recent"], key=lambda e: e["time"], reverse=True)
        facts["audit"]["recent"] = merged[:20]

    def _logical_backups(self):
        directory = self.params["backup_dir"]
        try:
            entries = catalog.list_backups(directory, self.params.get("database"))
        except OSError as exc:
            self.notes.append("The backup directory %s could not be read: %s" % (directory, exc))
            return []
        states = {e["name"]: read_verify_state(directory, e["name"]) for e in entries}
        return history.logical_backups(entries, states, self.since)

    def _physical_backups(self):
        stanza = self.params.get("repository_stanza")
        if not stanza:
            return []
        # This read is the report's, not a job: it leaves nothing in pgBackRest's log.
        environ = dict(os.environ, PGBACKREST_LOG_LEVEL_FILE="off")
        try:
            entry = pgbackrest.info(stanza, environ=environ, timeout=60, user=self._repository_user())
        except FrendeDbError as exc:
            self.notes.append("pgBackRest's repository could not be read: %s" % exc.msg)
            return []
        code, message = pgbackrest.status(entry)
        if not pgbackrest.readable(code):
            self.notes.append("pgBackRest's repository says stanza %s: %s (code %s)" % (stanza, message, code))
        return history.physical_backups(pgbackrest.backups(entry), self.since)

    def _repository_user(self):
        """As root, pgBackRest runs as the owner of its config (pgbackrest_user), as its jobs do."""
        return self.params.get("pgbackrest_user") if os.geteuid() == 0 else None


def to_json(facts: dict) -> str:
    return json.dumps(facts, indent=2, sort_keys=True, default=str)
