# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The physical restore drill on the backup host: the newest backup plus WAL, restored and checked.

Private to frende.db; standard library only (psql and pg_ctl do the talking).
The drill restores into a scratch directory with the local repository, starts
a throwaway server on a private socket with archiving off (it must never push
WAL back into the repository), waits for the end of WAL replay, checks the
indexes with amcheck and the row counts of the largest tables against the
statistics the backup carries, measures the achieved RTO and RPO, writes a JSON
report, and removes the scratch copy whatever happened.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import time

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._repository import pgbackrest

PG_BIN = "/usr/lib/postgresql/%s/bin"
# Row counts of the largest tables may differ this much from the planner's estimate (reltuples).
ROW_COUNT_TOLERANCE = 0.2
LARGEST_TABLES = 5

_TABLES_SQL = """
SELECT n.nspname || '.' || c.relname, c.reltuples::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY c.relpages DESC, 1 LIMIT {limit}
"""
_INDEXES_SQL = """
SELECT count(*) FROM (
  SELECT bt_index_check(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE a.amname = 'btree' AND c.relpersistence <> 't' AND i.indisvalid AND n.nspname <> 'pg_toast') checked
"""


def row_count_problems(counts):
    """``counts``: [(table, estimate, actual)]; the tables whose rows stray beyond the tolerance of their estimate.

    A negative estimate (never analyzed) cannot be compared and is left out.
    """
    problems = []
    for table, estimate, actual in counts:
        if estimate is None or estimate < 0:
            continue
        allowed = max(1000, ROW_COUNT_TOLERANCE * estimate)
        if abs(actual - estimate) > allowed:
            problems.append("%s has %d rows, its statistics say about %d" % (table, actual, estimate))
    return problems


def verdict(rto_s, rpo_s, rto_target, rpo_target, problems):
    missed = []
    if rto_s > rto_target:
        missed.append("RTO %.0fs is over the target %.0fs" % (rto_s, rto_target))
    if rpo_s is not None and rpo_s > rpo_target:
        missed.append("RPO %.0fs is over the target %.0fs" % (rpo_s, rpo_target))
    return dict(ok=not missed and not problems, missed=missed, problems=list(problems))


class ScratchServer:
    """A throwaway PostgreSQL on a restored data directory: private socket, no TCP, no archiving."""

    def __init__(self, data_dir, version, port=54329):
        self.data = data_dir
        self.version = version
        self.bin = PG_BIN % version
        self.port = port
        self.socket_dir = os.path.join(data_dir, ".drill-socket")

    def check_programs(self, stanza):
        """The drill runs the backup's own PostgreSQL version; say so when this host lacks it."""
        if not os.path.isfile(os.path.join(self.bin, "postgres")):
            raise FrendeDbError(
                "The newest backup of stanza %s is of PostgreSQL %s, whose programs (%s) this backup host does not "
                "have; nothing was restored. Install postgresql-%s here, or drill on a backup host whose Debian "
                "release ships it (Debian 12: PostgreSQL 15, Debian 13: 17)."
                % (stanza, self.version, self.bin, self.version))

    def configure(self):
        os.mkdir(self.socket_dir, 0o700)
        # Debian keeps postgresql.conf and pg_hba.conf in /etc: the backup has neither.
        with open(os.path.join(self.data, "postgresql.conf"), "w", encoding="utf-8") as conf:
            conf.write("listen_addresses = ''\nport = %d\nunix_socket_directories = '%s'\narchive_mode = off\n"
                       "hba_file = '%s/pg_hba.conf'\nident_file = '%s/pg_ident.conf'\nmax_connections = 200\n"
                       "logging_collector = off\n" % (self.port, self.socket_dir, self.data, self.data))
        with open(os.path.join(self.data, "pg_hba.conf"), "w", encoding="utf-8") as hba:
            hba.write("local all all trust\n")  # the socket's directory is this user's alone (0700)
        open(os.path.join(self.data, "pg_ident.conf"), "w", encoding="utf-8").close()

    def start(self):
        log = os.path.join(self.data, "drill-server.log")
        proc = subprocess.run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", log, "-w", "-t", "120",
                               "start"], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise FrendeDbError("The restored copy did not start: %s" % self.log_tail(log))

    def log_tail(self, log=None):
        try:
            with open(log or os.path.join(self.data, "drill-server.log"), encoding="utf-8", errors="replace") as h:
                lines = h.read().splitlines()
        except OSError:
            return "no server log"
        return " | ".join(line for line in lines[-8:] if any(w in line for w in ("FATAL", "ERROR", "PANIC", "LOG")))

    def psql(self, sql, database="postgres"):
        proc = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                               "-h", self.socket_dir, "-p", str(self.port), "-U", "postgres", "-d", database,
                               "-F", "\t", "-c", sql], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise FrendeDbError("The check %r on the restored copy failed: %s"
                                % (sql.split()[0], proc.stderr.strip()))
        return [line.split("\t") for line in proc.stdout.splitlines() if line]

    def wait_promoted(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.psql("SELECT pg_is_in_recovery()") == [["f"]]:
                    return
            except FrendeDbError:
                if subprocess.run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "status"],
                                  capture_output=True, check=False).returncode != 0:
                    raise FrendeDbError("The restored copy stopped during WAL replay: %s" % self.log_tail())
            time.sleep(1)
        raise FrendeDbError("WAL replay did not finish within %ds." % timeout)

    def stop(self):
        subprocess.run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"],
                       capture_output=True, check=False)


def run_drill(stanza, database, version, scratch_root, report_dir, log, rto_target, rpo_target, now=None):
    """The drill; returns its report (also written to ``report_dir``). FrendeDbError when it could not run."""
    started_at = now or datetime.datetime.now(datetime.timezone.utc)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    scratch = os.path.join(scratch_root, "%s-%s" % (stanza, stamp))
    report = dict(kind="physical", stanza=stanza, database=database, started_at=started_at.isoformat(),
                  rto_target_s=rto_target, rpo_target_s=rpo_target, rto_s=None, rpo_s=None, target_time=None, ok=False)
    log.info("drill", "started", stanza=stanza, scratch=scratch)
    server = None
    clock = time.monotonic()
    try:
        entry = pgbackrest.info(stanza)
        backups = pgbackrest.backups(entry)
        if not backups:
            raise FrendeDbError("The repository holds no backup of stanza %s to drill with." % stanza)
        report["backup"] = backups[-1]["label"]
        version = version or pgbackrest.db_version(entry, backups[-1].get("db_id"))
        if not version:
            raise FrendeDbError("pgbackrest info names no PostgreSQL version for stanza %s; give --pg-version." % stanza)
        report["pg_version"] = version
        server = ScratchServer(scratch, version)
        server.check_programs(stanza)
        os.makedirs(scratch_root, mode=0o750, exist_ok=True)
        os.mkdir(scratch, 0o700)
        # --reset-pg1-host: restore here, from the local repository, not onto the database host.
        pgbackrest.run(["--reset-pg1-host", "--pg1-path=" + scratch, "--archive-mode=off", "restore"], stanza)
        server.configure()
        server.start()
        server.wait_promoted(timeout=max(60, int(rto_target * 2)))
        report["rto_s"] = round(time.monotonic() - clock, 1)
        where = server.psql("SELECT timeline_id, redo_wal_file FROM pg_control_checkpoint()")
        report["timeline"], report["end_wal"] = int(where[0][0]), where[0][1]
        replayed = server.psql("SELECT extract(epoch FROM pg_last_xact_replay_timestamp())")
        last_commit = float(replayed[0][0]) if replayed and replayed[0][0] else None
        if last_commit is not None:
            report["target_time"] = datetime.datetime.fromtimestamp(last_commit, datetime.timezone.utc).isoformat()
            report["rpo_s"] = round(max(0.0, started_at.timestamp() - last_commit), 1)
        server.psql("CREATE EXTENSION IF NOT EXISTS amcheck", database)
        report["indexes_checked"] = int(server.psql(_INDEXES_SQL, database)[0][0])
        counts = []
        for table, estimate in server.psql(_TABLES_SQL.format(limit=LARGEST_TABLES), database):
            actual = int(server.psql('SELECT count(*) FROM %s' % ".".join(
                '"%s"' % part.replace('"', '""') for part in table.split(".", 1)), database)[0][0])
            counts.append((table, int(estimate), actual))
        report["tables"] = [dict(table=t, estimate=e, rows=a) for t, e, a in counts]
        report.update(verdict(report["rto_s"], report["rpo_s"], rto_target, rpo_target, row_count_problems(counts)))
    except FrendeDbError as exc:
        report["error"] = exc.msg
        report.setdefault("missed", [])
        report.setdefault("problems", [])
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    report["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    os.makedirs(report_dir, mode=0o750, exist_ok=True)
    path = os.path.join(report_dir, "drill-%s-%s.json" % (stanza, stamp))
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)
    report["report_file"] = path
    fields = dict(stanza=stanza, backup=report.get("backup"), rto_s=report["rto_s"], rpo_s=report["rpo_s"],
                  ok=report["ok"], report=path)
    if report.get("error"):
        log.error("drill", "failed", msg=report["error"], **fields)
    elif report["ok"]:
        log.info("drill", "passed", msg="physical drill on target", **fields)
    else:
        log.warning("drill", "missed", msg="; ".join(report["missed"] + report["problems"]), **fields)
    return report
