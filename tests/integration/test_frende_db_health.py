"""frende.db.frende_db_health through Ansible against a real PostgreSQL (15, or 17 through scripts/integration-pg17.sh).

These tests use a server of their own (the ``pg`` fixture below shadows the
session one): they change server settings with ALTER SYSTEM, hold transactions
open and count failed logins in the server log, none of which may leak into or
depend on the other suites. The server is set up like the session one (TLS,
SCRAM, the security document's settings).
"""

from __future__ import annotations

import datetime
import json
import subprocess
import time

import psycopg2
import pytest

from ansible_collections.frende.db.plugins.module_utils._backup import catalog
from tests.support.pgserver import PG_VERSION, PgServer, free_port
from tests.support.playbook import run_module, run_module_verbose, run_tasks

MODULE = "frende.db.frende_db_health"
CHECK_ORDER = ["connection", "ssl", "certificate", "data_checksums", "settings.max_connections", "settings.authentication_timeout",
               "settings.log_connections", "settings.log_disconnections", "settings.password_encryption",
               "connections", "long_transactions", "database_size", "hba", "roles", "password_age", "failed_auth", "backup_age",
               "wal_archive", "repository"]
# Without a backup host there is no archiving and no repository: unknown, never an error.
NO_BACKUP_HOST = {"wal_archive", "repository"}


@pytest.fixture(scope="module")
def pg():
    server = PgServer().start()
    yield server
    server.destroy()


@pytest.fixture()
def backups(tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    return directory


def write_manifest(directory, hours_ago, database="frende"):
    """A complete backup set as _backup/catalog lists it: the manifest marks it complete."""
    finished = catalog.utc_now() - datetime.timedelta(hours=hours_ago)
    name = catalog.set_name(database, finished)
    (directory / (name + catalog.MANIFEST_SUFFIX)).write_text(json.dumps(dict(
        database=database, started_at=(finished - datetime.timedelta(minutes=2)).isoformat(),
        finished_at=finished.isoformat(), files=[])))
    return name


def args(pg, backups, **over):
    result = pg.params(server_log=str(pg.log), backup_dir=str(backups))
    result.update(over)
    return result


def by_name(result):
    return {c["name"]: c for c in result["checks"]}


def set_and_reload(pg, name, value, shown):
    """ALTER SYSTEM (value None: RESET) + reload; wait until new sessions show ``shown``."""
    if value is None:
        pg.sql("ALTER SYSTEM RESET %s" % name)
    else:
        pg.sql("ALTER SYSTEM SET %s = %%s" % name, (value,))
    pg.sql("SELECT pg_reload_conf()")
    for attempt in range(100):
        if pg.sql("SELECT current_setting(%s)", (name,))[0][0] == shown:
            return
        time.sleep(0.05)
    raise AssertionError("%s did not become %s after reload" % (name, shown))


def test_healthy_report_on_the_policy_server(pg, backups):
    write_manifest(backups, hours_ago=1)
    record = backups.parent / "app-login.json"  # the role's record of when the application password was set
    record.write_text(json.dumps(dict(active="frende_app", phase="done", set_at=dict(
        frende_app=(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3)).isoformat()))))
    result = run_module(MODULE, args(pg, backups, password_record=str(record)))
    assert not result.failed, result
    assert result["status"] == "healthy"
    assert result.changed is False
    checks = by_name(result)
    assert [c["name"] for c in result["checks"]] == CHECK_ORDER
    assert all(c["status"] == "healthy" for c in result["checks"] if c["name"] not in NO_BACKUP_HOST), result["checks"]
    assert [checks[name]["status"] for name in sorted(NO_BACKUP_HOST)] == ["unknown", "unknown"]
    assert set(result["checks"][0]) == {"name", "status", "value", "threshold", "message"}
    assert checks["connection"]["value"]["server_version"].startswith(PG_VERSION + ".")
    assert checks["connection"]["value"]["latency_ms"] > 0
    assert checks["ssl"]["value"]["connection_ssl"] is True
    assert checks["ssl"]["value"]["protocol"].startswith("TLSv1.")
    assert checks["settings.max_connections"]["value"] == 200
    assert checks["settings.authentication_timeout"]["value"] == "60s"
    assert checks["database_size"]["value"]["database"] == "postgres"
    assert checks["database_size"]["value"]["bytes"] > 1000000
    assert "template1" in checks["database_size"]["value"]["all"]
    assert checks["hba"]["value"]["rules"] == 5
    assert checks["failed_auth"]["value"]["files"] == [str(pg.log)]
    assert checks["backup_age"]["value"]["age_seconds"] < 2 * 3600
    assert checks["password_age"]["value"]["age_seconds"] == pytest.approx(3 * 86400, abs=120)


def test_check_mode_reports_the_same_and_changes_nothing(pg, backups):
    result = run_module(MODULE, args(pg, backups), check=True)
    assert not result.failed, result
    assert result.changed is False
    assert result["status"] == "healthy"
    assert len(result["checks"]) == len(CHECK_ORDER)


def test_drifted_setting_degrades_its_entry_and_the_status(pg, backups):
    write_manifest(backups, hours_ago=1)
    set_and_reload(pg, "authentication_timeout", "2min", "2min")
    try:
        result = run_module(MODULE, args(pg, backups))
        assert not result.failed, result  # degraded does not fail with the default fail_on
        assert result["status"] == "degraded"
        entry = by_name(result)["settings.authentication_timeout"]
        assert entry["status"] == "degraded"
        assert entry["value"] == "120s" and entry["threshold"] == "60s"
        assert "the policy says 60s" in entry["message"]
        assert by_name(result)["settings.max_connections"]["status"] == "healthy"

        strict = run_module(MODULE, args(pg, backups, fail_on="degraded"))
        assert strict.failed
        assert "settings.authentication_timeout is degraded" in strict["msg"]
        assert strict["status"] == "degraded" and len(strict["checks"]) == len(CHECK_ORDER)

        # the expected value is an option: a policy of 2min makes the server compliant again
        relaxed = run_module(MODULE, args(pg, backups, expected=dict(authentication_timeout="2min")))
        assert by_name(relaxed)["settings.authentication_timeout"]["status"] == "healthy"
    finally:
        set_and_reload(pg, "authentication_timeout", None, "1min")
    again = run_module(MODULE, args(pg, backups))
    assert by_name(again)["settings.authentication_timeout"]["status"] == "healthy"


def test_logging_settings_drift(pg, backups):
    set_and_reload(pg, "log_disconnections", "off", "off")
    try:
        result = run_module(MODULE, args(pg, backups))
        entry = by_name(result)["settings.log_disconnections"]
        assert entry["status"] == "degraded" and entry["value"] is False and entry["threshold"] is True
    finally:
        set_and_reload(pg, "log_disconnections", None, "on")


def test_idle_in_transaction_session(pg, backups):
    conn = pg.connect()
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        time.sleep(1.5)
        tiny = dict(idle_in_transaction_warn="1s", idle_in_transaction_crit="1h",
                    long_transaction_warn="1s", long_transaction_crit="1h")
        result = run_module(MODULE, args(pg, backups, fail_on="never", **tiny))
        entry = by_name(result)["long_transactions"]
        assert entry["status"] == "degraded", entry
        assert entry["value"]["idle_in_transaction"]["pid"] == pid
        assert entry["value"]["idle_in_transaction_seconds"] >= 1.5
        assert entry["value"]["oldest_transaction"]["pid"] == pid
        assert result["status"] == "degraded"

        tiny.update(idle_in_transaction_crit="1s")
        failing = run_module(MODULE, args(pg, backups, **tiny))
        assert failing.failed and failing["status"] == "unhealthy"
        assert by_name(failing)["long_transactions"]["status"] == "unhealthy"
        assert "long_transactions is unhealthy" in failing["msg"]
    finally:
        conn.close()
    # default thresholds (5min): the same session would have been fine
    assert by_name(run_module(MODULE, args(pg, backups)))["long_transactions"]["status"] == "healthy"


def test_connection_thresholds(pg, backups):
    extra = [pg.connect() for number in range(6)]
    try:
        result = run_module(MODULE, args(pg, backups, connections_warn_pct=1, connections_crit_pct=50))
        entry = by_name(result)["connections"]
        assert entry["status"] == "degraded", entry
        assert entry["value"]["used"] >= 7 and entry["value"]["max"] == 200
        assert entry["value"]["by_state"].get("idle", 0) >= 6
        assert entry["threshold"] == {"warn_pct": 1, "crit_pct": 50}

        crit = run_module(MODULE, args(pg, backups, connections_warn_pct=1, connections_crit_pct=2))
        assert crit.failed and crit["status"] == "unhealthy"
        assert "connection pool exhaustion" in by_name(crit)["connections"]["message"]
    finally:
        for conn in extra:
            conn.close()


def test_failed_authentication_is_counted(pg, backups):
    before = by_name(run_module(MODULE, args(pg, backups, fail_on="never")))["failed_auth"]["value"]["count"]
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(pg.dsn(user="health_intruder", password="not-the-password"))
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(pg.dsn(user="postgres", password="wrong-password"))
    result = run_module(MODULE, args(pg, backups, fail_on="never"))
    entry = by_name(result)["failed_auth"]
    assert entry["value"]["count"] == before + 2
    assert entry["value"]["by_user"]["health_intruder"] == 1
    assert entry["value"]["by_client"].get("127.0.0.1", 0) >= 2
    assert entry["status"] == "healthy"  # 2 is not above the default 10

    warned = run_module(MODULE, args(pg, backups, fail_on="never", failed_auth_warn=1))
    assert by_name(warned)["failed_auth"]["status"] == "degraded"
    assert "health_intruder" in by_name(warned)["failed_auth"]["message"] or \
        "postgres" in by_name(warned)["failed_auth"]["message"]

    short = run_module(MODULE, args(pg, backups, fail_on="never", failed_auth_window="1ms"))
    assert by_name(short)["failed_auth"]["value"]["count"] == 0


def test_failed_auth_unknown_when_log_unreadable(pg, backups, tmp_path):
    result = run_module(MODULE, args(pg, backups, server_log=str(tmp_path / "no-such.log")))
    assert not result.failed, result
    entry = by_name(result)["failed_auth"]
    assert entry["status"] == "unknown"
    assert "not readable" in entry["message"] and "server_log" in entry["message"]
    assert result["status"] == "healthy"


def test_server_log_directory(pg, backups):
    result = run_module(MODULE, args(pg, backups, server_log=str(pg.log.parent)))
    entry = by_name(result)["failed_auth"]
    assert entry["status"] in ("healthy", "degraded")
    assert str(pg.log) in entry["value"]["files"]


def test_unencrypted_connection_is_not_healthy(pg, backups):
    result = run_module(MODULE, args(pg, backups, ssl_mode="disable", ssl_rootcert=None))
    assert not result.failed, result
    entry = by_name(result)["ssl"]
    assert entry["status"] == "degraded"
    assert entry["value"]["connection_ssl"] is False
    assert "not encrypted" in entry["message"]
    assert result["status"] == "degraded"


def socket_args(pg, backups, **over):
    """Connection over the server's Unix socket, as the role's health task connects."""
    result = args(pg, backups, login_unix_socket=str(pg.sockdir), **over)
    for key in ("login_host", "ssl_mode", "ssl_rootcert"):
        result.pop(key)
    return result


def test_local_socket_needs_no_tls(pg, backups):
    write_manifest(backups, hours_ago=1)
    result = run_module(MODULE, socket_args(pg, backups))
    assert not result.failed, result
    entry = by_name(result)["ssl"]
    assert entry["status"] == "healthy", entry
    assert entry["value"]["local_socket"] is True
    assert entry["value"]["connection_ssl"] is False
    assert entry["value"]["server_ssl"] == "on"
    assert "local socket" in entry["message"]
    assert result["status"] == "healthy", result["checks"]


def test_local_socket_still_checks_the_server_tls_settings(pg, backups):
    result = run_module(MODULE, socket_args(pg, backups, expected=dict(ssl_min_protocol_version="TLSv1.3")))
    entry = by_name(result)["ssl"]
    assert entry["status"] == "degraded"
    assert entry["value"]["local_socket"] is True
    assert "at least TLSv1.3" in entry["message"]


def test_tcp_without_tls_stays_degraded(pg, backups):
    """127.0.0.1 over TCP is a network connection: no exemption for it."""
    result = run_module(MODULE, args(pg, backups, login_host="127.0.0.1", ssl_mode="disable", ssl_rootcert=None))
    entry = by_name(result)["ssl"]
    assert entry["status"] == "degraded"
    assert entry["value"]["local_socket"] is False
    assert "not encrypted" in entry["message"]


def test_weak_tls_minimum_policy(pg, backups):
    result = run_module(MODULE, args(pg, backups, expected=dict(ssl_min_protocol_version="TLSv1.3")))
    entry = by_name(result)["ssl"]
    assert entry["status"] == "degraded"
    assert "at least TLSv1.3" in entry["message"]


def test_down_server(pg, backups):
    down = args(pg, backups, login_port=free_port(), connect_timeout=3)
    result = run_module(MODULE, down)
    assert result.failed
    assert result["status"] == "unhealthy"
    checks = by_name(result)
    assert checks["connection"]["status"] == "unhealthy"
    assert "not reachable" in checks["connection"]["message"]
    assert "Connection refused" in checks["connection"]["message"]
    others = [c for c in result["checks"] if c["name"] != "connection"]
    assert others and all(c["status"] == "unknown" for c in others)
    assert "connection is unhealthy" in result["msg"]

    tolerant = run_module(MODULE, dict(down, fail_on="never"))
    assert not tolerant.failed
    assert tolerant["status"] == "unhealthy" and tolerant.changed is False


def test_backup_age(pg, backups):
    empty = by_name(run_module(MODULE, args(pg, backups)))["backup_age"]
    assert empty["status"] == "unknown" and "No complete backup" in empty["message"]

    name = write_manifest(backups, hours_ago=30)
    old = run_module(MODULE, args(pg, backups))
    entry = by_name(old)["backup_age"]
    assert entry["status"] == "degraded"
    assert entry["value"]["newest"] == name
    assert 29 * 3600 < entry["value"]["age_seconds"] < 31 * 3600
    assert "recovery point objective" in entry["message"]
    assert old["status"] == "degraded"

    relaxed = run_module(MODULE, args(pg, backups, max_backup_age="2d"))
    assert by_name(relaxed)["backup_age"]["status"] == "healthy"

    fresh = write_manifest(backups, hours_ago=0.1)
    entry = by_name(run_module(MODULE, args(pg, backups)))["backup_age"]
    assert entry["status"] == "healthy" and entry["value"]["newest"] == fresh


def test_non_superuser_pg_monitor_member_over_tls(pg, backups):
    write_manifest(backups, hours_ago=1)
    password = "mon-" + str(time.time_ns())
    conn = pg.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET log_statement = 'none'")  # the test's own CREATE ROLE must not log the password
            cur.execute("CREATE ROLE health_monitor LOGIN NOSUPERUSER PASSWORD %s IN ROLE pg_monitor", (password,))
    finally:
        conn.close()
    try:
        monitor = args(pg, backups, login_user="health_monitor", login_password=password)
        result = run_module(MODULE, monitor)
        assert not result.failed, result
        checks = by_name(result)
        assert checks["hba"]["status"] == "unknown"
        assert "GRANT SELECT ON pg_hba_file_rules TO health_monitor" in checks["hba"]["message"]
        assert "GRANT EXECUTE ON FUNCTION pg_hba_file_rules() TO health_monitor" in checks["hba"]["message"]
        others = [c for c in result["checks"] if c["name"] not in ("hba", "password_age") and c["name"] not in NO_BACKUP_HOST]
        assert all(c["status"] == "healthy" for c in others), others
        assert checks["password_age"]["status"] == "unknown"  # no password_record given
        assert checks["ssl"]["value"]["connection_ssl"] is True
        assert result["status"] == "healthy"

        pg.sql("GRANT SELECT ON pg_hba_file_rules TO health_monitor")
        pg.sql("GRANT EXECUTE ON FUNCTION pg_hba_file_rules() TO health_monitor")
        granted = by_name(run_module(MODULE, monitor))
        assert granted["hba"]["status"] == "healthy"
        assert granted["hba"]["value"]["rules"] == 5

        # the password of the monitoring role shows nowhere: not in -vvv output, not in the server log
        verbose = run_module_verbose(MODULE, monitor)
        assert "frende_db_health" in verbose
        assert password not in verbose
        assert password not in pg.server_log()
    finally:
        pg.sql("REVOKE SELECT ON pg_hba_file_rules FROM health_monitor")
        pg.sql("REVOKE EXECUTE ON FUNCTION pg_hba_file_rules() FROM health_monitor")
        pg.sql("DROP ROLE health_monitor")


def test_database_option(pg, backups):
    pg.sql("CREATE DATABASE health_app")
    try:
        result = run_module(MODULE, args(pg, backups, database="health_app"))
        entry = by_name(result)["database_size"]
        assert entry["status"] == "healthy" and entry["value"]["database"] == "health_app"
        missing = run_module(MODULE, args(pg, backups, database="health_missing", fail_on="never"))
        assert by_name(missing)["database_size"]["status"] == "unhealthy"
        assert "does not exist" in by_name(missing)["database_size"]["message"]
    finally:
        pg.sql("DROP DATABASE health_app")


BAD_INPUT = [
    (dict(connections_warn_pct="eighty"), "connections_warn_pct"),
    (dict(connections_warn_pct=-5), "connections_warn_pct must be between 1 and 100"),
    (dict(connections_crit_pct=150), "connections_crit_pct must be between 1 and 100"),
    (dict(connections_warn_pct=90, connections_crit_pct=90), "must be lower than connections_crit_pct"),
    (dict(long_transaction_warn="soon"), "long_transaction_warn must be a duration"),
    (dict(long_transaction_crit="-1min"), "long_transaction_crit must be a duration"),
    (dict(idle_in_transaction_warn="2h"), "must not be longer than idle_in_transaction_crit"),
    (dict(idle_in_transaction_crit="0"), "idle_in_transaction_crit must be longer than zero"),
    (dict(failed_auth_window="yesterday"), "failed_auth_window must be a duration"),
    (dict(failed_auth_warn=-1), "failed_auth_warn must be at least 0"),
    (dict(failed_auth_warn="ten"), "failed_auth_warn"),
    (dict(max_backup_age="old"), "max_backup_age must be a duration"),
    (dict(expected=dict(max_connections="many")), "max_connections"),
    (dict(expected=dict(max_connections=0)), "expected.max_connections must be between"),
    (dict(expected=dict(authentication_timeout="forever")), "expected.authentication_timeout must be a duration"),
    (dict(expected=dict(ssl_min_protocol_version="SSLv3")), "ssl_min_protocol_version"),
    (dict(database='x"; DROP TABLE t; --'), "database"),
    (dict(backup_dir=""), "backup_dir must be a file system path"),
    (dict(server_log=""), "server_log must be a file system path"),
    (dict(fail_on="sometimes"), "fail_on"),
    (dict(login_port=70000), "login_port must be between 1 and 65535"),
]


def test_bad_input_gives_clear_messages(pg, backups):
    tasks = []
    for over, words in BAD_INPUT:
        task_args = args(pg, backups)
        task_args.update(over)
        tasks.append({"name": "bad " + ",".join(over), MODULE: task_args, "ignore_errors": True})
    results = run_tasks(tasks)[1]
    assert len(results) == len(BAD_INPUT)
    for (over, words), result in zip(BAD_INPUT, results):
        assert result.get("failed"), (over, result)
        assert words in result["msg"], (over, result["msg"])
        assert "checks" not in result, (over, result)  # refused before anything was measured


@pytest.fixture
def german_messages(pg):
    """The server writes its log in German (lc_messages de_DE.UTF-8), as a host with a German locale would."""
    if "de_DE.utf8" not in subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True).stdout:
        made = subprocess.run(["localedef", "-i", "de_DE", "-c", "-f", "UTF-8", "de_DE.UTF-8"], capture_output=True,
                              text=True, check=False)
        if made.returncode not in (0, 1):  # 1: warnings only
            pytest.skip("cannot make the de_DE.UTF-8 locale here: %s" % made.stderr.strip())
    pg.sql("ALTER SYSTEM SET lc_messages = 'de_DE.UTF-8'")
    reload_until(pg, "de_DE.UTF-8")
    yield
    pg.sql("ALTER SYSTEM RESET lc_messages")
    reload_until(pg, None)


def reload_until(pg, lc_messages):
    """Reload and wait until new sessions see lc_messages (None: anything but de_DE.UTF-8)."""
    pg.sql("SELECT pg_reload_conf()")
    for dummy in range(100):
        value = pg.sql("SHOW lc_messages")[0][0]
        if value == lc_messages or (lc_messages is None and value != "de_DE.UTF-8"):
            return
        time.sleep(0.1)
    raise AssertionError("lc_messages did not become %r after a reload" % lc_messages)


def test_failed_auth_is_unknown_not_zero_when_the_log_is_not_english(pg, backups, german_messages):
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(pg.dsn(user="health_intruder_de", password="not-the-password"))
    assert "Passwort-Authentifizierung" in pg.server_log() or "fehlgeschlagen" in pg.server_log()
    entry = by_name(run_module(MODULE, args(pg, backups, fail_on="never")))["failed_auth"]
    assert entry["status"] == "unknown", entry
    assert entry["value"] == {"lc_messages": "de_DE.UTF-8"}
    assert "lc_messages = 'C'" in entry["message"]


def archiver_counts(server, column):
    """Wait (up to 10 s) until pg_stat_archiver's ``column`` has counted something."""
    for _attempt in range(100):
        if server.sql("SELECT %s FROM pg_stat_archiver" % column)[0][0] > 0:
            return
        time.sleep(0.1)


def test_wal_archive_follows_pg_stat_archiver_of_an_archiving_server(tmp_path, backups):
    """A server that archives (cp into a directory), then one whose archive_command fails."""
    server = PgServer().start()
    try:
        archive = server.base / "archive"
        archive.mkdir()
        server._chown(archive)
        status = server.base / "archive-ok"
        status.touch()
        server._chown(status)
        # The command fails while the file archive-ok is missing: archiving breaks without a restart.
        with open(server.data / "postgresql.conf", "a") as conf:
            conf.write("archive_mode = on\narchive_command = 'test -f %s && cp %%p %s/%%f'\n" % (status, archive))
        server._run("pg_ctl", "-D", str(server.data), "-l", str(server.log), "-w", "-t", "60", "restart")
        server.sql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS x")
        server.sql("SELECT pg_switch_wal()")
        archiver_counts(server, "archived_count")
        healthy = by_name(run_module(MODULE, args(server, backups)))["wal_archive"]
        assert healthy["status"] == "healthy", healthy
        assert healthy["value"]["last_archived_wal"] and healthy["value"]["segments_waiting"] == 0
        status.unlink()
        server.sql("INSERT INTO t SELECT generate_series(1, 1000)")
        server.sql("SELECT pg_switch_wal()")
        archiver_counts(server, "failed_count")
        failing = run_module(MODULE, args(server, backups, fail_on="never"))
        entry = by_name(failing)["wal_archive"]
        assert entry["status"] == "unhealthy" and "WAL archiving is failing" in entry["message"], entry
        assert failing["status"] == "unhealthy"
    finally:
        server.destroy()


def test_a_stanza_the_repository_does_not_have_is_unhealthy_not_a_crash(pg, backups):
    """A stanza named that this host's pgBackRest cannot find: pgBackRest's own words, status unhealthy."""
    entry = by_name(run_module(MODULE, args(pg, backups, repository_stanza="frende", fail_on="never")))["repository"]
    assert entry["status"] == "unhealthy" and "pgbackrest" in entry["message"], entry


def test_roles_names_a_second_superuser_an_unmanaged_login_and_app_privileges_beyond_its_preset(pg, backups):
    pg.sql("CREATE ROLE health_app LOGIN CONNECTION LIMIT 5")
    pg.sql("CREATE TABLE health_roles_t (id int)")
    try:
        clean = by_name(run_module(MODULE, args(pg, backups, fail_on="never", app_role="health_app",
                                                managed_roles=["health_app"])))["roles"]
        assert clean["status"] == "healthy", clean
        pg.sql("CREATE ROLE health_eve LOGIN SUPERUSER")
        pg.sql("GRANT TRUNCATE ON health_roles_t TO health_app")
        found = by_name(run_module(MODULE, args(pg, backups, fail_on="never", app_role="health_app",
                                                managed_roles=["health_app"])))["roles"]
        assert found["status"] == "degraded"
        assert "health_eve has SUPERUSER" in found["message"]
        assert "health_eve can log in and is not managed by frende.db" in found["message"]
        assert "health_app has more than its preset: TRUNCATE on table health_roles_t" in found["message"]
    finally:
        pg.sql("DROP TABLE IF EXISTS health_roles_t")
        pg.sql("DROP ROLE IF EXISTS health_eve")
        pg.sql("DROP ROLE IF EXISTS health_app")
