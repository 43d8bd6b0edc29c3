# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``frende-db-repository``: the backup host's jobs, for cron, systemd and a person at 3 a.m.

Private to frende.db; standard library only; bin/frende-db calls ``main(argv)``.
Actions: backup (pgBackRest full/diff/incr, then verify), verify, expire (the
retention, on the backup host only), info, seal-wal (moves WAL from the ingest
directory into the repository; ``--watch N`` repeats every N seconds), drill
(the physical restore drill, _repository/drill.py), copy-sets (pulls the
database host's new logical sets, _repository/logical_copy.py, then applies
their retention here). Started as root, every action but seal-wal becomes the
repository's OS user first.
Exit status: 0 success, 1 failure, 2 usage error, 3 a drill that ran but missed
a target, 143 terminated.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import time

from ansible_collections.frende.db.plugins.module_utils import _command as command
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._metrics import samples as metric_samples
from ansible_collections.frende.db.plugins.module_utils._metrics import textfile
from ansible_collections.frende.db.plugins.module_utils._metrics.record import record as record_metrics
from ansible_collections.frende.db.plugins.module_utils._postgres import validate_identifier
from ansible_collections.frende.db.plugins.module_utils._backup import engine as backup_engine
from ansible_collections.frende.db.plugins.module_utils._repository import drill, jobs, logical_copy, pgbackrest
from ansible_collections.frende.db.plugins.module_utils._units import parse_duration

PROG = "frende-db-repository"
ACTIONS = ("backup", "verify", "expire", "info", "seal-wal", "drill", "copy-sets")
EXIT_MISSED = 3
DEFAULT_LOG_FILE = "/var/log/frende/backup.log"
DEFAULT_COPY_CONFIG = "/etc/pgbackrest/frende-db-copy.conf"
# pgBackRest's stanza names: letters, digits, '-', '_' and '.'.
_STANZA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class Terminated(BaseException):
    """SIGTERM/SIGINT."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Physical backups in the pgBackRest repository on the backup host: backup (then "
                               "verify), verify, expire, info, and seal-wal (WAL from the database hosts into the "
                               "repository, never replacing what is there), drill, and copy-sets (the "
                               "database host's new logical sets to this host).",
        epilog="Exit status: 0 success, 1 failure, 2 usage error, 143 terminated.")
    parser.add_argument("--action", required=True, choices=ACTIONS)
    parser.add_argument("--stanza", help="the stanza (the database's name, frende_db_name)")
    parser.add_argument("--type", dest="kind", default="diff", choices=jobs.BACKUP_TYPES,
                        help="backup: full, diff (default) or incr")
    parser.add_argument("--log-file", default=DEFAULT_LOG_FILE, help="event log (default %s)" % DEFAULT_LOG_FILE)
    parser.add_argument("--owner", default="pgbackrest", help="OS user owning the repository (default pgbackrest)")
    parser.add_argument("--repo-path", default="/var/lib/pgbackrest", help="seal-wal: the repository")
    parser.add_argument("--ingest-path", default="/var/lib/pgbackrest-ingest",
                        help="seal-wal: where the database hosts' WAL arrives")
    parser.add_argument("--ingest-owner", default="pgbackrest-ingest",
                        help="seal-wal: OS user of the WAL ingest server (default pgbackrest-ingest)")
    parser.add_argument("--watch", default="0", metavar="SECONDS",
                        help="seal-wal: repeat every SECONDS (default 0: once)")
    parser.add_argument("--database", help="drill: the database to check (default: the stanza's name)")
    parser.add_argument("--pg-version", default=None,
                        help="drill: PostgreSQL major version (default: the newest backup's, from the repository)")
    parser.add_argument("--rto-target", default="30min", help="drill: longest acceptable restore (default 30min)")
    parser.add_argument("--rpo-target", default="5min", help="drill: oldest acceptable last commit (default 5min)")
    parser.add_argument("--scratch-dir", default="/var/lib/pgbackrest-drill",
                        help="drill: where the scratch copy is restored (removed afterwards)")
    parser.add_argument("--report-dir", default="/var/lib/frende-db/drills", help="drill: where reports go")
    parser.add_argument("--copy-config", default=DEFAULT_COPY_CONFIG,
                        help="copy-sets: pgBackRest config with one section per stanza that reaches its database "
                             "host (default %s)" % DEFAULT_COPY_CONFIG)
    parser.add_argument("--to-dir", help="copy-sets: where this host keeps the copies, "
                                         "/var/backups/frende/hosts/<database host>")
    parser.add_argument("--retention-days", default="30", help="copy-sets: copies older than this go (default 30)")
    parser.add_argument("--keep-min", default="7",
                        help="copy-sets: the newest copies kept whatever their age (default 7)")
    parser.add_argument("--metrics-file", default=textfile.DEFAULT_PATH,
                        help="node_exporter textfile for the job's gauges, or none (default %s, written only where "
                             "its directory exists)" % textfile.DEFAULT_PATH)
    parser.add_argument("--json", action="store_true", help="print one JSON result document")
    return parser


def _check(args):
    # First: a run refused for any other reason still reports to the metrics (checked, or the default).
    args.metrics_path = textfile.check_path(args.metrics_file, "--metrics-file")
    if args.action != "seal-wal" and not args.stanza:
        raise FrendeDbError("--stanza is required for --action %s: give the database's name (frende_db_name)."
                            % args.action)
    if args.stanza is not None and not _STANZA.match(args.stanza):
        raise FrendeDbError("--stanza %r is not a stanza name: use letters, digits, '_', '-' or '.', at most "
                            "63 characters." % args.stanza)
    if args.action == "copy-sets" and not args.to_dir:
        raise FrendeDbError("--to-dir is required for --action copy-sets: give the directory of this database "
                            "host's copies, /var/backups/frende/hosts/<inventory name>.")
    for flag, value in (("--repo-path", args.repo_path), ("--ingest-path", args.ingest_path),
                        ("--log-file", args.log_file), ("--scratch-dir", args.scratch_dir),
                        ("--report-dir", args.report_dir), ("--copy-config", args.copy_config),
                        ("--to-dir", args.to_dir)):
        if value is not None:
            command.to_path(value, flag, absolute=True)
    args.retention_days = command.to_int(args.retention_days, "--retention-days", 1, 36500)
    args.keep_min = command.to_int(args.keep_min, "--keep-min", 1, 10000)
    if args.database is not None:
        validate_identifier(args.database, "--database")
    if args.pg_version is not None:
        args.pg_version = str(command.to_int(args.pg_version, "--pg-version", 10, 99))
    for flag, value in (("--rto-target", args.rto_target), ("--rpo-target", args.rpo_target)):
        if parse_duration(value, flag) <= 0:
            raise FrendeDbError("%s must be longer than zero, got %r." % (flag, value))
    return command.to_number(args.watch, "--watch", minimum=0, maximum=3600)


def _ids(name, what):
    try:
        return command.os_user_ids(name)
    except KeyError:
        raise FrendeDbError("The OS user %r (%s) does not exist on this host; run the setup playbook with this "
                            "host in the group frende_backup." % (name, what))


def _seal(args, log, watch):
    repo_ids = _ids(args.owner, "--owner")
    ingest_ids = _ids(args.ingest_owner, "--ingest-owner")
    while True:
        result = jobs.seal(args.ingest_path, args.repo_path, log, repo_ids, ingest_ids)
        if result["sealed"]:
            record_metrics(args.metrics_path, [("frende_db_wal_last_sealed_timestamp_seconds", {}, time.time())],
                           log, "seal-wal")
        if not watch:
            result["msg"] = "%d WAL file(s) sealed, %d refused" % (len(result["sealed"]), len(result["refused"]))
            return result
        time.sleep(watch)


def _copy_sets(args, log):
    database = args.database or args.stanza
    failure = None
    try:
        result = logical_copy.copy_sets(args.stanza, args.to_dir, log, config=args.copy_config, database=database)
    except FrendeDbError as exc:
        failure = exc
    # The copies' retention runs here after every pull, whatever the database host keeps, says or does.
    cleanup = backup_engine.run_action(dict(
        action="cleanup", backup_dir=args.to_dir, database=database, retention_days=args.retention_days,
        keep_min=args.keep_min, owner=args.owner, log_file=args.log_file), tool=PROG)
    if failure is not None:
        raise failure
    result["removed"] = cleanup["removed"]
    result["msg"] += "; " + cleanup["msg"]
    return result


def run_action(args, log, watch):
    if args.action == "seal-wal":
        return _seal(args, log, watch)
    if args.action == "copy-sets":
        return _copy_sets(args, log)
    if args.action == "backup":
        return jobs.backup(args.stanza, args.kind, log)
    if args.action == "verify":
        return jobs.verify(args.stanza, log)
    if args.action == "expire":
        return jobs.expire(args.stanza, log)
    if args.action == "drill":
        report = drill.run_drill(args.stanza, args.database or args.stanza, args.pg_version, args.scratch_dir,
                                 args.report_dir, log, parse_duration(args.rto_target, "--rto-target"),
                                 parse_duration(args.rpo_target, "--rpo-target"))
        rpo = "%ss" % report["rpo_s"] if report["rpo_s"] is not None else "not measured (no commit replayed)"
        report["msg"] = ("physical drill %s: RTO %ss, RPO %s%s" % (
            "passed" if report["ok"] else "FAILED", report["rto_s"], rpo,
            "" if report["ok"] else " (%s)" % "; ".join(
                ([report["error"]] if report.get("error") else []) + report["missed"] + report["problems"])))
        return report
    entry = pgbackrest.info(args.stanza)
    code, message = pgbackrest.status(entry)
    return dict(status=code, status_message=message, backups=pgbackrest.backups(entry),
                archive=dict(zip(("min", "max"), pgbackrest.archive_range(entry))),
                msg="stanza %s: %s" % (args.stanza, message))


# The jobs the metrics know (seal-wal reports its own gauge; info changes nothing).
METRIC_JOBS = ("backup", "verify", "expire", "drill", "copy-sets")


def job_samples(args, result, code, now):
    """The gauges of one run of a repository job (``result`` None: it failed before it had one)."""
    job = {"backup": "backup_" + args.kind, "copy-sets": "copy"}.get(args.action, args.action)
    found = metric_samples.job_run(job, code, now)
    result = result or {}
    if args.action == "backup" and result.get("stop") is not None:
        found += metric_samples.backup_taken(args.stanza, args.kind, result["stop"], result.get("repo_size") or 0,
                                             result["duration_s"], verified=result.get("verified"))
    elif args.action == "verify":
        found += metric_samples.backup_verified(args.stanza, "repository", code == 0)
    elif args.action == "drill" and result.get("rto_target_s") is not None:
        found += metric_samples.drill_done(result.get("database") or args.stanza, "physical", result.get("rto_s"),
                                           result.get("rpo_s"), result["rto_target_s"], result["rpo_target_s"],
                                           bool(result.get("ok")), now)
    return found


def _record(args, result, code, log=None):
    if args.action in METRIC_JOBS:
        path = getattr(args, "metrics_path", textfile.DEFAULT_PATH)
        record_metrics(path, job_samples(args, result, code, time.time()), log, args.action)


def _on_signal(signum, _frame):
    raise Terminated("terminated by %s" % signal.Signals(signum).name)


def main(argv, out=None, err=None, run_as_owner=False):
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    owner = args.owner
    try:
        watch = _check(args)
        if run_as_owner and args.action != "seal-wal":
            command.run_as(owner)  # pgBackRest's files belong to the repository's user
            owner = None
        ids = _ids(owner, "--owner") if owner else None
        log = command.EventLog(args.log_file, PROG, enabled=args.action != "info", owner_ids=ids)
        log.open_check()
        result = run_action(args, log, watch)
    except Terminated as exc:
        err.write("%s: %s\n" % (PROG, exc))
        return 143
    except FrendeDbError as exc:
        command.log_failure(args.log_file, PROG, args.action, exc, enabled=args.action != "info",
                            owner=args.owner, stanza=args.stanza)
        _record(args, None, 1)
        if args.json:
            out.write(json.dumps(dict(failed=True, msg=str(exc), action=args.action), indent=2) + "\n")
        err.write("%s: %s\n" % (PROG, exc))
        return 1
    result["action"] = args.action
    if args.action == "drill" and not result.get("ok"):
        code = 1 if result.get("error") else EXIT_MISSED
        _record(args, result, code, log)
        (out if args.json else err).write((json.dumps(result, indent=2, sort_keys=True, default=str)
                                           if args.json else "%s: %s" % (PROG, result["msg"])) + "\n")
        return code
    _record(args, result, 0, log)
    out.write((json.dumps(result, indent=2, sort_keys=True, default=str) if args.json else result.get("msg", ""))
              + "\n")
    return 0
