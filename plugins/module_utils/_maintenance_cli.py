# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""frende-db-maintenance: the weekly maintenance job of the security document.

Private to frende.db; bin/frende-db calls ``main(argv)``. Standard library +
psycopg2 only.

Settings come from, highest first: the command line, the config file (INI,
section [maintenance], keys are the long option names with '-' -> '_'), the
libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE,
PGSSLROOTCERT, PGCONNECT_TIMEOUT), then the built-in defaults. The password
never comes from here: libpq reads ~/.pgpass or PGPASSWORD itself.

Exit status: 0 success, 1 an action failed (or health is unhealthy), 2 bad
usage or configuration (nothing was done).
"""

from __future__ import annotations

import argparse
import configparser
import datetime
import json
import math
import os
import sys

from ansible_collections.frende.db.plugins.module_utils import _health_checks as hc
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._maintenance import Maintenance
from ansible_collections.frende.db.plugins.module_utils._postgres import SSL_MODES, validate_identifier

PROG = "frende-db-maintenance"
DEFAULT_CONFIG = "/etc/frende/db/maintenance.conf"
SECTION = "maintenance"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ACTION_CHOICES = ("all", "vacuum", "reindex", "functions", "health")
ACTION_ORDER = ("vacuum", "reindex", "functions", "health")

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
}
# libpq's environment, used when neither the command line nor the file sets the key.
ENVIRONMENT = {
    "database": "PGDATABASE",
    "login_port": "PGPORT",
    "login_user": "PGUSER",
    "ssl_mode": "PGSSLMODE",
    "ssl_rootcert": "PGSSLROOTCERT",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}
SECRET_KEYS = ("password", "login_password", "pgpassword")


class UsageError(Exception):
    """Bad command line or configuration: exit 2, nothing done."""


def option_name(key):
    return "--" + key.replace("_", "-")


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Weekly maintenance of the Frende PostgreSQL database: VACUUM (ANALYZE), REINDEX "
                    "CONCURRENTLY of bloated btree indexes, (re)creation of the monitoring functions, and a "
                    "health check against the security policy. The password comes from ~/.pgpass or PGPASSWORD.",
        epilog="Exit status: 0 success, 1 an action failed or health is unhealthy, 2 bad usage or configuration.")
    parser.add_argument("--config", help="INI file with a [maintenance] section (default: %s)" % DEFAULT_CONFIG)
    parser.add_argument("--action", required=True, choices=ACTION_CHOICES,
                        help="what to do; 'all' runs vacuum, reindex, functions, health")
    parser.add_argument("--check", action="store_true", help="report what would be done, change nothing")
    parser.add_argument("--json", action="store_true", help="print one JSON result document on stdout")
    for key, (default, text) in KEYS.items():
        shown = "%s%s" % (text, " (default: %s)" % default if default is not None else "")
        parser.add_argument(option_name(key), dest=key, metavar=key.upper(),
                            help=shown.replace("%", "%%"))  # argparse formats help text with %
    return parser


def read_config(path, explicit):
    """Settings from the INI file: {key: (value, source)}."""
    if not os.path.exists(path):
        if explicit:
            raise UsageError("config file %s does not exist (given with --config)." % path)
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, "r", encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeError) as exc:
        raise UsageError("cannot read config file %s: %s" % (path, exc))
    except configparser.Error as exc:
        raise UsageError("config file %s is not valid INI: %s" % (path, str(exc).splitlines()[0]))
    if not parser.has_section(SECTION):
        raise UsageError("config file %s has no [%s] section." % (path, SECTION))
    values = {}
    for raw_key, value in parser.items(SECTION):
        key = raw_key.strip().replace("-", "_")
        if key in SECRET_KEYS:
            raise UsageError("config file %s sets %r: passwords are never read from the config file; "
                             "use ~/.pgpass (mode 0600) or PGPASSWORD." % (path, raw_key))
        if key not in KEYS:
            raise UsageError("config file %s: unknown key %r in [%s]; known keys: %s."
                             % (path, raw_key, SECTION, ", ".join(sorted(KEYS))))
        values[key] = (value.strip(), "%s [%s] %s" % (path, SECTION, key))
    return values


def merge(cli, config, environ):
    """{key: (value, source)}: command line over config file over libpq environment over defaults."""
    merged = {}
    for key, spec in KEYS.items():
        default = spec[0]
        if cli.get(key) is not None:
            merged[key] = (cli[key], option_name(key))
        elif key in config:
            merged[key] = config[key]
        elif key in ENVIRONMENT and environ.get(ENVIRONMENT[key]):
            merged[key] = (environ[ENVIRONMENT[key]], ENVIRONMENT[key])
        elif key in ("login_host", "login_unix_socket") and environ.get("PGHOST"):
            host = environ["PGHOST"]
            # libpq treats a PGHOST that starts with '/' as a socket directory.
            if (key == "login_unix_socket") == host.startswith("/"):
                merged[key] = (host, "PGHOST")
            else:
                merged[key] = (None, "default")
        else:
            merged[key] = (default, "default")
    return merged


def _number(value, source, kind, minimum=None, maximum=None):
    try:
        number = kind(str(value).strip())
    except ValueError:
        raise UsageError("%s must be a %s, got %r." % (source, "whole number" if kind is int else "number", value))
    if kind is float and math.isnan(number):
        raise UsageError("%s must be a number, got %r." % (source, value))
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        if maximum is None:
            raise UsageError("%s must be at least %s, got %s." % (source, minimum, value))
        raise UsageError("%s must be between %s and %s, got %s." % (source, minimum, maximum, value))
    return number


def _path(value, source):
    if value is None:
        return None
    if value.strip() == "" or "\x00" in value:
        raise UsageError("%s must be a file system path, got %r." % (source, value))
    return value


def validate(merged):
    """Typed settings from the merged strings; raises UsageError naming the option or file key."""
    value = {k: pair[0] for k, pair in merged.items()}
    source = {k: pair[1] for k, pair in merged.items()}
    settings = {}
    try:
        settings["database"] = validate_identifier(value["database"], "database (%s)" % source["database"]) \
            if value["database"] is not None else None
        settings["monitor_role"] = validate_identifier(value["monitor_role"], "monitor_role (%s)"
                                                       % source["monitor_role"])
    except FrendeDbError as exc:
        raise UsageError(exc.msg)
    if settings["database"] is None:
        raise UsageError("no database given: set database in the config file, --database, or PGDATABASE.")
    settings["log_file"] = _path(value["log_file"], source["log_file"])
    settings["login_host"] = value["login_host"] or None
    settings["login_unix_socket"] = _path(value["login_unix_socket"], source["login_unix_socket"])
    if settings["login_host"] and settings["login_unix_socket"] and \
            source["login_host"] != "PGHOST" and source["login_unix_socket"] != "PGHOST":
        raise UsageError("login_host and login_unix_socket are mutually exclusive (%s, %s)."
                         % (source["login_host"], source["login_unix_socket"]))
    settings["login_user"] = value["login_user"] or None
    settings["login_port"] = _number(value["login_port"], source["login_port"], int, 1, 65535) \
        if value["login_port"] is not None else None
    settings["connect_timeout"] = _number(value["connect_timeout"], source["connect_timeout"], int, 1) \
        if value["connect_timeout"] is not None else None
    if value["ssl_mode"] is not None and value["ssl_mode"] not in SSL_MODES:
        raise UsageError("%s must be one of %s, got %r." % (source["ssl_mode"], ", ".join(SSL_MODES),
                                                            value["ssl_mode"]))
    settings["ssl_mode"] = value["ssl_mode"]
    settings["ssl_rootcert"] = _path(value["ssl_rootcert"], source["ssl_rootcert"])
    settings["reindex_bloat_threshold_pct"] = _number(value["reindex_bloat_threshold_pct"],
                                                      source["reindex_bloat_threshold_pct"], float, 0, 100)
    settings["reindex_min_size_mb"] = _number(value["reindex_min_size_mb"], source["reindex_min_size_mb"],
                                              float, 0)
    health_raw = {k: value[k] for k in KEYS if k in hc.DEFAULTS or k == "server_log"}
    health_raw["database"] = settings["database"]
    health_raw["expected"] = {k[len("expected_"):]: value[k] for k in KEYS if k.startswith("expected_")}
    health_raw["server_log"] = _path(value["server_log"], source["server_log"])
    health_raw["backup_dir"] = _path(value["backup_dir"], source["backup_dir"])
    try:
        settings["health"] = hc.normalize_options(health_raw)
    except FrendeDbError as exc:
        raise UsageError("%s (config keys and options: %s)" % (exc.msg, _health_sources(source)))
    return settings


def _health_sources(source):
    given = sorted("%s from %s" % (k, s) for k, s in source.items()
                   if s != "default" and (k in hc.DEFAULTS or k.startswith("expected_")))
    return ", ".join(given) if given else "all defaults"


class EventLog:
    """One line per event in the log file; warnings and errors also on stderr."""

    def __init__(self, path, echo=True):
        self.path = path
        self.echo = echo
        self.lines = []
        directory = os.path.dirname(path)
        try:
            if directory and not os.path.isdir(directory):
                os.makedirs(directory, mode=0o750, exist_ok=True)
            self.handle = open(path, "a", encoding="utf-8")
        except OSError as exc:
            raise UsageError("cannot write the log file %s: %s. Set log_file in the config file or --log-file."
                             % (path, exc))

    def __call__(self, level, action, message):
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = "%s %s[%d] %s %s: %s" % (stamp, PROG, os.getpid(), level, action, " ".join(str(message).split()))
        self.lines.append(line)
        self.handle.write(line + "\n")
        self.handle.flush()
        if self.echo and level in ("WARNING", "ERROR"):
            sys.stderr.write(line + "\n")

    def close(self):
        self.handle.close()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error (or --help)
        if exc.code in (0, None):
            return EXIT_OK
        return EXIT_USAGE
    try:
        config_path = args.config or DEFAULT_CONFIG
        config = read_config(config_path, explicit=args.config is not None)
        settings = validate(merge(vars(args), config, os.environ))
        log = EventLog(settings["log_file"])
    except UsageError as exc:
        sys.stderr.write("%s: %s\n" % (PROG, exc))
        if args.json:
            sys.stdout.write(json.dumps(dict(changed=False, failed=True, msg=str(exc), exit_code=EXIT_USAGE)) + "\n")
        return EXIT_USAGE
    actions = list(ACTION_ORDER) if args.action == "all" else [args.action]
    mode = " (check mode)" if args.check else ""
    log("INFO", "start", "action=%s database=%s%s" % (args.action, settings["database"], mode))
    try:
        results = Maintenance(settings, log, check_mode=args.check).run(actions)
    except FrendeDbError as exc:
        log("ERROR", args.action, exc.msg)
        results = {a: dict(changed=False, failed=True, msg=exc.msg) for a in actions}
    failed = [a for a in actions if results[a].get("failed")]
    changed = any(results[a].get("changed") for a in actions)
    code = EXIT_FAILED if failed else EXIT_OK
    msg = ("failed: %s" % ", ".join(failed)) if failed else "done"
    log("ERROR" if failed else "INFO", "finish", "action=%s %s, exit %d" % (args.action, msg, code))
    log.close()
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
