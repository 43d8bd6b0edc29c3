# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""frende-db-maintenance: the weekly maintenance job of the security document.

Private to frende.db; bin/frende-db calls ``main(argv)``. Standard library +
psycopg2 only.

Settings come from, highest first: the command line, the config file (INI,
section [maintenance], keys are the long option names with '-' -> '_'), the
libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE,
PGSSLROOTCERT, PGCONNECT_TIMEOUT), then the built-in defaults (_command.py,
as for frende-db-backup). The password never comes from here: libpq reads
~/.pgpass or PGPASSWORD itself. Events go to the log in _command's one line
format; WARNING and ERROR lines also to stderr.

Exit status: 0 success, 1 an action failed (or health is unhealthy), 2 bad
usage or configuration (nothing was done).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from ansible_collections.frende.db.plugins.module_utils import _command as command
from ansible_collections.frende.db.plugins.module_utils._health import checks as hc
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._maintenance.maintenance import Maintenance
from ansible_collections.frende.db.plugins.module_utils._metrics import samples as metric_samples
from ansible_collections.frende.db.plugins.module_utils._metrics import textfile
from ansible_collections.frende.db.plugins.module_utils._metrics.record import record as record_metrics
from ansible_collections.frende.db.plugins.module_utils._metrics.record import record_refused
from ansible_collections.frende.db.plugins.module_utils._postgres import SSL_MODES, validate_identifier

PROG = "frende-db-maintenance"
DEFAULT_CONFIG = "/etc/frende/db/maintenance.conf"
SECTION = "maintenance"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ACTION_CHOICES = ("all", "vacuum", "reindex", "functions", "health", "report")
ACTION_ORDER = ("vacuum", "reindex", "functions", "health", "report")

# key -> (default, help). Every key is a config file key and a --long-option.
KEYS = {
    "database": (None, "application database (default: PGDATABASE)"),
    "log_file": ("/var/log/frende/maintenance.log", "event log, one line per event"),
    "login_unix_socket": (None, "directory of the server's Unix socket (default: libpq's, PGHOST)"),
    "login_host": (None, "server host name (default: PGHOST, else the Unix socket)"),
    "login_port": (None, "server port (default: PGPORT, else 5432)"),
    "login_user": (None, "role to connect as (default: PGUSER, else postgres)"),
    "ssl_mode": (None, "libpq sslmode (default: PGSSLMODE, else prefer)"),
    "ssl_rootcert": (None, "CA certificate for verify-ca/verify-full (default: PGSSLROOTCERT)"),
    "connect_timeout": (None, "seconds to wait for the server (default: PGCONNECT_TIMEOUT, else 10)"),
    "reindex_bloat_threshold_pct": ("30", "rebuild btree indexes with more estimated bloat than this percentage"),
    "reindex_min_size_mb": ("10", "leave indexes smaller than this many MB alone"),
    "monitor_role": ("pg_monitor", "role granted EXECUTE on the monitoring functions"),
    "monitor_access": ("off", "also let monitor_role connect to the database and read pg_hba_file_rules"),
    "expected_max_connections": (str(hc.EXPECTED_DEFAULTS["max_connections"]), "policy: max_connections"),
    "expected_authentication_timeout": (hc.EXPECTED_DEFAULTS["authentication_timeout"],
                                        "policy: authentication_timeout"),
    "expected_log_connections": ("on", "policy: log_connections"),
    "expected_log_disconnections": ("on", "policy: log_disconnections"),
    "expected_password_encryption": (hc.EXPECTED_DEFAULTS["password_encryption"], "policy: password_encryption"),
    "expected_ssl_min_protocol_version": (hc.EXPECTED_DEFAULTS["ssl_min_protocol_version"],
                                          "policy: lowest ssl_min_protocol_version"),
    "connections_warn_pct": (str(hc.DEFAULTS["connections_warn_pct"]), "connections degraded above this %"),
    "connections_crit_pct": (str(hc.DEFAULTS["connections_crit_pct"]), "connections unhealthy above this %"),
    "long_transaction_warn": (hc.DEFAULTS["long_transaction_warn"], "oldest transaction: degraded above"),
    "long_transaction_crit": (hc.DEFAULTS["long_transaction_crit"], "oldest transaction: unhealthy above"),
    "idle_in_transaction_warn": (hc.DEFAULTS["idle_in_transaction_warn"], "idle in transaction: degraded above"),
    "idle_in_transaction_crit": (hc.DEFAULTS["idle_in_transaction_crit"], "idle in transaction: unhealthy above"),
    "server_log": (None, "PostgreSQL log file or directory (default: auto-detect)"),
    "failed_auth_window": (hc.DEFAULTS["failed_auth_window"], "count failed logins this far back"),
    "failed_auth_warn": (str(hc.DEFAULTS["failed_auth_warn"]), "failed logins above this count are degraded"),
    "backup_dir": (hc.DEFAULTS["backup_dir"], "directory of the backup sets"),
    "max_backup_age": (hc.DEFAULTS["max_backup_age"], "newest backup older than this is degraded"),
    "wal_archive_max_age": (hc.DEFAULTS["wal_archive_max_age"], "last archived WAL older than this is degraded"),
    "repository_stanza": (None, "pgBackRest stanza on the backup host (default: none; repository is unknown)"),
    "repository_max_age": (hc.DEFAULTS["repository_max_age"], "newest repository backup older than this is degraded"),
    "password_record": (None, "health check password_age: the record of when the application password was set"),
    "password_max_age": (hc.DEFAULTS["password_max_age"], "health check password_age: degraded when older"),
    "require_encrypted_backups": ("off", "health check backup_age: a newest set that is not encrypted is degraded"),
    "app_role": (None, "health check roles: the application role, whose privileges must be exactly its preset"),
    "managed_roles": (None, "health check roles: the login roles frende.db manages (comma-separated); others found"),
    "report_dir": ("/var/lib/frende-db/reports", "report: where this host's part of the security report goes "
                                                 "(JSON, one file per run), or none"),
    "audit_log": ("/var/log/frende/audit.log", "report: the collection's audit trail"),
    "health_log": ("/var/log/frende/health.log", "report: the scheduled health check's log (connection peak)"),
    "report_nologin_roles": (None, "report: roles without LOGIN that frende.db manages (comma-separated)"),
    "owner": ("postgres", "OS user the command runs as when started as root (the database's, as under cron)"),
    "metrics_file": (textfile.DEFAULT_PATH, "node_exporter textfile for the job's gauges, or none (written only "
                                            "where its directory exists)"),
}
DEFAULT_LOG_FILE = KEYS["log_file"][0]


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Weekly maintenance of the Frende PostgreSQL database: VACUUM (ANALYZE), REINDEX "
                    "CONCURRENTLY of bloated btree indexes, (re)creation of the monitoring functions, and a "
                    "health check against the security policy. The password comes from ~/.pgpass or PGPASSWORD.",
        epilog="Exit status: 0 success, 1 an action failed or health is unhealthy, 2 bad usage or configuration.")
    parser.add_argument("--config", help="INI file with a [maintenance] section (default: %s)" % DEFAULT_CONFIG)
    parser.add_argument("--action", required=True, choices=ACTION_CHOICES,
                        help="what to do; 'all' runs vacuum, reindex, functions, health, report")
    parser.add_argument("--check", action="store_true", help="report what would be done, change nothing")
    parser.add_argument("--json", action="store_true", help="print one JSON result document on stdout")
    for key, (default, text) in KEYS.items():
        shown = "%s%s" % (text, " (default: %s)" % default if default is not None else "")
        parser.add_argument(command.flag_name(key), dest=key, metavar=key.upper(),
                            help=shown.replace("%", "%%"))  # argparse formats help text with %
    return parser


def merged_settings(values, environ):
    """{key: Setting} from the parsed command line ``values``: defaults < PG* < config file < flags."""
    config_path = values.get("config") or DEFAULT_CONFIG
    return command.merge(
        command.defaults(dict((key, spec[0]) for key, spec in KEYS.items())),
        command.environment(environ, database_key="database"),
        command.read_config(config_path, SECTION, KEYS, values.get("config") is not None, PROG),
        command.flags(dict((key, values.get(key)) for key in KEYS)))


def validate(merged):
    """Typed settings from the merged ones; a bad value raises FrendeDbError naming its flag or file key."""
    setting = dict((key, merged.get(key) or command.Setting(None, "default", key)) for key in KEYS)
    value = dict((key, s.value) for key, s in setting.items())
    where = dict((key, s.where) for key, s in setting.items())
    settings = {}
    if value["database"] is None:
        raise FrendeDbError("no database given: set database in the config file, --database, or PGDATABASE.")
    settings["database"] = validate_identifier(value["database"], "database (%s)" % where["database"])
    settings["monitor_role"] = validate_identifier(value["monitor_role"], "monitor_role (%s)" % where["monitor_role"])
    settings["monitor_access"] = command.to_bool(value["monitor_access"], where["monitor_access"])

    def checked(key, check, *args):
        """A key nobody set stays None (a connection option: libpq then uses its own default)."""
        return None if value[key] is None else check(value[key], where[key], *args)

    for key in ("log_file", "login_unix_socket", "ssl_rootcert"):
        settings[key] = checked(key, command.to_path)
    settings["owner"] = command.to_os_user(value["owner"], "owner (%s)" % where["owner"])
    settings["report_dir"] = (None if str(value["report_dir"]).lower() == "none"
                              else checked("report_dir", command.to_path, True))
    for key in ("audit_log", "health_log"):
        settings[key] = checked(key, command.to_path, True)
    settings["report_nologin_roles"] = [
        validate_identifier(name.strip(), "report_nologin_roles (%s)" % where["report_nologin_roles"])
        for name in (value["report_nologin_roles"] or "").split(",") if name.strip()]
    settings["metrics_file"] = textfile.check_path(value["metrics_file"], "metrics_file (%s)" % where["metrics_file"])
    settings["login_host"] = value["login_host"] or None
    settings["login_user"] = value["login_user"] or None
    settings["login_port"] = checked("login_port", command.to_int, 1, 65535)
    settings["connect_timeout"] = checked("connect_timeout", command.to_int, 1)
    settings["ssl_mode"] = checked("ssl_mode", command.to_choice, SSL_MODES)
    settings["reindex_bloat_threshold_pct"] = checked("reindex_bloat_threshold_pct", command.to_number, 0, 100)
    settings["reindex_min_size_mb"] = checked("reindex_min_size_mb", command.to_number, 0)
    health_raw = dict((k, value[k]) for k in KEYS if k in hc.DEFAULTS)
    health_raw["database"] = settings["database"]
    health_raw["expected"] = dict((k[len("expected_"):], value[k]) for k in KEYS if k.startswith("expected_"))
    for key in ("server_log", "backup_dir", "password_record"):
        health_raw[key] = checked(key, command.to_path)
    try:
        settings["health"] = hc.normalize_options(health_raw)
    except FrendeDbError as exc:
        raise FrendeDbError("%s (config keys and options: %s)" % (exc.msg, _health_sources(setting)))
    return settings


def _health_sources(setting):
    given = sorted("%s from %s" % (k, s.where) for k, s in setting.items()
                   if s.origin != "default" and (k in hc.DEFAULTS or k.startswith("expected_")))
    return ", ".join(given) if given else "all defaults"


def _log_owner_ids(owner):
    try:
        return command.os_user_ids(owner)
    except KeyError:  # no such user here: nobody else to hand the log to
        return None


def metrics_job(actions):
    """The job the metrics name a run after: health on its own (the 5-minute check), else maintenance."""
    return "health" if list(actions) == ["health"] else "maintenance"


def _log_usage_error(values, exc, check_mode):
    """A configuration the command refuses is a failure too: one ERROR line where the log would be."""
    path = command.log_path_hint(values.get("log_file"), values.get("config") or DEFAULT_CONFIG, SECTION,
                                 DEFAULT_LOG_FILE)
    command.log_failure(path, PROG, values.get("action") or "-", str(exc), enabled=not check_mode,
                        owner=values.get("owner") or KEYS["owner"][0], exit=EXIT_USAGE)
    if not check_mode and values.get("action"):
        record_refused(values.get("metrics_file"), values.get("config") or DEFAULT_CONFIG, SECTION,
                       metrics_job([values["action"]]), EXIT_USAGE)


def main(argv=None, run_as_owner=False):
    """The command; ``run_as_owner`` (bin/frende-db): started as root, become ``owner`` first."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error (or --help)
        if exc.code in (0, None):
            return EXIT_OK
        return EXIT_USAGE
    try:
        settings = validate(merged_settings(vars(args), os.environ))
        if run_as_owner:
            # Started as root (sudo -i at 3 a.m.): become the database's OS user, as pg_ctlcluster does.
            command.run_as(settings["owner"])
        log = command.EventLog(settings["log_file"], PROG, owner_ids=_log_owner_ids(settings["owner"]),
                               echo=sys.stderr)
        log.open_check()
    except FrendeDbError as exc:
        _log_usage_error(vars(args), exc, args.check)
        sys.stderr.write("%s: %s\n" % (PROG, exc))
        if args.json:
            sys.stdout.write(json.dumps(dict(changed=False, failed=True, msg=str(exc), exit_code=EXIT_USAGE)) + "\n")
        return EXIT_USAGE
    actions = list(ACTION_ORDER) if args.action == "all" else [args.action]
    log.info(args.action, "start", database=settings["database"], check_mode=args.check)
    try:
        results = Maintenance(settings, log, check_mode=args.check).run(actions)
    except FrendeDbError as exc:
        log.error(args.action, "failed", msg=exc.msg)
        results = {a: dict(changed=False, failed=True, msg=exc.msg) for a in actions}
    failed = [a for a in actions if results[a].get("failed")]
    changed = any(results[a].get("changed") for a in actions)
    code = EXIT_FAILED if failed else EXIT_OK
    msg = ("failed: %s" % ", ".join(failed)) if failed else "done"
    # "finish", not "done": with one action, that action's own events are in the log too.
    log.write("ERROR" if failed else "INFO", args.action, "finish", failed=",".join(failed) or None,
              changed=changed, exit=code)
    if not args.check:
        found = metric_samples.job_run(metrics_job(actions), code, time.time())
        if results.get("health", {}).get("checks"):
            found += metric_samples.health(results["health"]["checks"], settings["database"])
        record_metrics(settings["metrics_file"], found, log, args.action)
    document = dict(command=PROG, action=args.action, actions=actions, database=settings["database"],
                    check_mode=args.check,
                    changed=changed, failed=bool(failed), exit_code=code, msg=msg, log_file=settings["log_file"],
                    results=results)
    if args.json:
        sys.stdout.write(json.dumps(document, default=str, sort_keys=True) + "\n")
    else:
        for action in actions:
            sys.stdout.write("%s: %s\n" % (action, results[action].get("msg", "")))
    return code
