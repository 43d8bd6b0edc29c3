"""frende-db-backup, the command on the database host, against a real PostgreSQL 15."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import psycopg2
import pytest

from tests.support import log_lines
from tests.support.backup_helpers import (
    APP_PASSWORD, COMMAND, age_identity, checksums, create_app_db, databases, drop_databases, give_to_postgres,
    postgres_dir, run_cli, secret_key_of, watch_command_lines)
from tests.support.log_lines import find
from tests.support.pgserver import PgServer, free_port

DB = "bkcli"


@pytest.fixture
def bk(tmp_path):
    """Backup dir and log file of one test, plus the common flags."""
    directory = tmp_path / "backups"
    log = tmp_path / "log" / "backup.log"
    return dict(dir=directory, log=log, flags=["--backup-dir", directory, "--log-file", log])


@pytest.fixture
def app_db(pg):
    create_app_db(pg, DB)
    yield DB
    drop_databases(pg, DB)


def backup(pg, bk, *extra, database=DB):
    proc, doc = run_cli(pg, "--action", "backup", "--database", database, *bk["flags"], *extra)
    assert proc.returncode == 0, proc.stderr
    return doc["backup"]


def test_round_trip_restores_identical_data_and_keeps_the_old_database(pg, bk, app_db):
    before = checksums(pg, DB)
    manifest = backup(pg, bk)
    assert manifest["tables"] == {"app.messages": 600, "app.users": 200, "public.settings": 2}
    assert manifest["encrypted"] is False and manifest["compression"] == "zstd"
    files = sorted(os.listdir(bk["dir"]))
    name = manifest["name"]
    assert name + ".dump.zst" in files and name + ".globals.sql.zst" in files and name + ".manifest.json" in files
    st = os.stat(bk["dir"])
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == __import__("pwd").getpwnam("postgres").pw_uid
    for f in files:
        if not f.startswith("."):
            assert stat.S_IMODE(os.stat(bk["dir"] / f).st_mode) == 0o600

    pg.sql("DELETE FROM app.messages WHERE id % 2 = 0; UPDATE public.settings SET value = 'light'", dbname=DB)
    changed = checksums(pg, DB)
    assert changed != before

    proc, doc = run_cli(pg, "--action", "restore", "--backup-file", "latest", *bk["flags"])
    assert proc.returncode == 0, proc.stderr
    assert checksums(pg, DB) == before
    previous = doc["restore"]["previous_database"]
    assert previous.startswith(DB + "_pre_restore_") and previous in databases(pg, DB)
    assert checksums(pg, previous) == changed
    assert doc["restore"]["rows_checked"] is True and doc["duration_s"] > 0
    # The app role still connects to the restored database (CONNECT grant copied) and sees its settings.
    conn = pg.connect(DB, user="bk_app", password=APP_PASSWORD)
    with conn.cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "7s"
        cur.execute("SELECT count(*) FROM users")  # search_path = app, public
        assert cur.fetchone()[0] == 200
    conn.close()
    entries = log_lines.read(bk["log"])  # every line in the one format
    assert {e["prog"] for e in entries} == {"frende-db-backup"}
    assert find(entries, "INFO", "backup", "done", database=DB, name=name, encrypted="no")
    assert find(entries, "INFO", "restore", "done", backup=name, database=DB, previous=previous)


def test_human_list_newest_first_with_legacy(pg, bk, app_db):
    first = backup(pg, bk)
    second = backup(pg, bk)
    legacy = bk["dir"] / "bkcli-20250101T020000Z.sql.gz"
    legacy.write_bytes(gzip.compress(b"-- x\n"))
    proc, dummy = run_cli(pg, "--action", "list", *bk["flags"], json_out=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "FINISHED", "(UTC)"]
    assert [line.split()[0] for line in lines[1:]] == [second["name"], first["name"], "bkcli-20250101T020000Z"]
    assert "[legacy]" in lines[3]
    proc, doc = run_cli(pg, "--action", "list", *bk["flags"])
    assert [b["verified"]["state"] for b in doc["backups"]] == ["never"] * 3


def test_encrypted_round_trip_and_identity_checks(pg, bk, app_db, tmp_path):
    identity, recipient = age_identity(tmp_path)
    wrong = age_identity(tmp_path, "wrong.txt")[0]
    before = checksums(pg, DB)
    manifest = backup(pg, bk, "--encrypt-recipients", recipient)
    assert manifest["encrypted"] is True and manifest["recipients"] == [recipient]
    assert manifest["files"]["dump"]["name"].endswith(".dump.zst.age")
    raw = (bk["dir"] / manifest["files"]["dump"]["name"]).read_bytes()
    assert raw.startswith(b"age-encryption.org/v1")

    proc, doc = run_cli(pg, "--action", "verify", *bk["flags"])
    assert proc.returncode == 0 and doc["verification"]["level"] == "checksum-only"
    assert "checksums only" in doc["msg"]
    proc, doc = run_cli(pg, "--action", "verify", "--identity-file", identity, *bk["flags"])
    assert proc.returncode == 0, proc.stderr
    assert doc["verification"]["level"] == "quick"
    proc, doc = run_cli(pg, "--action", "verify", "--identity-file", wrong, *bk["flags"])
    assert proc.returncode == 1
    assert "does not match any recipient" in proc.stderr and recipient in proc.stderr

    proc, doc = run_cli(pg, "--action", "restore", "--backup-file", manifest["name"], *bk["flags"])
    assert proc.returncode == 1 and "needs identity_file" in proc.stderr
    proc, doc = run_cli(pg, "--action", "restore", "--backup-file", manifest["name"], "--identity-file", identity,
                        "--target-database", DB + "_copy", *bk["flags"])
    assert proc.returncode == 0, proc.stderr
    assert checksums(pg, DB + "_copy") == before
    everything = proc.stdout + proc.stderr + bk["log"].read_text() + "".join(
        p.read_text(errors="replace") for p in bk["dir"].glob("*.json"))
    for key in (secret_key_of(identity), secret_key_of(wrong)):
        assert key not in everything


def corrupt_flip(bk, manifest):
    path = bk["dir"] / manifest["files"]["dump"]["name"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))
    return "does not match its SHA-256"


def corrupt_truncate(bk, manifest):
    path = bk["dir"] / manifest["files"]["dump"]["name"]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "truncated"


def corrupt_manifest_gone(bk, manifest):
    (bk["dir"] / (manifest["name"] + ".manifest.json")).unlink()
    return "no readable manifest"


def corrupt_globals(bk, manifest):
    path = bk["dir"] / manifest["files"]["globals"]["name"]
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    return "does not match its SHA-256"


@pytest.mark.parametrize("corrupt", [corrupt_flip, corrupt_truncate, corrupt_manifest_gone, corrupt_globals])
def test_verify_and_restore_refuse_a_corrupt_backup(pg, bk, app_db, corrupt):
    manifest = backup(pg, bk)
    expected = corrupt(bk, manifest)
    proc, doc = run_cli(pg, "--action", "verify", "--backup-file", manifest["name"], *bk["flags"])
    assert proc.returncode == 1 and expected in proc.stderr, proc.stderr
    pg.sql("INSERT INTO public.settings VALUES ('after-backup', 'x')", dbname=DB)
    live = checksums(pg, DB)
    before_dbs = databases(pg, DB)
    proc, doc = run_cli(pg, "--action", "restore", "--backup-file", manifest["name"], *bk["flags"])
    assert proc.returncode == 1 and expected in proc.stderr, proc.stderr
    assert checksums(pg, DB) == live
    assert databases(pg, DB) == before_dbs
    assert not [f for f in os.listdir(bk["dir"]) if f.endswith(".partial")]


def test_verify_records_result_and_deep_verify_restores_into_scratch(pg, bk, app_db):
    manifest = backup(pg, bk)
    proc, doc = run_cli(pg, "--action", "verify", "--deep", *bk["flags"])
    assert proc.returncode == 0, proc.stderr
    assert doc["verification"]["level"] == "deep"
    assert doc["verification"]["rows"] == manifest["tables"]
    record = json.loads((bk["dir"] / (manifest["name"] + ".verify.json")).read_text())
    assert record["ok"] is True and record["level"] == "deep"
    assert databases(pg, DB) == [DB]  # the scratch database is gone
    proc, doc = run_cli(pg, "--action", "list", *bk["flags"])
    assert doc["backups"][0]["verified"]["state"] == "ok"


def scratch_database(pg, name, session_alive):
    """A database labelled as a scratch copy the way the engine labels one, by a session that is
    still open (returned: close it later) or has already ended (a killed run's leftover)."""
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()::text || '@' || extract(epoch FROM backend_start)::text "
                    "FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        token = cur.fetchone()[0]
        cur.execute('CREATE DATABASE "%s"' % name)
        cur.execute('COMMENT ON DATABASE "%s" IS %%s' % name,
                    ("frende.db scratch copy of session %s; dropped when done" % token,))
    if session_alive:
        return conn
    pid = conn.get_backend_pid()
    conn.close()
    deadline = time.monotonic() + 10  # the backend exits just after the client closes
    while pg.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return None


def test_restore_analyzes_the_copy_and_drops_only_leftovers_of_killed_runs(pg, bk, app_db):
    pg.sql("COMMENT ON DATABASE %s IS 'Frende production data'" % DB)
    backup(pg, bk)
    old = "20200101000000"
    scratch_database(pg, "%s_restore_%s" % (DB, old), session_alive=False)  # a killed restore's copy
    busy = scratch_database(pg, "%s_drill_%s" % (DB, old), session_alive=True)  # a drill still running
    scratch_database(pg, "%s_pre_restore_%s" % (DB, old), session_alive=False)  # never a scratch name
    pg.sql('CREATE DATABASE "%s_verify_%s"' % (DB, old))  # named alike by someone, not labelled
    try:
        proc, doc = run_cli(pg, "--action", "restore", "--backup-file", "latest", *bk["flags"])
        assert proc.returncode == 0, proc.stderr
        assert doc["restore"]["leftovers_dropped"] == ["%s_restore_%s" % (DB, old)]
        left = databases(pg, DB)
        assert "%s_restore_%s" % (DB, old) not in left
        for kept in ("%s_drill_%s" % (DB, old), "%s_pre_restore_%s" % (DB, old), "%s_verify_%s" % (DB, old)):
            assert kept in left, kept
        assert find(log_lines.read(bk["log"]), "WARNING", "restore", "leftover_dropped",
                    database="%s_restore_%s" % (DB, old))
    finally:
        busy.close()
    # The swap gave the restored database the live one's comment (not the scratch label).
    previous = doc["restore"]["previous_database"]
    comments = dict(pg.sql("SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                           "WHERE datname IN (%s, %s)", (DB, previous)))
    assert comments == {DB: "Frende production data", previous: "Frende production data"}
    # Planner statistics exist for every restored table: ANALYZE ran (autovacuum's would be last_autoanalyze).
    assert doc["restore"]["analyze_s"] is not None
    unanalyzed = pg.sql("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NULL", dbname=DB)
    assert unanalyzed == []
    assert pg.sql("SELECT count(*) FROM pg_stats WHERE schemaname = 'app' AND tablename = 'users'",
                  dbname=DB)[0][0] > 0


def test_drill_and_deep_verify_drop_leftovers_first_and_the_drill_analyzes(pg, bk, app_db):
    backup(pg, bk)
    drill_leftover = "%s_drill_20200101000000" % DB
    scratch_database(pg, drill_leftover, session_alive=False)
    proc, doc = run_cli(pg, "--action", "drill", "--database", DB, *bk["flags"])
    assert proc.returncode == 0, proc.stderr
    assert doc["report"]["leftovers_dropped"] == [drill_leftover]
    assert doc["report"]["analyze_s"] is not None
    verify_leftover = "%s_verify_20200101000000" % DB
    scratch_database(pg, verify_leftover, session_alive=False)
    proc, doc = run_cli(pg, "--action", "verify", "--deep", *bk["flags"])
    assert proc.returncode == 0, proc.stderr
    assert databases(pg, DB) == [DB]
    entries = log_lines.read(bk["log"])
    assert find(entries, "WARNING", "drill", "leftover_dropped", database=drill_leftover)
    assert find(entries, "WARNING", "verify", "leftover_dropped", database=verify_leftover)


def test_killed_backup_leaves_nothing_usable_and_is_cleaned_next_time(pg, bk, tmp_path):
    big = DB + "_big"
    drop_databases(pg, big)
    pg.sql('CREATE DATABASE "%s"' % big)
    pg.sql("CREATE TABLE t (id int, a text, b text); INSERT INTO t SELECT g, md5(g::text), md5((g * 7)::text) "
           "FROM generate_series(1, 400000) g", dbname=big)
    try:
        postgres_dir(bk["dir"])
        # zstd -19 makes the dump slow enough to be killed mid-way.
        env = pg.env()
        proc = subprocess.Popen([COMMAND, "--action", "backup", "--database", big, "--compression-level", "19"]
                                + [str(f) for f in bk["flags"]], env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        partial = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = [f for f in os.listdir(bk["dir"]) if ".dump.zst." in f and f.endswith(".partial")]
            if found and (bk["dir"] / found[0]).stat().st_size > 0:
                partial = found[0]
                break
            time.sleep(0.02)
        assert partial, "the backup finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert partial in os.listdir(bk["dir"])
        proc2, doc = run_cli(pg, "--action", "list", *bk["flags"])
        assert doc["backups"] == []
        for action in ("verify", "restore"):
            proc2, doc = run_cli(pg, "--action", action, "--backup-file", bk["dir"] / partial, *bk["flags"])
            assert proc2.returncode == 1 and "unfinished (partial)" in proc2.stderr
            proc2, doc = run_cli(pg, "--action", action, "--backup-file", "latest", *bk["flags"])
            assert proc2.returncode == 1 and "no complete backup" in proc2.stderr
        # The next run removes the leftovers of the dead one.
        proc2, doc = run_cli(pg, "--action", "backup", "--database", big, *bk["flags"])
        assert proc2.returncode == 0, proc2.stderr
        leftovers = [f for f in os.listdir(bk["dir"]) if f.endswith(".partial")]
        assert leftovers == []
        removed = find(log_lines.read(bk["log"]), "WARNING", "backup", "leftover-removed")
        assert partial in [entry["fields"]["file"] for entry in removed]
    finally:
        drop_databases(pg, big)


def test_sigterm_removes_partial_files(pg, bk):
    big = DB + "_term"
    drop_databases(pg, big)
    pg.sql('CREATE DATABASE "%s"' % big)
    pg.sql("CREATE TABLE t (a text); INSERT INTO t SELECT md5(g::text) FROM generate_series(1, 300000) g",
           dbname=big)
    try:
        postgres_dir(bk["dir"])
        proc = subprocess.Popen([COMMAND, "--action", "backup", "--database", big, "--compression-level", "19"]
                                + [str(f) for f in bk["flags"]], env=pg.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(f.endswith(".partial") and ".dump." in f
                                                      for f in os.listdir(bk["dir"])):
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 143, err
        assert [f for f in os.listdir(bk["dir"]) if not f.startswith(".frende-db-backup.lock")] == []
        failed, = find(log_lines.read(bk["log"]), "ERROR", "backup", "failed", database=big)
        assert failed["fields"]["msg"] == "terminated by SIGTERM"
    finally:
        drop_databases(pg, big)


def fake_old_set(bk, manifest, days_old, verified=True):
    """A copy of a real set under an older name and time (what cleanup sees on disk), verified unless asked."""
    import datetime
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_old)
    name = "%s-%s" % (manifest["database"], moment.strftime("%Y%m%dT%H%M%SZ"))
    copy = json.loads(json.dumps(manifest))
    copy.update(name=name, started_at=moment.isoformat(), finished_at=moment.isoformat())
    for role in ("dump", "globals"):
        old = manifest["files"][role]["name"]
        new = name + old[len(manifest["name"]):]
        (bk["dir"] / new).write_bytes((bk["dir"] / old).read_bytes())
        copy["files"][role]["name"] = new
    (bk["dir"] / (name + ".manifest.json")).write_text(json.dumps(copy))
    if verified:
        (bk["dir"] / (name + ".verify.json")).write_text(json.dumps(dict(name=name, ok=True, level="quick",
                                                                         verified_at=moment.isoformat())))
    return name


def test_cleanup_keeps_keep_min_and_check_mode_removes_nothing(pg, bk, app_db):
    manifest = backup(pg, bk)
    assert run_cli(pg, "--action", "verify", "--backup-file", manifest["name"], *bk["flags"])[0].returncode == 0
    old = [fake_old_set(bk, manifest, days) for days in (40, 50, 60, 70)]
    newer = fake_old_set(bk, manifest, 10)
    listing = sorted(os.listdir(bk["dir"]))
    proc, doc = run_cli(pg, "--action", "cleanup", "--check", "--keep-min", "3", *bk["flags"])
    assert proc.returncode == 0 and doc["changed"] is True
    assert doc["removed"] == sorted(old[1:])
    assert sorted(os.listdir(bk["dir"])) == listing
    # retention 30 days, keep_min 3: the three newest (now, 10 and 40 days) stay.
    proc, doc = run_cli(pg, "--action", "cleanup", "--keep-min", "3", *bk["flags"])
    assert proc.returncode == 0, proc.stderr
    assert doc["removed"] == sorted(old[1:])
    assert sorted(doc["kept"]) == sorted([manifest["name"], newer, old[0]])
    remaining = os.listdir(bk["dir"])
    assert not [f for f in remaining if any(f.startswith(n) for n in old[1:])]
    removed = find(log_lines.read(bk["log"]), "INFO", "cleanup", "removed")
    assert sorted(entry["fields"]["backup"] for entry in removed) == sorted(old[1:])
    proc, doc = run_cli(pg, "--action", "cleanup", "--keep-min", "3", *bk["flags"])
    assert doc["changed"] is False and doc["removed"] == []
    # keep_min wins over age: with retention 1 day, the newest 3 still stay.
    proc, doc = run_cli(pg, "--action", "cleanup", "--retention-days", "1", "--keep-min", "2", *bk["flags"])
    assert doc["removed"] == [old[0]]


def test_cleanup_counts_only_verified_sets_towards_keep_min(pg, bk, app_db):
    """Fresh sets nobody verified must not push the last verified ones out (the nightly job skipped verify)."""
    manifest = backup(pg, bk)
    unverified = [fake_old_set(bk, manifest, days, verified=False) for days in (1, 2)]
    verified = [fake_old_set(bk, manifest, days) for days in (40, 45, 50)]
    proc, doc = run_cli(pg, "--action", "cleanup", "--keep-min", "2", *bk["flags"])
    assert proc.returncode == 0, proc.stderr
    assert doc["removed"] == [verified[2]]
    assert sorted(doc["kept"]) == sorted([manifest["name"]] + unverified + verified[:2])


def test_legacy_sql_gz_restore(pg, bk, app_db):
    before = checksums(pg, DB)
    postgres_dir(bk["dir"])
    legacy = bk["dir"] / ("%s-20250101T020000Z.sql.gz" % DB)
    subprocess.run("set -o pipefail; pg_dump -d %s | gzip > %s" % (DB, legacy), shell=True, check=True,
                   env=pg.env(), executable="/bin/bash")
    proc, doc = run_cli(pg, "--action", "list", *bk["flags"])
    assert doc["backups"][0]["format"] == "legacy-sql-gz"
    proc, doc = run_cli(pg, "--action", "verify", "--backup-file", legacy, *bk["flags"])
    assert proc.returncode == 0, proc.stderr
    pg.sql("DELETE FROM app.messages", dbname=DB)
    proc, doc = run_cli(pg, "--action", "restore", "--backup-file", legacy, *bk["flags"])
    assert proc.returncode == 0, proc.stderr
    assert checksums(pg, DB) == before
    assert doc["restore"]["rows_checked"] is False
    # A damaged legacy file is refused.
    broken = bk["dir"] / ("%s-20250102T020000Z.sql.gz" % DB)
    broken.write_bytes(legacy.read_bytes()[:-40])
    proc, doc = run_cli(pg, "--action", "restore", "--backup-file", broken, *bk["flags"])
    assert proc.returncode == 1 and "Refusing to restore" in proc.stderr


def test_drill_writes_a_report_and_fails_on_a_missed_target(pg, bk, app_db):
    manifest = backup(pg, bk)
    proc, doc = run_cli(pg, "--action", "drill", "--database", DB, *bk["flags"])
    assert proc.returncode == 0, proc.stderr
    report = doc["report"]
    for key in ("backup", "achieved_rto_s", "achieved_rpo_s", "rto_target", "rpo_target", "rto_met", "rpo_met",
                "passed", "rows_checked", "started_at", "finished_at", "scratch_database"):
        assert key in report, key
    assert report["backup"] == manifest["name"] and report["passed"] is True and report["rows_checked"] is True
    on_disk = json.loads(Path(report["report_file"]).read_text())
    assert on_disk["achieved_rto_s"] == report["achieved_rto_s"]
    assert databases(pg, DB) == [DB]
    time.sleep(1.1)
    proc, doc = run_cli(pg, "--action", "drill", "--database", DB, "--rpo-target", "1s", *bk["flags"])
    assert proc.returncode == 3, proc.stderr
    assert doc["failed"] is True and doc["report"]["rpo_met"] is False and doc["report"]["passed"] is False
    assert "RPO target" in proc.stderr
    ends = [e for e in find(log_lines.read(bk["log"]), action="drill") if e["event"] != "start"]
    assert [(e["level"], e["event"]) for e in ends] == [("INFO", "passed"), ("ERROR", "failed")]
    assert "RPO target" in ends[1]["fields"]["msg"]
    assert len(list(bk["dir"].glob("drill-*.json"))) == 2


def test_second_backup_fails_clearly_or_waits_for_the_lock(pg, bk, app_db):
    postgres_dir(bk["dir"])
    # Hold the backup directory's lock the way a running backup does.
    fd = os.open(bk["dir"] / ".frende-db-backup.lock",
                 os.O_RDWR | os.O_CREAT, 0o600)
    give_to_postgres(bk["dir"] / ".frende-db-backup.lock")
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, json.dumps(dict(pid=os.getpid(), action="backup", since="now")).encode())
    released = threading.Event()

    def release():
        fcntl.flock(fd, fcntl.LOCK_UN)
        released.set()

    try:
        proc, doc = run_cli(pg, "--action", "backup", "--database", DB, *bk["flags"])
        assert proc.returncode == 1
        assert "Another frende-db-backup run is working" in proc.stderr and "pid %d" % os.getpid() in proc.stderr
        assert [f for f in os.listdir(bk["dir"]) if not f.startswith(".frende-db-backup.lock")] == []
        threading.Timer(1.5, release).start()
        start = time.monotonic()
        proc, doc = run_cli(pg, "--action", "backup", "--database", DB, "--lock-timeout", "30s", *bk["flags"])
        assert proc.returncode == 0, proc.stderr
        assert released.is_set() and time.monotonic() - start >= 1.0
    finally:
        released.wait(5)
        os.close(fd)


def test_backup_under_concurrent_writes_restores_a_consistent_snapshot(pg, bk):
    db = DB + "_busy"
    drop_databases(pg, db)
    pg.sql('CREATE DATABASE "%s"' % db)
    pg.sql("CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);"
           "CREATE TABLE transfers (id bigserial PRIMARY KEY, src int, dst int, amount bigint);"
           "INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 100) g;"
           "CREATE TABLE filler (a text); INSERT INTO filler SELECT md5(g::text) FROM generate_series(1, 200000) g",
           dbname=db)
    stop = threading.Event()
    done = []

    def writer():
        conn = pg.connect(db)
        conn.autocommit = False
        i = 0
        with conn.cursor() as cur:
            while not stop.is_set():
                i += 1
                src, dst = 1 + i % 100, 1 + (i * 7) % 100
                cur.execute("UPDATE accounts SET balance = balance - 5 WHERE id = %s", (src,))
                cur.execute("UPDATE accounts SET balance = balance + 5 WHERE id = %s", (dst,))
                cur.execute("INSERT INTO transfers (src, dst, amount) VALUES (%s, %s, 5)", (src, dst))
                conn.commit()
        conn.close()
        done.append(i)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.5)
        manifest = backup(pg, bk, database=db)
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join()
    try:
        assert done and done[0] > 10
        proc, doc = run_cli(pg, "--action", "restore", "--backup-file", manifest["name"], "--target-database",
                            db + "_copy", *bk["flags"])
        assert proc.returncode == 0, proc.stderr
        total, transfers = pg.sql("SELECT (SELECT sum(balance) FROM accounts), (SELECT count(*) FROM transfers)",
                                  dbname=db + "_copy")[0]
        assert total == 100 * 1000
        assert transfers == manifest["tables"]["public.transfers"]
        assert doc["restore"]["tables"] == manifest["tables"]
        live_transfers = pg.sql("SELECT count(*) FROM transfers", dbname=db)[0][0]
        assert live_transfers > transfers  # writes went on after the snapshot
    finally:
        drop_databases(pg, db)


@pytest.mark.parametrize("args,fragment", [
    (["--action", "restore", "--backup-file", "nope-20260101T000000Z"], "No backup named nope-20260101T000000Z"),
    (["--action", "verify", "--backup-file", "/etc/passwd"], "outside the backup directory"),
    (["--action", "verify", "--backup-file", "../../../etc/passwd"], "outside the backup directory"),
    (["--action", "explode"], "invalid choice: 'explode'"),
    (["--action", "backup", "--database", 'x"; DROP TABLE t; --'], "is not an accepted name"),
    (["--action", "cleanup", "--retention-days", "0"], "retention_days must be at least 1"),
    (["--action", "cleanup", "--keep-min", "-1"], "keep_min must be at least 1"),
    (["--action", "restore", "--backup-file", "latest", "--jobs", "x"], "jobs must be a whole number"),
    (["--action", "drill", "--rto-target", "quick"], "rto_target must be a duration"),
    (["--action", "backup", "--database", DB, "--login-password", "x"], "unrecognized arguments"),
    (["--action", "backup", "--database", DB, "--encrypt-recipients", "AGE-SECRET-KEY-1ABCDEFGHIJKLMNOPQRSTUVWXYZ"],
     "never belongs on the database host"),
])
def test_bad_input_fails_clearly_and_changes_nothing(pg, bk, app_db, args, fragment):
    postgres_dir(bk["dir"])
    before = databases(pg, DB)
    proc, doc = run_cli(pg, *args, *bk["flags"])
    assert proc.returncode in (1, 2)
    assert fragment in proc.stderr, proc.stderr
    assert os.listdir(bk["dir"]) == []
    assert databases(pg, DB) == before
    assert "AGE-SECRET-KEY-1ABCDEFGHIJKLMNOPQRSTUVWXYZ" not in proc.stderr + proc.stdout


def test_config_file_and_flags(pg, bk, app_db, tmp_path):
    config = tmp_path / "backup.conf"
    config.write_text("[backup]\nbackup_dir = %s\nlog_file = %s\ndatabase = %s\ncompression = gzip\n"
                      "keep_min = 2\n" % (bk["dir"], bk["log"], DB))
    proc, doc = run_cli(pg, "--action", "backup", "--config", config)
    assert proc.returncode == 0, proc.stderr
    assert doc["backup"]["compression"] == "gzip" and doc["backup"]["files"]["dump"]["name"].endswith(".dump.gz")
    proc, doc = run_cli(pg, "--action", "backup", "--config", config, "--compression", "zstd")
    assert doc["backup"]["compression"] == "zstd"
    proc, doc = run_cli(pg, "--action", "verify", "--config", config, "--backup-file", "latest")
    assert proc.returncode == 0, proc.stderr
    proc, doc = run_cli(pg, "--action", "list", "--config", config)
    assert [b["compression"] for b in doc["backups"]] == ["zstd", "gzip"]
    config.write_text("[backup]\nlogin_password = %s\n" % pg.password)
    proc, doc = run_cli(pg, "--action", "list", "--config", config)
    assert proc.returncode == 1 and "password comes only from" in proc.stderr and pg.password not in proc.stderr


def test_no_secret_in_log_command_lines_or_server_log(pg, bk, app_db):
    with watch_command_lines() as seen:
        backup(pg, bk)
        proc, doc = run_cli(pg, "--action", "drill", *bk["flags"])
        assert proc.returncode == 0, proc.stderr
    assert any("pg_dump" in line for line in seen), "the watcher saw no pg_dump: the check proves nothing"
    assert not [line for line in seen if pg.password in line]
    assert pg.password not in bk["log"].read_text()
    assert pg.password not in proc.stdout + proc.stderr
    assert pg.password not in pg.server_log()


def test_globals_recreate_missing_roles_on_a_fresh_host(pg, bk, app_db, tmp_path):
    manifest = backup(pg, bk)
    assert "bk_owner" in manifest["roles"] and "bk_app" in manifest["roles"]
    before = checksums(pg, DB)
    with PgServer() as fresh:
        proc, doc = run_cli(fresh, "--action", "restore", "--backup-file", "latest", "--globals", "never",
                            *bk["flags"])
        assert proc.returncode == 1 and "bk_app, bk_owner" in proc.stderr
        proc, doc = run_cli(fresh, "--action", "restore", "--backup-file", "latest", *bk["flags"])
        assert proc.returncode == 0, proc.stderr
        assert sorted(doc["restore"]["globals"]["created"]) == ["bk_app", "bk_owner"]
        assert doc["restore"]["previous_database"] is None
        assert checksums(fresh, DB) == before
        assert fresh.sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (DB,))[0][0] == \
            "bk_owner"
        # The bootstrap superuser keeps its own password; the app role got its dumped one.
        fresh.connect("postgres").close()
        fresh.connect(DB, user="bk_app", password=APP_PASSWORD).close()
        with pytest.raises(psycopg2.OperationalError):
            fresh.connect("postgres", password=pg.password).close()
        assert "SCRAM-SHA-256$" not in fresh.server_log()


def test_failure_half_way_through_a_restore_leaves_the_live_database_untouched(pg, bk, app_db):
    manifest = backup(pg, bk)
    path = bk["dir"] / (manifest["name"] + ".manifest.json")
    doc = json.loads(path.read_text())
    doc["tables"]["app.users"] += 1  # the restored copy will not match: the restore must stop before the swap
    path.write_text(json.dumps(doc))
    pg.sql("DELETE FROM app.messages WHERE id < 10", dbname=DB)
    live = checksums(pg, DB)
    before = databases(pg, DB)
    proc, dummy = run_cli(pg, "--action", "restore", "--backup-file", "latest", *bk["flags"])
    assert proc.returncode == 1
    assert "does not match the backup's row counts: app.users has 200 rows, the backup 201" in proc.stderr
    assert checksums(pg, DB) == live
    assert databases(pg, DB) == before  # the scratch database is gone
    pg.connect(DB, user="bk_app", password=APP_PASSWORD).close()
    assert not [f for f in os.listdir(bk["dir"]) if f.endswith(".partial")]
    failed, = find(log_lines.read(bk["log"]), "ERROR", "restore", "failed", database=DB)
    assert "does not match the backup's row counts" in failed["fields"]["msg"]


def test_a_full_disk_gives_a_clear_error_and_leaves_nothing(pg, bk):
    big = DB + "_full"
    drop_databases(pg, big)
    pg.sql('CREATE DATABASE "%s"' % big)
    pg.sql("CREATE TABLE t (a text); INSERT INTO t SELECT md5(g::text) FROM generate_series(1, 200000) g",
           dbname=big)
    postgres_dir(bk["dir"])
    owner = os.stat(bk["dir"])
    options = "size=1m,mode=0700,uid=%d,gid=%d" % (owner.st_uid, owner.st_gid)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(bk["dir"])],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        drop_databases(pg, big)
        pytest.skip("cannot mount a 1 MiB tmpfs here: %s" % mounted.stderr.strip())
    try:
        proc, dummy = run_cli(pg, "--action", "backup", "--database", big, *bk["flags"])
        assert proc.returncode == 1
        assert "No space left on device while writing" in proc.stderr and "Nothing was kept" in proc.stderr
        assert [f for f in os.listdir(bk["dir"]) if f != ".frende-db-backup.lock"] == []
        failed, = find(log_lines.read(bk["log"]), "ERROR", "backup", "failed", database=big)
        assert "No space left on device" in failed["fields"]["msg"]
    finally:
        subprocess.run(["umount", str(bk["dir"])], check=False)
        drop_databases(pg, big)


# --- every failure is in the log (cron loses stderr) -------------------------------------

@pytest.mark.parametrize("case", ["bad config", "unreachable server", "wrong password", "missing tool"])
def test_every_failure_leaves_an_error_line_in_the_log_and_exits_non_zero(pg, bk, app_db, tmp_path, case):
    config = tmp_path / "backup.conf"
    config.write_text("[backup]\nlog_file = %s\nbackup_dir = %s\n" % (bk["log"], bk["dir"]))
    args, env = ["--action", "backup", "--database", DB, "--config", config], {}
    if case == "bad config":
        config.write_text("[backup]\nlog_file = %s\nretention_dayz = 3\n" % bk["log"])
        expected = "unknown key 'retention_dayz'"
    elif case == "unreachable server":
        args += ["--login-port", str(free_port()), "--login-host", "127.0.0.1", "--connect-timeout", "2"]
        expected = "Could not connect to PostgreSQL"
    elif case == "wrong password":
        env = dict(PGPASSWORD="not-the-password-%d" % os.getpid())
        expected = "password authentication failed"
    else:
        bindir = tmp_path / "bin"
        bindir.mkdir()
        for tool in ("gzip", "age", "sh"):
            (bindir / tool).symlink_to(shutil.which(tool))
        env = dict(PATH=str(bindir))  # no zstd on this PATH
        expected = "zstd is not installed on this host"
    proc, doc = run_cli(pg, *args, env=env)
    assert proc.returncode == 1, proc.stderr
    assert expected in proc.stderr
    failed = find(log_lines.read(bk["log"]), "ERROR")
    assert len(failed) == 1 and expected in failed[0]["fields"]["msg"], log_lines.read(bk["log"])
    assert not bk["dir"].exists() or [f for f in os.listdir(bk["dir"]) if not f.startswith(".")] == []
    if case == "wrong password":
        assert env["PGPASSWORD"] not in bk["log"].read_text()


# --- encryption never fails open ------------------------------------------------------------

@pytest.mark.parametrize("case", ["age missing", "recipient refused"])
def test_encryption_that_cannot_run_fails_and_writes_no_plaintext_set(pg, bk, app_db, tmp_path, case):
    identity, recipient = age_identity(tmp_path)
    args = ["--action", "backup", "--database", DB, *bk["flags"]]
    env = {}
    if case == "age missing":
        bindir = tmp_path / "bin"
        bindir.mkdir()
        for tool in ("zstd", "gzip", "sh"):
            (bindir / tool).symlink_to(shutil.which(tool))
        env = dict(PATH=str(bindir))
        args += ["--encrypt-recipients", recipient]
        expected = "age is not installed on this host"
    else:
        # Well-formed for our check, but not a key age can use: age itself refuses it.
        args += ["--encrypt-recipients", "age1" + "q" * 58]
        expected = "malformed recipient"
    proc, doc = run_cli(pg, *args, env=env)
    assert proc.returncode == 1 and expected in proc.stderr, proc.stderr
    leftovers = os.listdir(bk["dir"]) if bk["dir"].exists() else []
    assert [f for f in leftovers if not f.startswith(".frende-db-backup.lock")] == [], leftovers
    failed, = find(log_lines.read(bk["log"]), "ERROR", "backup")
    assert expected in failed["fields"]["msg"]
    assert run_cli(pg, "--action", "list", *bk["flags"])[1]["backups"] == []
