# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: frende-db-backup against the security document's `pg_dump | gzip` baseline.

Not a test: it measures, in one run and side by side on one throw-away
PostgreSQL server, one generated database per data shape (--shapes):

  frende  Frende-like: users, profiles, messages of 3-45 words from a 4000-word Zipf vocabulary, indexes
  chat    short chat messages: 8-24 words drawn from about 60 (a small vocabulary compresses differently)
  random  incompressible payloads: random bytea and uuids

  backup   frende-db-backup --action backup  vs  pg_dump | gzip (plain)  vs  pg_dump -Fc -Z0 > /dev/null (floor)
  restore  frende-db-backup --action restore (safe swap)  vs  gunzip -c | psql into a new database
  memory   peak RSS of the frende-db-backup process tree (wait4 rusage)

Each measurement is repeated --reps times; the table shows medians and ratios.
Results go to bench/results/ as JSON. Usage (from the repository root):

  .venv/bin/python bench/backup_restore.py --size-mb 1024 --reps 3
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pwd
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.pgserver import PgServer  # noqa: E402

COMMAND = [sys.executable, str(REPO / "bin" / "frende-db-backup")]
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "ven", "dor", "el", "an", "is", "qu", "ber", "ot",
             "fri", "end", "ly", "ma", "po", "zu", "gra", "tel", "son", "hi", "yo", "wa", "re", "de", "la"]
COUNTRIES = ["NO", "SE", "DK", "FI", "DE", "NL", "FR", "ES", "IT", "PL", "GB", "US", "CA", "BR", "JP"]
INTERESTS = ["hiking", "music", "chess", "cooking", "travel", "films", "running", "books", "games", "art",
             "climbing", "coffee", "dogs", "cats", "photography", "cycling", "yoga", "coding", "dance", "sailing"]

SCHEMA = """
CREATE TABLE users (
    id bigint PRIMARY KEY, email text NOT NULL UNIQUE, display_name text NOT NULL,
    created_at timestamptz NOT NULL, last_seen timestamptz, is_active boolean NOT NULL DEFAULT true);
CREATE TABLE profiles (
    user_id bigint PRIMARY KEY REFERENCES users(id), bio text, country text, birth_year int,
    interests text[]);
CREATE TABLE messages (
    id bigint PRIMARY KEY, sender_id bigint NOT NULL REFERENCES users(id),
    recipient_id bigint NOT NULL REFERENCES users(id), body text NOT NULL,
    sent_at timestamptz NOT NULL, read_at timestamptz);
"""
INDEXES = """
CREATE INDEX messages_sender_sent ON messages (sender_id, sent_at);
CREATE INDEX messages_recipient_sent ON messages (recipient_id, sent_at);
CREATE INDEX users_last_seen ON users (last_seen);
CREATE INDEX profiles_country ON profiles (country);
"""


def make_vocabulary(rng, size=4000):
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for dummy in range(rng.randint(1, 4))))
    words = sorted(words)
    weights = [1.0 / (rank + 1) ** 1.05 for rank in range(len(words))]  # Zipf-like, as in real text
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    return words, cum


class CopySource:
    """A file-like object that psycopg2's copy_expert reads rows from, generated on the fly."""

    def __init__(self, rows):
        self.rows = rows
        self.buffer = b""

    def read(self, size=-1):
        while size < 0 or len(self.buffer) < size:
            try:
                self.buffer += next(self.rows)
            except StopIteration:
                break
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    readline = read


def esc(text):
    return text.replace("\\", "\\\\").replace("\t", " ").replace("\n", "\\n")


def generate(server, dbname, size_mb, seed=1):
    """A Frende-like database of about size_mb MiB (tables + indexes)."""
    rng = random.Random(seed)
    words, cum = make_vocabulary(rng)
    # Budget: messages carry ~80% of the bytes; ~290 bytes per message with its indexes.
    n_messages = max(1000, int(size_mb * 1024 * 1024 * 0.8 / 290))
    n_users = max(100, n_messages // 40)
    base = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
    server.sql("CREATE DATABASE %s" % dbname)
    conn = server.connect(dbname)
    cur = conn.cursor()
    cur.execute(SCHEMA)

    def text(lo, hi):
        return " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(lo, hi)))

    def stamp(t):
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()

    def users():
        chunk = []
        for i in range(1, n_users + 1):
            name = text(1, 2).title()
            created = base + rng.random() * 3e7
            chunk.append("%d\t%s%d@example.org\t%s\t%s\t%s\t%s\n" % (
                i, name.replace(" ", ".").lower(), i, esc(name), stamp(created),
                stamp(created + rng.random() * 3e6), "t" if rng.random() > 0.1 else "f"))
            if len(chunk) >= 2000:
                yield "".join(chunk).encode()
                chunk = []
        yield "".join(chunk).encode()

    def profiles():
        chunk = []
        for i in range(1, n_users + 1):
            bio = text(20, 90).capitalize() + "."
            interests = "{%s}" % ",".join(rng.sample(INTERESTS, rng.randint(1, 6)))
            chunk.append("%d\t%s\t%s\t%d\t%s\n" % (
                i, esc(bio), rng.choice(COUNTRIES), rng.randint(1950, 2006), interests))
            if len(chunk) >= 2000:
                yield "".join(chunk).encode()
                chunk = []
        yield "".join(chunk).encode()

    def messages():
        chunk = []
        for i in range(1, n_messages + 1):
            sent = base + 3e7 + rng.random() * 3e7
            read = "\\N" if rng.random() < 0.3 else stamp(sent + rng.random() * 86400)
            chunk.append("%d\t%d\t%d\t%s\t%s\t%s\n" % (
                i, rng.randint(1, n_users), rng.randint(1, n_users), esc(text(3, 45).capitalize() + "."),
                stamp(sent), read))
            if len(chunk) >= 5000:
                yield "".join(chunk).encode()
                chunk = []
        yield "".join(chunk).encode()

    for table, rows in (("users", users()), ("profiles", profiles()), ("messages", messages())):
        cur.copy_expert("COPY %s FROM STDIN" % table, CopySource(rows), size=1 << 20)
    cur.execute(INDEXES)
    cur.execute("VACUUM ANALYZE")
    cur.execute("SELECT pg_database_size(current_database())")
    size = cur.fetchone()[0]
    conn.close()
    return dict(bytes=size, users=n_users, messages=n_messages)


CHAT_WORDS = ("hi hey ok yes no lol see you later tonight coffee meet at the park tomorrow what time sure sounds "
              "good love it haha thanks bye where are going now cool nice maybe call me when free miss how was "
              "your day great fine busy work home dinner movie weekend plans ready wait sorry late on my way "
              "friend here").split()


def chunked(lines, size=5000):
    """COPY text in chunks of ``size`` lines, for CopySource."""
    chunk = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield "".join(chunk).encode()
            chunk = []
    yield "".join(chunk).encode()


def one_table(server, dbname, ddl, table, lines, index):
    """A database with one table filled by COPY from ``lines``, and one index."""
    server.sql("CREATE DATABASE %s" % dbname)
    conn = server.connect(dbname)
    cur = conn.cursor()
    cur.execute(ddl)
    cur.copy_expert("COPY %s FROM STDIN" % table, CopySource(chunked(lines)), size=1 << 20)
    cur.execute(index)
    return cur, conn


def generate_chat(server, dbname, size_mb, seed=2):
    """Short chat messages, 8-24 words from a vocabulary of 60, about size_mb MiB."""
    rng = random.Random(seed)
    n = max(1000, int(size_mb * 1024 * 1024 / 160))  # ~160 bytes per row with its index
    base = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
    lines = ("%d\t%d\t%d\t%s\t%s\n" % (
        i, rng.randint(1, 50000), rng.randint(1, 50000),
        " ".join(rng.choice(CHAT_WORDS) for dummy in range(rng.randint(8, 24))),
        datetime.datetime.fromtimestamp(base + i * 0.7, datetime.timezone.utc).isoformat()) for i in range(1, n + 1))
    cur, conn = one_table(server, dbname, "CREATE TABLE messages (id bigint PRIMARY KEY, sender_id int NOT NULL, "
                          "recipient_id int NOT NULL, body text NOT NULL, sent_at timestamptz NOT NULL)", "messages",
                          lines, "CREATE INDEX messages_sender_sent ON messages (sender_id, sent_at)")
    return _finish(cur, conn, dict(messages=n))


def generate_random(server, dbname, size_mb, seed=3):
    """Incompressible payloads (160 random bytes of bytea) with uuids, about size_mb MiB."""
    rng = random.Random(seed)
    n = max(1000, int(size_mb * 1024 * 1024 / 230))
    lines = ("%d\t%032x\t\\\\x%s\n" % (i, rng.getrandbits(128), rng.getrandbits(8 * 160).to_bytes(160, "big").hex())
             for i in range(1, n + 1))
    cur, conn = one_table(server, dbname, "CREATE TABLE blobs (id bigint PRIMARY KEY, token uuid NOT NULL, "
                          "payload bytea NOT NULL)", "blobs", lines, "CREATE INDEX blobs_token ON blobs (token)")
    return _finish(cur, conn, dict(blobs=n))


def _finish(cur, conn, counts):
    cur.execute("VACUUM ANALYZE")
    cur.execute("SELECT pg_database_size(current_database())")
    size = cur.fetchone()[0]
    conn.close()
    return dict(counts, bytes=size)


SHAPES = dict(frende=generate, chat=generate_chat, random=generate_random)


def run_measured(argv, env, shell=False):
    """Run a command; returns (seconds, peak RSS KiB of its process tree from wait4(), stdout)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, shell=shell, executable="/bin/bash" if shell else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Output is small (a JSON document); read it, then reap the child with wait4 for its rusage.
    out = proc.stdout.read()
    err = proc.stderr.read()
    status, usage = os.wait4(proc.pid, 0)[1:]
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s" % (proc.returncode, argv, err.decode()[-3000:]))
    return seconds, usage.ru_maxrss, out


def settle(server):
    """Start each measurement from the same state: the previous one's dirty buffers and page cache
    written out (CHECKPOINT, sync), so that no command pays for the writes of the one before it."""
    server.sql("CHECKPOINT")
    os.sync()


def median(values):
    return statistics.median(values) if values else None


TARGETS = dict(backup_time_vs_baseline=0.25, backup_size_vs_baseline=1.0, backup_time_vs_floor=2.0,
               restore_time_vs_baseline=0.85)


def measure_shape(server, env, shape, size_mb, reps, work, extra):
    """Generate the shape's database, then ``reps`` rounds of every backup and restore; returns its results."""
    dbname = "frende_%s" % shape
    # Started as root, frende-db-backup becomes postgres (as on a database host): its files live where it may write.
    ours = work / ("ours-" + shape)
    ours.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(ours, entry.pw_uid, entry.pw_gid)
    backups = ours / "backups"
    baseline_dir = work / "baseline"
    baseline_dir.mkdir(exist_ok=True)
    print("%s: generating a ~%d MiB database ..." % (shape, size_mb), flush=True)
    t0 = time.monotonic()
    database = SHAPES[shape](server, dbname, size_mb)
    database["generate_s"] = round(time.monotonic() - t0, 1)
    print("%s: database %.0f MiB in %.0f s" % (shape, database["bytes"] / 2 ** 20, database["generate_s"]), flush=True)
    common = ["--backup-dir", str(backups), "--log-file", str(ours / "backup.log"), "--json"]
    runs = []
    for rep in range(reps):
        run = dict(rep=rep + 1)
        settle(server)
        run["floor_backup_s"] = run_measured("set -o pipefail; pg_dump -Fc -Z0 -d %s > /dev/null" % dbname, env,
                                             shell=True)[0]
        plain = baseline_dir / ("%s-%d.sql.gz" % (dbname, rep))
        settle(server)
        s = run_measured("set -o pipefail; pg_dump -d %s | gzip > %s" % (dbname, plain), env, shell=True)[0]
        run["baseline_backup_s"], run["baseline_size"] = s, plain.stat().st_size
        settle(server)
        s, rss, out = run_measured(COMMAND + ["--action", "backup", "--database", dbname] + common + extra, env)
        manifest = json.loads(out)["backup"]
        run["ours_backup_s"], run["ours_size"], run["ours_backup_rss_kib"] = s, manifest["size"], rss
        run["ours_backup_engine_s"] = manifest["duration_s"]

        target = "%s_baseline_%d" % (dbname, rep)
        settle(server)
        s = run_measured("set -o pipefail; createdb %s && gunzip -c %s | psql -X -q -v ON_ERROR_STOP=1 "
                         "-d %s > /dev/null" % (target, plain, target), env, shell=True)[0]
        run["baseline_restore_s"] = s
        server.sql("DROP DATABASE %s" % target)
        settle(server)
        s, rss, out = run_measured(COMMAND + ["--action", "restore", "--backup-file", manifest["name"],
                                              "--database", dbname] + common + extra, env)
        run["ours_restore_s"], run["ours_restore_rss_kib"] = s, rss
        restored = json.loads(out)["restore"]
        # The default keeps the replaced database; dropping it is not part of the restore.
        server.sql('DROP DATABASE "%s"' % restored["previous_database"])
        run["ours_restore_engine_s"] = restored["duration_s"]
        for key in ("verify_s", "load_s", "count_s", "analyze_s"):
            run["ours_restore_" + key] = restored[key]
        runs.append(run)
        plain.unlink()
        for entry in backups.iterdir():
            if not entry.name.startswith("."):
                entry.unlink()
        shown = dict((k, round(v, 2) if isinstance(v, float) else v) for k, v in run.items())
        print("%s rep %d: %s" % (shape, rep + 1, json.dumps(shown)), flush=True)
    server.sql('DROP DATABASE "%s"' % dbname)
    summary = dict((key, median([r[key] for r in runs])) for key in runs[0] if key != "rep")
    summary["backup_time_vs_baseline"] = summary["ours_backup_s"] / summary["baseline_backup_s"]
    summary["backup_size_vs_baseline"] = summary["ours_size"] / summary["baseline_size"]
    summary["backup_time_vs_floor"] = summary["ours_backup_s"] / summary["floor_backup_s"]
    summary["restore_time_vs_baseline"] = summary["ours_restore_s"] / summary["baseline_restore_s"]
    targets = dict((k, dict(target=v, met=summary[k] <= v)) for k, v in TARGETS.items())
    return dict(database=database, runs=runs, summary=summary, targets=targets)


def print_tables(results):
    print()
    print("%d CPUs, median of %d runs per shape; ratios against pg_dump | gzip measured in the same run"
          % (results["cpus"], results["reps"]))
    print()
    print("| shape | database | baseline backup (pg_dump \\| gzip) | frende-db-backup | time ratio | size ratio "
          "| vs floor (pg_dump -Fc -Z0) |")
    print("|---|---|---|---|---|---|---|")
    for shape, r in results["shapes"].items():
        s = r["summary"]
        print("| %s | %.0f MiB | %.1f s, %.0f MiB | %.1f s, %.0f MiB | %.2f | %.3f | %.2f (floor %.1f s) |" % (
            shape, r["database"]["bytes"] / 2 ** 20, s["baseline_backup_s"], s["baseline_size"] / 2 ** 20,
            s["ours_backup_s"], s["ours_size"] / 2 ** 20, s["backup_time_vs_baseline"], s["backup_size_vs_baseline"],
            s["backup_time_vs_floor"], s["floor_backup_s"]))
    print()
    print("| shape | baseline restore (gunzip -c \\| psql) | frende-db-backup restore | ratio "
          "| of which verify / load / row check / analyze | peak RSS backup / restore |")
    print("|---|---|---|---|---|---|")
    for shape, r in results["shapes"].items():
        s = r["summary"]
        print("| %s | %.1f s | %.1f s | %.2f | %.1f / %.1f / %.1f / %.1f s | %.0f / %.0f MiB |" % (
            shape, s["baseline_restore_s"], s["ours_restore_s"], s["restore_time_vs_baseline"],
            s["ours_restore_verify_s"], s["ours_restore_load_s"], s["ours_restore_count_s"],
            s["ours_restore_analyze_s"], s["ours_backup_rss_kib"] / 1024, s["ours_restore_rss_kib"] / 1024))
    print()
    print("targets (%s):" % ", ".join("%s <= %s" % (k, v) for k, v in TARGETS.items()))
    for shape, r in results["shapes"].items():
        print("  %s: %s" % (shape, ", ".join("%s %s" % (k, "met" if v["met"] else "MISSED")
                                             for k, v in r["targets"].items())))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="approximate size of each database (default 1024)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement (default 3)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="data shapes, of %s (default all)" % ", ".join(SHAPES))
    parser.add_argument("--workdir", help="scratch directory (default: a new temporary one)")
    parser.add_argument("--jobs", type=int, help="pg_restore jobs for frende-db-backup (default: CPUs)")
    parser.add_argument("--compression-level", type=int, help="zstd level for frende-db-backup (default: its own)")
    args = parser.parse_args(argv)
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error("unknown shape(s) %s; known: %s" % (", ".join(unknown), ", ".join(SHAPES)))

    work = Path(args.workdir or tempfile.mkdtemp(prefix="frende-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # the server runs as postgres and must reach its directory inside
    server = PgServer(work / "pg").start()
    results = dict(started_at=datetime.datetime.now(datetime.timezone.utc).isoformat(), size_mb=args.size_mb,
                   reps=args.reps, cpus=os.cpu_count(), shapes={})
    extra = []
    if args.jobs:
        extra += ["--jobs", str(args.jobs)]
    if args.compression_level:
        extra += ["--compression-level", str(args.compression_level)]
    try:
        for shape in shapes:
            results["shapes"][shape] = measure_shape(server, server.env(), shape, args.size_mb, args.reps, work, extra)
    finally:
        server.destroy()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print_tables(results)
    write_results(results, "backup_restore")
    return 0


def write_results(results, name):
    """bench/results/<name>-<UTC time>.json; says where."""
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ("%s-%s.json" % (name, datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")))
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print("results: %s" % path)


if __name__ == "__main__":
    sys.exit(main())
