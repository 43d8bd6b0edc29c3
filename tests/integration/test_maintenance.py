"""frende-db-maintenance, run as a command (bin/frende-db-maintenance) against the real test server.

The command runs as installed: through its #!/usr/bin/python3 line, with Debian's
python3-psycopg2 (scripts/system-deps.sh installs it). It reaches the server
through the libpq environment of ``pg.env()``
(PGHOST, PGPORT, PGUSER, PGPASSWORD, PGSSLMODE=verify-full, PGSSLROOTCERT), as
the weekly cron job does with ~/.pgpass or peer authentication.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest

from tests.support.log_lines import find, parse
from tests.support.pgserver import PgServer, free_port

REPO = Path(__file__).resolve().parents[2]
COMMAND = REPO / "bin" / "frende-db-maintenance"


class Run:
    def __init__(self, proc, log_file):
        self.proc = proc
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.log = log_file.read_text() if log_file.exists() else ""
        self.entries = [parse(line) for line in self.log.splitlines()]  # every line in the one format
        self.doc = None
        if proc.stdout.strip().startswith("{"):
            self.doc = json.loads(proc.stdout)

    def __repr__(self):
        return "Run(code=%s, stdout=%r, stderr=%r, log=%r)" % (self.code, self.stdout[-2000:], self.stderr[-2000:],
                                                               self.log[-3000:])


@pytest.fixture()
def run(pg, tmp_path):
    """Run the command with a config file of the test's own and a log file in tmp_path."""
    config = tmp_path / "maintenance.conf"
    config.write_text("[maintenance]\n")
    log_file = tmp_path / "log" / "maintenance.log"
    backups = tmp_path / "backups"
    backups.mkdir()

    def _run(*argv, env=None, config_text=None):
        if config_text is not None:
            config.write_text(config_text)
        full_env = pg.env()
        full_env.update(env or {})
        cmd = [str(COMMAND), "--config", str(config), "--log-file", str(log_file),
               "--server-log", str(pg.log), "--backup-dir", str(backups), "--report-dir", str(tmp_path / "reports"),
               "--audit-log", str(tmp_path / "log" / "audit.log"), "--health-log", str(tmp_path / "log" / "health.log"),
               *argv]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=300, check=False)
        return Run(proc, log_file)

    return _run


@pytest.fixture(scope="module")
def maint_db(pg):
    pg.sql("CREATE DATABASE maint_app")
    yield "maint_app"
    pg.sql("DROP DATABASE maint_app WITH (FORCE)")


def q(pg, db, query, params=None):
    return pg.sql(query, params, dbname=db)


def make_tables(pg, db, rows=200000):
    """``bloated``: 90% of rows deleted and the rest updated (its indexes are mostly empty pages);
    ``fresh``: the same data, untouched."""
    q(pg, db, "DROP TABLE IF EXISTS bloated, fresh")
    for table in ("bloated", "fresh"):
        q(pg, db, "CREATE TABLE %s (id integer PRIMARY KEY, label text)" % table)
        q(pg, db, "INSERT INTO %s SELECT g, md5(g::text) FROM generate_series(1, %%s) g" % table, (rows,))
        q(pg, db, "CREATE INDEX %s_label ON %s (label)" % (table, table))
    q(pg, db, "DELETE FROM bloated WHERE id % 10 <> 0")
    q(pg, db, "UPDATE bloated SET label = label || 'x' WHERE id % 20 = 0")
    q(pg, db, "VACUUM ANALYZE bloated")
    q(pg, db, "ANALYZE fresh")


def relfilenodes(pg, db):
    return dict(q(pg, db, "SELECT relname, relfilenode FROM pg_class WHERE relname IN "
                          "('bloated_pkey', 'bloated_label', 'fresh_pkey', 'fresh_label')"))


def test_vacuum_sets_last_vacuum_and_analyze(pg, run, maint_db):
    q(pg, maint_db, "CREATE TABLE vac_me (id int)")
    q(pg, maint_db, "INSERT INTO vac_me SELECT generate_series(1, 1000)")
    dry = run("--action", "vacuum", "--database", maint_db, "--check", "--json")
    assert dry.code == 0, dry
    assert dry.doc["changed"] is False and dry.doc["check_mode"] is True
    assert q(pg, maint_db, "SELECT last_vacuum, last_analyze FROM pg_stat_user_tables "
                           "WHERE relname = 'vac_me'") == [(None, None)]
    planned, = find(dry.entries, "INFO", "vacuum", "planned", database=maint_db)
    assert planned["fields"]["msg"] == "would run VACUUM (ANALYZE) (check mode)"
    assert not find(dry.entries, action="vacuum", event="done")

    result = run("--action", "vacuum", "--database", maint_db, "--json")
    assert result.code == 0, result
    assert result.doc["changed"] is True and result.doc["results"]["vacuum"]["failed"] is False
    (last_vacuum, last_analyze), = q(pg, maint_db, "SELECT last_vacuum, last_analyze FROM pg_stat_user_tables "
                                                   "WHERE relname = 'vac_me'")
    assert last_vacuum is not None and last_analyze is not None
    done, = find(result.entries, "INFO", "vacuum", "done", database="maint_app", msg="VACUUM (ANALYZE) done")
    assert re.match(r"^\d+\.\d{3}$", done["fields"]["seconds"])
    assert done["prog"] == "frende-db-maintenance"


@pytest.mark.parametrize("with_pgstattuple", [False, True], ids=["statistics", "pgstatindex"])
def test_reindex_rebuilds_only_bloated_indexes(pg, run, maint_db, with_pgstattuple):
    if with_pgstattuple:
        q(pg, maint_db, "CREATE EXTENSION IF NOT EXISTS pgstattuple")
    else:
        q(pg, maint_db, "DROP EXTENSION IF EXISTS pgstattuple")
    make_tables(pg, maint_db)
    method = "pgstatindex" if with_pgstattuple else "statistics"
    before = relfilenodes(pg, maint_db)

    dry = run("--action", "reindex", "--database", maint_db, "--reindex-min-size-mb", "1", "--check", "--json")
    assert dry.code == 0, dry
    assert relfilenodes(pg, maint_db) == before  # check mode rebuilt nothing
    assert dry.doc["changed"] is False
    assert sorted(r["index"] for r in dry.doc["results"]["reindex"]["reindexed"]) == \
        ["public.bloated_label", "public.bloated_pkey"]

    result = run("--action", "reindex", "--database", maint_db, "--reindex-min-size-mb", "1", "--json")
    assert result.code == 0, result
    reindex = result.doc["results"]["reindex"]
    assert result.doc["changed"] is True
    done = {r["index"]: r for r in reindex["reindexed"]}
    assert sorted(done) == ["public.bloated_label", "public.bloated_pkey"]
    for entry in done.values():
        assert entry["method"] == method
        assert entry["bloat_pct"] > 80
        assert entry["after_bytes"] < entry["before_bytes"] / 4
    left = {r["index"]: r for r in reindex["left_alone"]}
    assert left["public.fresh_label"]["bloat_pct"] < 30 and left["public.fresh_pkey"]["bloat_pct"] < 30
    after = relfilenodes(pg, maint_db)
    assert after["fresh_pkey"] == before["fresh_pkey"] and after["fresh_label"] == before["fresh_label"]
    assert after["bloated_label"] != before["bloated_label"]
    assert find(result.entries, "INFO", "reindex", "done", index="public.bloated_label", table="bloated",
                method=method)
    line, = find(result.entries, "INFO", "reindex", "done", index="public.bloated_pkey", method=method)
    assert re.match(r"^\d+\.\d MB -> \d+\.\d [kM]B$", line["fields"]["msg"])  # before and after sizes
    assert int(line["fields"]["after_bytes"]) < int(line["fields"]["before_bytes"]) / 4
    assert float(line["fields"]["bloat_pct"]) > 80

    # a second run finds nothing left to do
    again = run("--action", "reindex", "--database", maint_db, "--reindex-min-size-mb", "1", "--json")
    assert again.code == 0 and again.doc["changed"] is False, again
    assert again.doc["results"]["reindex"]["reindexed"] == []


def test_reindex_minimum_size_and_threshold(pg, run, maint_db):
    make_tables(pg, maint_db, rows=20000)  # indexes well below 10 MB
    result = run("--action", "reindex", "--database", maint_db, "--json")
    assert result.code == 0, result
    assert result.doc["results"]["reindex"]["reindexed"] == []
    reasons = {r["index"]: r["reason"] for r in result.doc["results"]["reindex"]["left_alone"]}
    assert reasons["public.bloated_pkey"] == "smaller than the minimum size"
    strict = run("--action", "reindex", "--database", maint_db, "--reindex-min-size-mb", "0",
                 "--reindex-bloat-threshold-pct", "99", "--json")
    reasons = {r["index"]: r["reason"] for r in strict.doc["results"]["reindex"]["left_alone"]}
    assert reasons["public.bloated_pkey"].endswith("is not above 99%")


def functions_state(pg, db):
    return q(pg, db, "SELECT p.proname, p.prosecdef FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                     "WHERE n.nspname = 'public' AND p.proname IN ('get_database_stats', 'get_slow_queries') "
                     "ORDER BY 1")


def test_functions_install_is_idempotent_and_honest(pg, run, maint_db):
    q(pg, maint_db, "DROP FUNCTION IF EXISTS public.get_database_stats(), "
                    "public.get_slow_queries(integer, double precision)")
    dry = run("--action", "functions", "--database", maint_db, "--json", "--check")
    assert dry.code == 0, dry
    assert dry.doc["changed"] is True and dry.doc["results"]["functions"]["queries"] == []
    assert functions_state(pg, maint_db) == []  # check mode created nothing

    first = run("--action", "functions", "--database", maint_db, "--json")
    assert first.code == 0, first
    assert first.doc["changed"] is True
    actions = {f["name"]: f["action"] for f in first.doc["results"]["functions"]["functions"]}
    assert actions == {"public.get_database_stats()": "created",
                       "public.get_slow_queries(integer, double precision)": "created"}
    assert functions_state(pg, maint_db) == [("get_database_stats", False), ("get_slow_queries", False)]

    second = run("--action", "functions", "--database", maint_db, "--json")
    assert second.code == 0 and second.doc["changed"] is False, second
    assert {f["action"] for f in second.doc["results"]["functions"]["functions"]} == {"unchanged"}
    assert second.doc["results"]["functions"]["queries"] == []
    assert find(second.entries, "INFO", "functions", "unchanged", msg="monitoring functions are up to date")
    assert find(first.entries, "INFO", "functions", "changed", function="public.get_database_stats()",
                change="created", monitor_role="pg_monitor")

    # someone edits a function or makes it SECURITY DEFINER: the next run puts it back
    q(pg, maint_db, "ALTER FUNCTION public.get_database_stats() SECURITY DEFINER")
    q(pg, maint_db, "GRANT EXECUTE ON FUNCTION public.get_slow_queries(integer, double precision) TO PUBLIC")
    dry = run("--action", "functions", "--database", maint_db, "--json", "--check")
    assert dry.doc["changed"] is True
    assert functions_state(pg, maint_db) == [("get_database_stats", True), ("get_slow_queries", False)]
    fixed = run("--action", "functions", "--database", maint_db, "--json")
    assert fixed.doc["changed"] is True
    by = {f["name"]: f for f in fixed.doc["results"]["functions"]["functions"]}
    assert by["public.get_database_stats()"]["action"] == "replaced"
    assert by["public.get_slow_queries(integer, double precision)"]["grants"] == "fixed"
    assert functions_state(pg, maint_db) == [("get_database_stats", False), ("get_slow_queries", False)]
    assert run("--action", "functions", "--database", maint_db, "--json").doc["changed"] is False

    # an older overload of the same name would make SELECT * FROM get_slow_queries() ambiguous
    q(pg, maint_db, "CREATE FUNCTION public.get_slow_queries() RETURNS SETOF text LANGUAGE sql AS 'SELECT 1::text'")
    overload = run("--action", "functions", "--database", maint_db, "--json")
    assert overload.doc["changed"] is True
    slow = [f for f in overload.doc["results"]["functions"]["functions"] if "slow" in f["name"]][0]
    assert slow["dropped"] == ["public.get_slow_queries()"]
    assert q(pg, maint_db, "SELECT count(*) FROM pg_proc WHERE proname = 'get_slow_queries'") == [(1,)]


def test_functions_work_for_a_pg_monitor_member_only(pg, run, maint_db):
    assert run("--action", "functions", "--database", maint_db).code == 0
    conn = pg.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET log_statement = 'none'")
            cur.execute("CREATE ROLE maint_monitor LOGIN PASSWORD 'mon-secret-1' IN ROLE pg_monitor")
            cur.execute("CREATE ROLE maint_nobody LOGIN PASSWORD 'nobody-secret-1'")
    finally:
        conn.close()
    try:
        q(pg, maint_db, "SELECT count(*) FROM generate_series(1, 300000)")  # something for pg_stat_statements
        mon = pg.connect(maint_db, "maint_monitor", "mon-secret-1")
        with mon.cursor() as cur:
            cur.execute("SELECT database, size_bytes, connections, max_connections, xact_commit, cache_hit_ratio, "
                        "deadlocks, temp_bytes FROM get_database_stats()")
            stats = {r[0]: r for r in cur.fetchall()}
            assert stats[maint_db][1] > 0 and stats[maint_db][3] == 200 and stats[maint_db][4] > 0
            assert stats[maint_db][2] >= 1
            cur.execute("SELECT calls, mean_ms, query FROM get_slow_queries(5, 0)")
            slow = cur.fetchall()
            assert 1 <= len(slow) <= 5 and all(r[1] >= 0 for r in slow)
            cur.execute("SELECT * FROM get_slow_queries()")  # the documented call, defaults
            with pytest.raises(psycopg2.Error) as err:
                cur.execute("SELECT * FROM get_slow_queries(0)")
            assert "max_rows must be 1 or more" in str(err.value)
        mon.close()
        nobody = pg.connect(maint_db, "maint_nobody", "nobody-secret-1")
        with nobody.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SELECT * FROM get_database_stats()")  # EXECUTE is not granted to PUBLIC
        nobody.close()
    finally:
        pg.sql("DROP ROLE maint_monitor")
        pg.sql("DROP ROLE maint_nobody")


def test_slow_queries_without_the_extension_fails_clearly(pg, run, maint_db):
    assert run("--action", "functions", "--database", maint_db).code == 0
    q(pg, maint_db, "DROP EXTENSION pg_stat_statements")
    with pytest.raises(psycopg2.Error) as err:
        q(pg, maint_db, "SELECT * FROM get_slow_queries()")
    assert "needs the pg_stat_statements extension" in str(err.value)
    assert "shared_preload_libraries" in err.value.diag.message_hint
    # the server preloads it, so the next run creates the extension again
    result = run("--action", "functions", "--database", maint_db, "--json")
    assert result.doc["changed"] is True
    assert result.doc["results"]["functions"]["extension"]["action"] == "created"
    assert q(pg, maint_db, "SELECT count(*) >= 0 FROM get_slow_queries()") == [(True,)]


def test_functions_with_missing_monitor_role_fail_clearly(pg, run, maint_db):
    result = run("--action", "functions", "--database", maint_db, "--monitor-role", "no_such_monitor", "--json")
    assert result.code == 1, result
    assert "monitor_role 'no_such_monitor' does not exist" in result.doc["results"]["functions"]["msg"]
    failed, = find(result.entries, "ERROR", "functions", "failed")
    assert failed["fields"]["msg"].startswith("monitor_role 'no_such_monitor' does not exist")


def test_health_logs_drift_as_warnings(pg, run, maint_db):
    extra = [pg.connect() for number in range(6)]
    try:
        result = run("--action", "health", "--database", maint_db, "--connections-warn-pct", "1",
                     "--connections-crit-pct", "90", "--json")
        assert result.code == 0, result  # degraded is reported, not a failure
        health = result.doc["results"]["health"]
        assert health["status"] == "degraded"
        entry = [c for c in health["checks"] if c["name"] == "connections"][0]
        assert entry["status"] == "degraded"
        assert find(result.entries, "WARNING", "health", "check", check="connections", status="degraded")
        assert find(result.entries, "WARNING", "health", "done", status="degraded")
        assert find(result.entries, "INFO", "health", "check", check="backup_age", status="unknown")
    finally:
        for conn in extra:
            conn.close()


def test_health_over_the_local_socket_needs_no_tls(pg, run, maint_db):
    """The cron job connects over /var/run/postgresql: TLS does not apply to a Unix socket."""
    result = run("--action", "health", "--database", maint_db, "--json",
                 env=dict(PGHOST=str(pg.sockdir), PGSSLMODE="prefer"))
    assert result.code == 0, result
    entry = [c for c in result.doc["results"]["health"]["checks"] if c["name"] == "ssl"][0]
    assert entry["status"] == "healthy", entry
    assert entry["value"]["local_socket"] is True
    assert "local socket" in entry["message"]
    assert find(result.entries, action="health", event="done")  # the checks were logged
    assert not find(result.entries, action="health", event="check", check="ssl")


def test_health_unhealthy_exits_non_zero(pg, run, maint_db):
    conn = pg.connect(maint_db)
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        time.sleep(1.2)
        config = ("[maintenance]\ndatabase = %s\nidle_in_transaction_warn = 500ms\n"
                  "idle_in_transaction_crit = 1s\n" % maint_db)
        result = run("--action", "health", config_text=config)
        assert result.code == 1, result
        assert find(result.entries, "WARNING", "health", "check", check="long_transactions", status="unhealthy")
        assert "health: Health is unhealthy." in result.stdout
        assert find(result.entries, "ERROR", "health", "finish", failed="health", changed="no", exit="1")
        assert result.entries[-1]["event"] == "finish"
    finally:
        conn.close()


def test_all_runs_every_action(pg, run, maint_db):
    result = run("--action", "all", "--database", maint_db, "--json")
    assert result.code == 0, result
    assert result.doc["actions"] == ["vacuum", "reindex", "functions", "health", "report"]
    assert sorted(result.doc["results"]) == sorted(result.doc["actions"])
    assert all(r["failed"] is False for r in result.doc["results"].values())
    lines = result.log.splitlines()
    assert "] INFO action=all event=start database=maint_app check_mode=no" in lines[0]
    assert "] INFO action=all event=finish changed=yes exit=0" in lines[-1]
    for action in ("vacuum", "reindex", "functions", "health", "report"):
        assert find(result.entries, action=action), action
    assert {e["prog"] for e in result.entries} == {"frende-db-maintenance"}
    assert pg.password not in result.log + result.stdout + result.stderr


def test_report_writes_the_host_part_as_json_every_run(pg, run, maint_db, tmp_path):
    """The weekly history without AWX: the same facts as playbooks/report.yml gathers, one file per run."""
    result = run("--action", "report", "--database", maint_db, "--json")
    assert result.code == 0, result
    written = result.doc["results"]["report"]["report_file"]
    assert written.startswith(str(tmp_path / "reports" / "frende-db-report-")) and written.endswith(".json")
    facts = json.loads(open(written, encoding="utf-8").read())
    assert facts["reachable"] is True and facts["groups"] == ["frende_db"]
    assert {c["id"] for c in facts["checks"]} >= {"tls", "logging", "roles", "backups", "drills"}
    assert "postgres" in {r["name"] for r in facts["roles"]}
    assert facts["failed_logins"]["window_days"] == 30
    assert find(result.entries, action="report", event="written")
    assert pg.password not in open(written, encoding="utf-8").read()

    dry = run("--action", "report", "--database", maint_db, "--json", "--check")
    assert dry.code == 0 and dry.doc["changed"] is False
    assert len(list((tmp_path / "reports").iterdir())) == 1

    for bad, message in (("relative/dir", "--report-dir must be an absolute path, got 'relative/dir'"),
                         (" ", "--report-dir must be a file system path")):
        refused = run("--action", "report", "--database", maint_db, "--report-dir", bad)
        assert refused.code == 2 and message in refused.stderr, refused
    off = run("--action", "report", "--database", maint_db, "--report-dir", "none", "--json")
    assert off.code == 0 and "report_dir = none" in off.doc["results"]["report"]["msg"]


def test_unreachable_server_exits_non_zero_with_a_clear_line(run, maint_db):
    result = run("--action", "all", "--database", maint_db, "--login-port", str(free_port()),
                 "--connect-timeout", "3", "--json")
    assert result.code == 1, result
    failed, = find(result.entries, "ERROR", "connect", "failed", database="maint_app")
    assert failed["fields"]["msg"].startswith("Could not connect to PostgreSQL database 'maint_app'")
    assert "Connection refused" in failed["fields"]["msg"]
    assert all(r["failed"] for r in result.doc["results"].values())
    assert "] ERROR action=connect event=failed database=maint_app msg=" in result.stderr


def test_missing_database_exits_non_zero(run):
    result = run("--action", "vacuum", "--database", "no_such_database")
    assert result.code == 1, result
    failed, = find(result.entries, "ERROR", "connect", "failed", database="no_such_database")
    assert 'database "no_such_database" does not exist' in failed["fields"]["msg"]


def test_usage_errors_exit_2_do_nothing_and_leave_an_error_line(run, tmp_path):
    """Cron loses stderr: a refused setting is also one ERROR line in the log (and nothing else happens)."""
    bad_name = run("--action", "vacuum", "--database", 'x"; DROP TABLE t; --')
    assert bad_name.code == 2 and "is not an accepted name" in bad_name.stderr
    failed, = bad_name.entries
    assert (failed["level"], failed["action"], failed["event"]) == ("ERROR", "vacuum", "failed")
    assert "is not an accepted name" in failed["fields"]["msg"]
    bad_pct = run("--action", "reindex", "--database", "maint_app", "--reindex-bloat-threshold-pct", "-5")
    assert bad_pct.code == 2 and "--reindex-bloat-threshold-pct must be between 0 and 100" in bad_pct.stderr
    bad_file = run("--action", "health", config_text="[maintenance]\ndatabase = maint_app\nmax_backup_age = soon\n")
    assert bad_file.code == 2 and "max_backup_age must be a duration" in bad_file.stderr
    secret = run("--action", "health", config_text="[maintenance]\npassword = hunter2\n")
    assert secret.code == 2 and "passwords are never read" in secret.stderr and "hunter2" not in secret.stderr
    assert "passwords are never read" in secret.log and "hunter2" not in secret.log
    unknown = run("--action", "cleanup", "--database", "maint_app")
    assert unknown.code == 2 and "invalid choice" in unknown.stderr


def test_configuration_file_is_used(pg, maint_db, tmp_path):
    log_file = tmp_path / "from-config.log"
    config = tmp_path / "m.conf"
    # The policy keys as the role's maintenance.conf.j2 writes them (none of them is a password).
    policy = ("expected_max_connections = 200\nexpected_authentication_timeout = 60s\n"
              "expected_ssl_min_protocol_version = TLSv1.2\nexpected_password_encryption = scram-sha-256\n"
              "expected_log_connections = on\nexpected_log_disconnections = on\n")
    config.write_text("[maintenance]\ndatabase = %s\nlog_file = %s\nlogin_port = %d\n%s"
                      % (maint_db, log_file, pg.port, policy))
    env = pg.env()
    del env["PGPORT"]  # the port comes from the file
    proc = subprocess.run([str(COMMAND), "--config", str(config), "--action", "vacuum"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    entries = [parse(line) for line in log_file.read_text().splitlines()]
    assert find(entries, "INFO", "vacuum", "done", database="maint_app", msg="VACUUM (ANALYZE) done")
    assert proc.stdout == "vacuum: VACUUM (ANALYZE) done.\n"


def test_functions_on_a_server_without_pg_stat_statements_preloaded(tmp_path):
    """Install succeeds and says why get_slow_queries() cannot work yet; the call then fails clearly."""
    server = PgServer().start()
    try:
        with open(server.data / "postgresql.conf", "a") as conf:
            conf.write("shared_preload_libraries = ''\n")  # the last line wins
        server._run("pg_ctl", "-D", str(server.data), "-l", str(server.log), "-w", "-t", "60", "restart")
        assert server.sql("SHOW shared_preload_libraries") == [("",)]
        log_file = tmp_path / "m.log"
        proc = subprocess.run([str(COMMAND), "--config", str(tmp_path / "none.conf"), "--action", "functions",
                               "--database", "postgres", "--log-file", str(log_file), "--json"],
                              capture_output=True, text=True, env=server.env(), timeout=120, check=False)
        assert proc.returncode == 2 and "does not exist" in proc.stderr  # --config given but missing
        (tmp_path / "empty.conf").write_text("[maintenance]\n")
        proc = subprocess.run([str(COMMAND), "--config", str(tmp_path / "empty.conf"), "--action", "functions",
                               "--database", "postgres", "--log-file", str(log_file), "--json"],
                              capture_output=True, text=True, env=server.env(), timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        extension = doc["results"]["functions"]["extension"]
        assert extension == dict(name="pg_stat_statements", installed=False, preloaded=False, action="unchanged")
        warning, = find([parse(line) for line in log_file.read_text().splitlines()], "WARNING", "functions",
                        "not-preloaded", extension="pg_stat_statements")
        assert warning["fields"]["msg"].startswith("pg_stat_statements is not in shared_preload_libraries")
        with pytest.raises(psycopg2.Error) as err:
            server.sql("SELECT * FROM get_slow_queries()")
        assert "needs the pg_stat_statements extension" in str(err.value)

        # installed by hand but not preloaded: the view itself refuses, the function says what to do
        server.sql("CREATE EXTENSION pg_stat_statements")
        with pytest.raises(psycopg2.Error) as err:
            server.sql("SELECT * FROM get_slow_queries()")
        assert "cannot read pg_stat_statements" in str(err.value)
        assert "shared_preload_libraries" in str(err.value)
        assert err.value.diag.message_hint.startswith("Add pg_stat_statements to shared_preload_libraries")
        assert server.sql("SELECT count(*) > 0 FROM get_database_stats()") == [(True,)]
    finally:
        server.destroy()


def test_monitor_access_lets_the_monitoring_role_connect_and_audit_the_access_rules(pg, run, maint_db):
    """monitor_access = on (the role's maintenance.conf): CONNECT and pg_hba_file_rules for the monitoring role,
    granted once, checked in check mode, and reported as unchanged afterwards."""
    pg.sql("SET log_statement = 'none'; DROP ROLE IF EXISTS maint_access; "
           "CREATE ROLE maint_access LOGIN PASSWORD 'access-secret-1' IN ROLE pg_monitor")
    pg.sql('REVOKE CONNECT ON DATABASE "%s" FROM PUBLIC' % maint_db)
    try:
        with pytest.raises(psycopg2.OperationalError):
            pg.connect(maint_db, "maint_access", "access-secret-1")
        flags = ("--action", "functions", "--database", maint_db, "--monitor-role", "maint_access",
                 "--monitor-access", "on", "--json")
        checked = run(*flags, "--check")
        assert checked.code == 0 and checked.doc["changed"] is True
        assert checked.doc["results"]["functions"]["access_granted"] == ["connect", "hba_view", "hba_function"]
        with pytest.raises(psycopg2.OperationalError):
            pg.connect(maint_db, "maint_access", "access-secret-1")
        done = run(*flags)
        assert done.code == 0 and done.doc["changed"] is True
        mon = pg.connect(maint_db, "maint_access", "access-secret-1")
        with mon.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_hba_file_rules")
            assert cur.fetchone()[0] > 0
        mon.close()
        granted = find(done.entries, "INFO", "functions", "changed", monitor_role="maint_access")
        assert sorted(e["fields"]["access"] for e in granted if "access" in e["fields"]) == [
            "connect", "hba_function", "hba_view"]
        again = run(*flags)
        assert again.doc["changed"] is False and again.doc["results"]["functions"]["access_granted"] == []
    finally:
        pg.sql("DROP OWNED BY maint_access", dbname=maint_db)
        pg.sql("DROP OWNED BY maint_access; DROP ROLE maint_access")
