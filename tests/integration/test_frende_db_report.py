"""frende.db.frende_db_report through Ansible against a real PostgreSQL with pgaudit preloaded.

A server of its own (pgaudit needs a restart, failed logins and audit events are counted): a known
number of wrong-password logins, DDL and role changes, backup sets with their verification and drill
reports, audit trail and health log lines, and the report must show exactly those counts.
"""

from __future__ import annotations

import datetime
import json

import psycopg2
import pytest

from ansible_collections.frende.db.plugins.module_utils._backup import catalog
from ansible_collections.frende.db.plugins.module_utils._report import document, html
from tests.support.pgserver import PgServer
from tests.support.playbook import run_module

MODULE = "frende.db.frende_db_report"
WRONG_LOGINS = 7
SECRET = "report-secret-Pa55word-xyz"


@pytest.fixture(scope="module")
def pg():
    server = PgServer().start()
    server.sql("ALTER SYSTEM SET shared_preload_libraries = 'pgaudit'")
    server.sql("ALTER SYSTEM SET log_line_prefix = '%m [%p] %q%u@%d app=%a '")
    # As the role sets it: DDL is in the trail through pgaudit, which redacts passwords (log_statement would not).
    server.sql("ALTER SYSTEM SET log_statement = none")
    server.stop()
    server._run("pg_ctl", "-D", str(server.data), "-l", str(server.log), "-w", "-t", "60", "start")
    server.sql("ALTER SYSTEM SET pgaudit.log = 'ddl, role'")
    server.sql("ALTER SYSTEM SET pgaudit.log_parameter = off")
    server.sql("SELECT pg_reload_conf()")
    server.sql("CREATE EXTENSION IF NOT EXISTS pgaudit")
    server.sql("CREATE DATABASE frende")
    server.sql("CREATE ROLE frende_monitor LOGIN CONNECTION LIMIT 5 IN ROLE pg_monitor")
    server.sql("CREATE ROLE frende_app LOGIN CONNECTION LIMIT 50 PASSWORD %s", (SECRET,))
    server.sql("CREATE ROLE stranger LOGIN CREATEDB")
    server.sql("CREATE TABLE items (id int)", dbname="frende")
    server.sql("GRANT SELECT, INSERT ON items TO frende_app", dbname="frende")
    server.sql("ALTER ROLE frende_app PASSWORD %s", (SECRET + "2",))
    for attempt in range(WRONG_LOGINS):
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(server.dsn(user="frende_app", password="wrong-%d" % attempt))
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def host_files(tmp_path_factory):
    """A backup directory with 3 sets (one failed verify, one 40 days old), 2 drills; audit and health logs."""
    base = tmp_path_factory.mktemp("report-host")
    backups = base / "backups"
    backups.mkdir()
    now = catalog.utc_now()
    for days, verified, encrypted in ((1, True, True), (2, False, True), (40, True, False)):
        finished = now - datetime.timedelta(days=days)
        name = catalog.set_name("frende", finished)
        (backups / (name + catalog.MANIFEST_SUFFIX)).write_text(json.dumps(dict(
            database="frende", started_at=(finished - datetime.timedelta(seconds=30)).isoformat(),
            finished_at=finished.isoformat(), duration_s=30.0, size=4096 * days, encrypted=encrypted, files={})))
        (backups / (name + catalog.VERIFY_SUFFIX)).write_text(json.dumps(dict(ok=verified, level="restore")))
    for days, passed in ((3, True), (1, False)):
        finished = now - datetime.timedelta(days=days)
        (backups / ("drill-%s.json" % catalog.stamp(finished))).write_text(json.dumps(dict(
            finished_at=finished.isoformat(), achieved_rto_s=42.5, achieved_rpo_s=3600.0, rto_target_s=1800,
            rpo_target_s=86400, passed=passed)))
    stamp = (now - datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = (now - datetime.timedelta(days=45)).strftime("%Y-%m-%dT%H:%M:%SZ")
    audit = base / "audit.log"
    audit.write_text("".join(
        '%s frende.db INFO action=audit event=changed playbook="%s" user="ops" awx_job="-" tasks=1 msg="%s"\n'
        % (when, book, task) for when, book, task in (
            (stamp, "setup.yml", "Set the application password"), (stamp, "rotate_password.yml", "Open the other role"),
            (old, "setup.yml", "too old to count"))))
    health = base / "health.log"
    health.write_text("".join(
        "%s frende-db-maintenance[1] INFO action=health event=done status=healthy connections_used=%d "
        "max_connections=200\n" % (stamp, used) for used in (3, 17, 5)))
    return dict(backups=backups, audit=audit, health=health, base=base)


def gather(pg, files, **over):
    params = pg.params(login_db="frende", database="frende", kinds=["database"], server_log=str(pg.log),
                       backup_dir=str(files["backups"]), audit_log=str(files["audit"]),
                       health_log=str(files["health"]), firewall="unchecked",
                       health=dict(app_role="frende_app", managed_roles=["frende_app", "frende_monitor"]))
    params.update(over)
    return run_module(MODULE, params)


def test_counts_match_what_happened(pg, host_files):
    result = gather(pg, host_files)
    assert not result.failed and not result["changed"], result
    report = result["report"]
    assert report["failed_logins"]["total"] == WRONG_LOGINS
    assert sum(report["failed_logins"]["by_day"].values()) == WRONG_LOGINS
    assert report["failed_logins"]["by_client"] == {"127.0.0.1": WRONG_LOGINS}
    logical = report["backups"]["logical"]
    assert len(logical) == 2  # the 40-day-old set is outside the window
    assert [b["verified"] for b in logical] == [False, True]
    assert [d["passed"] for d in report["drills"]] == [True, False]
    assert report["audit"]["operations"]["total"] == 2
    assert report["audit"]["operations"]["by_playbook"] == {"setup.yml": 1, "rotate_password.yml": 1}
    pgaudit = report["audit"]["pgaudit"]
    assert pgaudit["by_class"].get("DDL", 0) >= 2  # CREATE TABLE, GRANT is ROLE
    assert pgaudit["by_class"].get("ROLE", 0) >= 4  # CREATE ROLE x3, GRANT, ALTER ROLE
    assert report["connections"]["peak"] == 17 and report["connections"]["max_connections"] > 0
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["backups"]["status"] == "fail" and "verification failed" in checks["backups"]["evidence"]
    assert checks["drills"]["status"] == "fail"
    assert checks["roles"]["status"] == "warn" and "stranger" in checks["roles"]["evidence"]
    roles = {r["name"]: r for r in report["roles"]}
    assert roles["stranger"]["managed"] is False and "CREATEDB" in roles["stranger"]["attributes"]
    assert roles["frende_app"]["managed"] is True and roles["frende_app"]["connection_limit"] == 50
    assert any("INSERT, SELECT on table items" in p for p in roles["frende_app"]["privileges"])


def test_as_the_monitoring_role_without_superuser(pg, host_files):
    """pg_monitor and catalogs are enough: the same counts, no note of a refused read."""
    pg.sql("ALTER ROLE frende_monitor PASSWORD %s", (SECRET,))
    pg.sql("GRANT CONNECT ON DATABASE frende TO frende_monitor")
    result = gather(pg, host_files, login_user="frende_monitor", login_password=SECRET)
    assert not result.failed, result
    report = result["report"]
    assert report["failed_logins"]["total"] == WRONG_LOGINS
    assert {r["name"] for r in report["roles"]} >= {"frende_app", "frende_monitor", "stranger"}
    assert report["notes"] == []
    assert SECRET not in json.dumps(result.result)


def test_page_shows_the_counts_and_no_secret(pg, host_files):
    result = gather(pg, host_files)
    facts = dict(result["report"], host="db1", groups=["frende_db"], reachable=True)
    down = dict(host="db2", groups=["frende_db"], reachable=False, error="Failed to connect to the host")
    doc = document.build([facts, down], datetime.datetime.now(datetime.timezone.utc).isoformat(), {})
    page = html.render(doc)
    assert "db2" in page and "Failed to connect to the host" in page
    assert doc["summary"]["status"] == "fail"
    assert ">%d<" % WRONG_LOGINS in page.replace(" ", "")
    leaked = [line for line in pg.server_log().splitlines() if SECRET in line]
    assert leaked == []
    assert SECRET not in page and SECRET not in json.dumps(doc)


@pytest.mark.parametrize("over, message", [
    (dict(window_days=0), "window_days must be a whole number of days from 1 to 366"),
    (dict(window_days=400), "window_days must be a whole number of days from 1 to 366"),
    (dict(audit_log="relative/audit.log"), "audit_log must be an absolute path"),
    (dict(health=dict(fail_on="never")), "health has unknown option(s) fail_on"),
    (dict(health=dict(max_backup_age="soon")), "max_backup_age"),
    (dict(kinds=["datbase"]), "value of kinds must be one or more of"),
])
def test_wrong_input_is_refused(pg, host_files, over, message):
    result = gather(pg, host_files, **over)
    assert result.failed and message in result["msg"], result
