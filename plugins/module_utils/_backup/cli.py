# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``frende-db-backup``: the backup engine as a command for cron and for a person at 3 a.m.

Private to frende.db; stdlib + psycopg2 only. Settings come from, in rising
priority: built-in defaults, libpq's PG* environment, the INI file
(/etc/frende/db/backup.conf, section [backup], keys = the module's option
names), and command-line flags. The password is never an option: libpq reads
it from PGPASSWORD or ~/.pgpass. Exit status: 0 success, 1 failure, 2 usage
error, 3 a drill that ran but missed its RTO/RPO target, 143 terminated.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from ansible_collections.frende.db.plugins.module_utils import _command as command
from ansible_collections.frende.db.plugins.module_utils._backup.engine import (
    METRIC_JOBS, exit_code, log_failure, run_action)
from ansible_collections.frende.db.plugins.module_utils._backup.options import (
    ACTIONS, DEFAULT_CONFIG, DEFAULT_LOG_FILE, OPTIONS)
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError, was_logged
from ansible_collections.frende.db.plugins.module_utils._metrics.record import record_refused, was_recorded
from ansible_collections.frende.db.plugins.module_utils._postgres import SSL_MODES

PROG = "frende-db-backup"
SECTION = "backup"
CONNECTION_TYPES = dict(login_host="str", login_port="int", login_user="str", login_unix_socket="path",
                        login_db="str", ssl_mode="str", ssl_rootcert="path", connect_timeout="int")
CONNECTION_DEFAULTS = dict(login_port=5432, login_user="postgres", ssl_mode="prefer", connect_timeout=10)


class Terminated(BaseException):
    """SIGTERM/SIGINT: unwinds like an error so partial files are removed."""


def option_types():
    types = dict((key, spec["type"]) for key, spec in OPTIONS.items() if key != "action")
    types.update(CONNECTION_TYPES)
    return types


def choices_of(key):
    return SSL_MODES if key == "ssl_mode" else OPTIONS.get(key, {}).get("choices")


def convert(key, setting):
    """A setting's text -> the option's type; the error names the flag, variable or file key."""
    value, where = setting.value, setting.where
    kind = option_types()[key]
    if choices_of(key):
        return command.to_choice(value, where, choices_of(key))
    if kind == "int":
        return command.to_int(value, where)
    if kind == "bool":
        return command.to_bool(value, where)
    text = value.strip() if isinstance(value, str) else value
    if kind == "path":
        return command.to_path(os.path.expanduser(text), where)
    return text  # str, and list: the engine splits recipients on whitespace or commas


def settings(flags, config_path, explicit, environ):
    """The engine's params: defaults < PG* environment < config file < flags (None in ``flags``: not given).

    Options left unset get the engine's defaults (_backup/options.normalize).
    """
    merged = command.merge(
        command.defaults(CONNECTION_DEFAULTS),
        command.environment(environ, database_key="login_db"),
        command.read_config(config_path, SECTION, option_types(), explicit, PROG),
        command.flags(flags))
    return dict((key, convert(key, setting)) for key, setting in merged.items())


HELP = dict(
    database="database to back up; for list/cleanup/drill/latest: only its backups; for restore: the live "
             "database to replace (default: the one in the backup)",
    backup_dir="directory of the backups (default /var/backups/frende/database)",
    backup_file="restore/verify this backup: a file in backup_dir, a set name, or 'latest'",
    target_database="restore into this new database instead of replacing the live one",
    retention_days="cleanup: remove backups older than this (default 30)",
    keep_min="cleanup: always keep this many newest verified backups (default 3)",
    compression="zstd (default) or gzip",
    compression_level="zstd 1-19 (default 4), gzip 1-9 (default 6)",
    encrypt_recipients="public age recipients (age1...), separated by spaces or commas",
    encrypt_recipients_file="file of age recipients (age -R)",
    identity_file="private age identity for restore, verify and drill of encrypted backups",
    log_file="event log (default /var/log/frende/backup.log)",
    jobs="parallel restore jobs (default: CPU count)",
    rto_target="drill: longest acceptable restore time (default 30min)",
    rpo_target="drill: oldest acceptable data (default 24h)",
    owner="OS user the command becomes when started as root, owner of every file it writes (default postgres)",
    lock_timeout="how long to wait for another run's lock, e.g. 10min (default 0s)",
    globals="restore: apply the backup's roles: auto (if missing, default), always, never",
    work_dir="restore scratch space for the decompressed dump (default: backup_dir)",
    metrics_file="node_exporter textfile that gets this job's gauges, or none (default "
                 "/var/lib/prometheus/node-exporter/frende_db.prom, written only where that directory exists)",
    login_host="server host (default: PGHOST or the local socket)",
    login_port="server port (default: PGPORT or 5432)",
    login_user="role to connect as (default: PGUSER or postgres)",
    login_unix_socket="directory of the server socket, e.g. /var/run/postgresql",
    login_db="maintenance database (default postgres)",
    ssl_mode="libpq sslmode (default: PGSSLMODE or prefer)",
    ssl_rootcert="CA file for verify-ca/verify-full",
    connect_timeout="seconds to wait for a connection (default 10)",
)


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Back up, list, verify, restore, clean up and drill the Frende PostgreSQL database. "
                               "The password comes from PGPASSWORD or ~/.pgpass only.",
        epilog="Settings: defaults < PG* environment < --config file ([backup], keys = option names) < flags. "
               "Exit status: 0 success, 1 failure, 2 usage error, 3 drill ran but missed its RTO/RPO target, "
               "143 terminated.")
    parser.add_argument("--action", required=True, choices=ACTIONS)
    parser.add_argument("--config", help="INI file with a [backup] section (default %s)" % DEFAULT_CONFIG)
    parser.add_argument("--json", action="store_true", help="print one JSON result document")
    parser.add_argument("--check", action="store_true", help="change nothing; say what would happen")
    for key in option_types():
        flag = "--" + key.replace("_", "-")
        if key == "deep":
            parser.add_argument(flag, dest=key, action="store_true", default=None,
                                help="verify by restoring into a scratch database")
        elif key == "keep_previous":
            parser.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction, default=None,
                                help="keep the replaced database as <db>_pre_restore_<time> (default yes)")
        else:
            choices = OPTIONS.get(key, {}).get("choices")
            parser.add_argument(flag, dest=key, default=None, choices=choices, help=HELP.get(key),
                                metavar="{%s}" % ",".join(choices) if choices else key.upper())
    return parser


def print_human(result, out):
    action = result.get("action")
    if action == "list":
        backups = result.get("backups") or []
        if not backups:
            out.write("No backups.\n")
            return
        out.write("%-40s %-20s %-7s %10s %-9s %s\n" % ("NAME", "FINISHED (UTC)", "AGE", "SIZE", "ENCRYPTED", "VERIFIED"))
        for b in backups:
            verified = b["verified"]["state"]
            if verified != "never":
                verified += " (%s, %s)" % (b["verified"].get("level"), (b["verified"].get("at") or "")[:19])
            out.write("%-40s %-20s %-7s %10s %-9s %s\n" % (
                b["name"] + (" [legacy]" if b["format"] != "custom" else ""), b["finished_at"][:19].replace("T", " "),
                b["age"], human_size(b["size"]), "yes" if b["encrypted"] else "no", verified))
        return
    out.write(result.get("msg", "") + "\n")
    for check in (result.get("verification") or {}).get("checks") or []:
        out.write("  %-10s %s  %s\n" % (check["check"], "ok" if check["ok"] else "FAILED", check["detail"]))
    for name in result.get("removed") or []:
        out.write("  removed %s\n" % name)
    report = result.get("report")
    if isinstance(report, dict) and "achieved_rto_s" in report:
        out.write("  achieved RTO %ss (target %s), achieved RPO %ss (target %s)\n" % (
            report.get("achieved_rto_s"), report.get("rto_target"), report.get("achieved_rpo_s"),
            report.get("rpo_target")))


def human_size(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024.0
    return str(size)


def _on_signal(signum, _frame):
    raise Terminated("terminated by %s" % signal.Signals(signum).name)


def main(argv, environ=None, out=None, err=None, run_as_owner=False):
    """The command; ``run_as_owner`` (bin/frende-db): started as root, become ``owner`` first."""
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    flags = dict((key, getattr(args, key)) for key in option_types())
    config = args.config or DEFAULT_CONFIG
    try:
        params = settings(flags, config, args.config is not None, environ)
        params["action"] = args.action
        # Started as root (sudo -i at 3 a.m.): become the database's OS user first, as pg_ctlcluster does.
        if run_as_owner:
            command.run_as(params.get("owner") or OPTIONS["owner"]["default"])
        result = run_action(params, check_mode=args.check, tool=PROG)
    except Terminated as exc:
        err.write("%s: %s; partial files removed.\n" % (PROG, exc))
        return 143
    except FrendeDbError as exc:
        if not was_logged(exc):
            log_failure(command.log_path_hint(flags.get("log_file"), config, SECTION, DEFAULT_LOG_FILE), PROG,
                        args.action, exc, enabled=not args.check, owner=flags.get("owner") or OPTIONS["owner"]["default"])
        code = exit_code(args.action, exc)
        if not was_recorded(exc) and not args.check and args.action in METRIC_JOBS:
            # Refused before the job began (a broken backup.conf): the alert must still hear of it.
            record_refused(flags.get("metrics_file"), config, SECTION, args.action, code)
        details = dict(exc.details)
        if args.json:
            out.write(json.dumps(dict(dict(details, failed=True, msg=str(exc), action=args.action)),
                                 indent=2, sort_keys=True, default=str) + "\n")
        err.write("%s: %s\n" % (PROG, exc))
        return code
    result["action"] = args.action
    if args.json:
        out.write(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    else:
        print_human(result, out)
    return 0
