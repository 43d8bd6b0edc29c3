# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: recovery from pgBackRest (backup + WAL replay) against the logical restores, and the achieved RPO.

Not a test. One throw-away PostgreSQL 15 server archives its WAL with pgBackRest
into an encrypted (aes-256-cbc), zstd-compressed repository in the scratch
directory, as the backup host's does; the Frende-like dataset of
bench/backup_restore.py is generated in it. Side by side, in one run, on the
same server and the same data, each repeated --reps times (medians):

  backup    pgbackrest backup --type=full  vs  pg_dump | gzip (the security document's baseline)
  recovery  pgbackrest restore into a new, empty data directory, start, replay the WAL written after the
            backup, promote (what recover.yml does on a new host, without the network)
            vs  gunzip -c | psql into a new database (baseline)
            vs  frende-db-backup --action restore (today's logical restore, with its verification)
  RPO       a writer commits a row every 0.5 s; the server is stopped with -m immediate (the host is gone,
            its unarchived WAL with it); the recovery from the repository alone is compared with the
            moment of the loss: newest commit recovered vs the last commit before the loss.

Usage (from the repository root): .venv/bin/python bench/pitr.py --size-mb 1024 --reps 3
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from backup_restore import COMMAND, generate, median, run_measured, settle, write_results  # noqa: E402
from tests.support.pgserver import PG_BINDIR, PgServer, free_port  # noqa: E402

STANZA = "bench"
ARCHIVE_TIMEOUT_S = 60
TARGETS = dict(recovery_vs_baseline_restore=0.3, rpo_s=ARCHIVE_TIMEOUT_S + 30)


def as_postgres():
    entry = pwd.getpwnam("postgres")
    return dict(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[]) if os.geteuid() == 0 else {}


def chown(path):
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


def pgbackrest_config(work, server):
    for name in ("repo", "log", "lock", "spool"):
        (work / name).mkdir(exist_ok=True)
        chown(work / name)
    conf = work / "pgbackrest.conf"
    conf.write_text(
        "[global]\nrepo1-path=%s\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=%s\ncompress-type=zst\n"
        "process-max=%d\nstart-fast=y\narchive-async=y\nspool-path=%s\nlog-path=%s\nlock-path=%s\n"
        "log-level-console=warn\nlog-level-file=off\n\n[%s]\npg1-path=%s\npg1-port=%d\npg1-socket-path=%s\n"
        % (work / "repo", secrets.token_urlsafe(32), os.cpu_count() or 2, work / "spool", work / "log",
           work / "lock", STANZA, server.data, server.port, server.sockdir))
    conf.chmod(0o600)
    chown(conf)
    return conf


def pgbackrest(conf, env, *args):
    """pgBackRest as postgres (the repository and the archive belong to the server's OS user)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return prefix + ["pgbackrest", "--config=%s" % conf, "--stanza=" + STANZA] + list(args)


def start_archiving(server, conf):
    with open(server.data / "postgresql.conf", "a") as handle:
        handle.write("archive_mode = on\narchive_command = 'pgbackrest --config=%s --stanza=%s archive-push %%p'\n"
                     "archive_timeout = %ds\n" % (conf, STANZA, ARCHIVE_TIMEOUT_S))
    server._run("pg_ctl", "-D", str(server.data), "-l", str(server.log), "-w", "-t", "120", "restart")


def recover_copy(conf, env, target, port):
    """pgBackRest restore into ``target`` (new, empty), start it, wait for the end of replay; returns seconds."""
    start = time.monotonic()
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(mode=0o700)
    chown(target)
    subprocess.run(pgbackrest(conf, env, "--pg1-path=%s" % target, "--archive-mode=off", "restore"), env=env,
                   check=True, capture_output=True)
    subprocess.run([str(PG_BINDIR / "pg_ctl"), "-D", str(target), "-l", str(target / "server.log"), "-w", "-t",
                    "3600", "-o", "-p %d -c archive_mode=off" % port, "start"], env=env, check=True,
                   capture_output=True, **as_postgres())
    while True:
        state = subprocess.run([str(PG_BINDIR / "psql"), "-X", "-A", "-t", "-h", env["PGSOCKDIR"], "-p", str(port),
                                "-d", "postgres", "-c", "SELECT pg_is_in_recovery()"], env=env,
                               capture_output=True, text=True, check=False)
        if state.stdout.strip() == "f":
            return time.monotonic() - start
        time.sleep(0.2)


def stop_copy(target):
    subprocess.run([str(PG_BINDIR / "pg_ctl"), "-D", str(target), "-m", "fast", "-w", "stop"],
                   capture_output=True, check=False, **as_postgres())
    shutil.rmtree(target, ignore_errors=True)


def post_backup_writes(server, dbname):
    """WAL to replay on recovery: 5 % of the messages rewritten after the backup."""
    server.sql("UPDATE messages SET body = body || '.' WHERE id % 20 = 0", dbname=dbname)
    server.sql("SELECT pg_switch_wal()")


def measure_rpo(server, conf, env, dbname, work, port):
    server.sql("CREATE TABLE IF NOT EXISTS rpo_probe (at timestamptz NOT NULL DEFAULT clock_timestamp())",
               dbname=dbname)
    stop = threading.Event()
    last = {}

    def writer():
        conn = server.connect(dbname)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("INSERT INTO rpo_probe DEFAULT VALUES RETURNING extract(epoch FROM at)")
                last["at"] = float(cur.fetchone()[0])
                time.sleep(0.5)
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(ARCHIVE_TIMEOUT_S * 1.5 + 15)
    # The loss: the server stops as a host that loses power does; only the repository is left.
    server._run("pg_ctl", "-D", str(server.data), "-m", "immediate", "stop", check=False)
    lost_at = time.time()
    stop.set()
    thread.join(timeout=10)
    target = work / "rpo-copy"
    rto = recover_copy(conf, env, target, port)
    newest = subprocess.run([str(PG_BINDIR / "psql"), "-X", "-A", "-t", "-h", env["PGSOCKDIR"], "-p", str(port),
                             "-d", dbname, "-c", "SELECT extract(epoch FROM max(at)) FROM rpo_probe"], env=env,
                            capture_output=True, text=True, check=True).stdout.strip()
    stop_copy(target)
    return dict(lost_at=lost_at, last_commit_before_loss=last.get("at"), newest_recovered=float(newest),
                rpo_s=round(lost_at - float(newest), 1), rpo_vs_last_commit_s=round(last["at"] - float(newest), 1),
                recovery_s=round(rto, 1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="approximate database size (default 1024)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement (default 3)")
    parser.add_argument("--workdir", help="scratch directory (default: a new temporary one)")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="frende-pitr-"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    server = PgServer(work / "pg").start()
    env = dict(server.env(), PGSOCKDIR=str(server.sockdir))
    conf = pgbackrest_config(work, server)
    port = free_port()
    dbname = "frende_pitr"
    results = dict(started_at=datetime.datetime.now(datetime.timezone.utc).isoformat(), size_mb=args.size_mb,
                   reps=args.reps, cpus=os.cpu_count(), archive_timeout_s=ARCHIVE_TIMEOUT_S, runs=[])
    try:
        start_archiving(server, conf)
        subprocess.run(pgbackrest(conf, env, "stanza-create"), env=env, check=True, capture_output=True)
        print("generating a ~%d MiB database ..." % args.size_mb, flush=True)
        results["database"] = generate(server, dbname, args.size_mb)
        ours = work / "ours"
        ours.mkdir()
        chown(ours)
        common = ["--backup-dir", str(ours / "backups"), "--log-file", str(ours / "backup.log"), "--json"]
        for rep in range(args.reps):
            run = dict(rep=rep + 1)
            plain = work / "baseline.sql.gz"
            settle(server)
            run["baseline_backup_s"] = run_measured("set -o pipefail; pg_dump -d %s | gzip > %s" % (dbname, plain),
                                                    env, shell=True)[0]
            run["baseline_size"] = plain.stat().st_size
            settle(server)
            run["pgbackrest_backup_s"] = run_measured(pgbackrest(conf, env, "--type=full", "backup"), env)[0]
            info = json.loads(subprocess.run(pgbackrest(conf, env, "--output=json", "info"), env=env, check=True,
                                             capture_output=True, text=True).stdout)
            run["pgbackrest_repo_size"] = info[0]["backup"][-1]["info"]["repository"]["delta"]
            settle(server)
            out = run_measured(COMMAND + ["--action", "backup", "--database", dbname] + common, env)[2]
            manifest = json.loads(out)["backup"]
            post_backup_writes(server, dbname)
            time.sleep(5)  # the async push of the last segment
            settle(server)
            run["pgbackrest_recovery_s"] = recover_copy(conf, env, work / "copy", port)
            stop_copy(work / "copy")
            target = "%s_baseline" % dbname
            settle(server)
            run["baseline_restore_s"] = run_measured(
                "set -o pipefail; createdb %s && gunzip -c %s | psql -X -q -v ON_ERROR_STOP=1 -d %s > /dev/null"
                % (target, plain, target), env, shell=True)[0]
            server.sql("DROP DATABASE %s" % target)
            settle(server)
            s, _rss, out = run_measured(COMMAND + ["--action", "restore", "--backup-file", manifest["name"],
                                                   "--database", dbname] + common, env)
            run["frende_restore_s"] = s
            server.sql('DROP DATABASE "%s"' % json.loads(out)["restore"]["previous_database"])
            for entry in (ours / "backups").iterdir():
                if not entry.name.startswith("."):
                    entry.unlink()
            plain.unlink()
            results["runs"].append(run)
            print("rep %d: %s" % (rep + 1, json.dumps(dict((k, round(v, 2) if isinstance(v, float) else v)
                                                           for k, v in run.items()))), flush=True)
        print("RPO: writing a row every 0.5 s for %d s, then the loss ..." % (ARCHIVE_TIMEOUT_S * 1.5 + 15), flush=True)
        results["rpo"] = measure_rpo(server, conf, env, dbname, work, port)
    finally:
        server.destroy()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    runs = results["runs"]
    s = dict((k, median([r[k] for r in runs])) for k in runs[0] if k != "rep")
    s["recovery_vs_baseline_restore"] = s["pgbackrest_recovery_s"] / s["baseline_restore_s"]
    s["recovery_vs_frende_restore"] = s["pgbackrest_recovery_s"] / s["frende_restore_s"]
    s["backup_vs_baseline"] = s["pgbackrest_backup_s"] / s["baseline_backup_s"]
    results["summary"] = s
    results["targets"] = dict(
        recovery_vs_baseline_restore=dict(target=TARGETS["recovery_vs_baseline_restore"],
                                          met=s["recovery_vs_baseline_restore"] <= TARGETS["recovery_vs_baseline_restore"]),
        rpo_s=dict(target=TARGETS["rpo_s"], met=results["rpo"]["rpo_s"] <= TARGETS["rpo_s"]))
    print()
    print("%d CPUs, %.0f MiB database, median of %d runs; ratios against numbers measured in the same run"
          % (results["cpus"], results["database"]["bytes"] / 2 ** 20, len(runs)))
    print()
    print("| measurement | baseline | frende-db-backup (logical) | pgBackRest | ratio to baseline |")
    print("|---|---|---|---|---|")
    print("| backup | pg_dump \\| gzip %.1f s, %.0f MiB | | full %.1f s, %.0f MiB in the repository | %.2f |" % (
        s["baseline_backup_s"], s["baseline_size"] / 2 ** 20, s["pgbackrest_backup_s"],
        s["pgbackrest_repo_size"] / 2 ** 20, s["backup_vs_baseline"]))
    print("| recovery of the whole database | gunzip -c \\| psql %.1f s | restore %.1f s | restore + WAL replay "
          "+ promote %.1f s | %.2f (%.2f of the logical restore) |" % (
              s["baseline_restore_s"], s["frende_restore_s"], s["pgbackrest_recovery_s"],
              s["recovery_vs_baseline_restore"], s["recovery_vs_frende_restore"]))
    r = results["rpo"]
    print()
    print("RPO (archive_timeout %ds): newest commit recovered %.1f s before the loss (%.1f s before the last "
          "commit made); recovery took %.1f s"
          % (ARCHIVE_TIMEOUT_S, r["rpo_s"], r["rpo_vs_last_commit_s"], r["recovery_s"]))
    print("targets: recovery <= %.1fx baseline restore: %s; RPO <= %ds: %s" % (
        TARGETS["recovery_vs_baseline_restore"], "met" if results["targets"]["recovery_vs_baseline_restore"]["met"]
        else "MISSED", TARGETS["rpo_s"], "met" if results["targets"]["rpo_s"]["met"] else "MISSED"))
    write_results(results, "pitr")
    return 0


if __name__ == "__main__":
    sys.exit(main())
