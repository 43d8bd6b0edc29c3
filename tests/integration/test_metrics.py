"""The jobs' Prometheus gauges, written by the real commands and the health module against a real PostgreSQL.

The textfile is read back with prometheus_client's parser, as node_exporter would read it. Run as root,
the commands become postgres, as under cron: the metrics directory is postgres' here, as the role makes
node_exporter's textfile directory group-writable for it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.backup_helpers import create_app_db, drop_databases, give_to_postgres, postgres_dir, run_cli
from tests.support.playbook import run_module

DB = "metricsdb"
MAINTENANCE = Path(__file__).resolve().parents[2] / "bin" / "frende-db-maintenance"


def gauges(path):
    """{(name, ((label, value), ...)): value} of the textfile."""
    with open(path) as handle:
        return dict(((s.name, tuple(sorted(s.labels.items()))), s.value)
                    for family in text_string_to_metric_families(handle.read()) for s in family.samples)


def job(found, name):
    return (found.get(("frende_db_job_last_exit_code", (("job", name),))),
            found.get(("frende_db_job_last_run_timestamp_seconds", (("job", name),))))


@pytest.fixture
def where(tmp_path):
    metrics = postgres_dir(tmp_path / "textfile")
    backups = tmp_path / "backups"
    log = tmp_path / "log" / "backup.log"
    return dict(metrics=metrics / "frende_db.prom", dir=backups,
                flags=["--backup-dir", backups, "--log-file", log, "--metrics-file", metrics / "frende_db.prom"])


@pytest.fixture
def app_db(pg):
    create_app_db(pg, DB)
    yield DB
    drop_databases(pg, DB)


LOGICAL = (("database", DB), ("kind", "logical"))


def test_backup_verify_cleanup_and_drill_write_their_figures(pg, where, app_db):
    started = time.time()
    proc, doc = run_cli(pg, "--action", "backup", "--database", DB, *where["flags"])
    assert proc.returncode == 0, proc.stderr
    found = gauges(where["metrics"])
    code, ran = job(found, "backup")
    assert code == 0 and started - 1 <= ran <= time.time() + 1
    assert found[("frende_db_backup_last_size_bytes", LOGICAL)] == doc["backup"]["size"] > 0
    assert found[("frende_db_backup_last_duration_seconds", LOGICAL)] == doc["backup"]["duration_s"]
    assert found[("frende_db_backup_last_verified", LOGICAL)] == 0  # not verified yet
    assert abs(found[("frende_db_backup_last_success_timestamp_seconds", LOGICAL)] - time.time()) < 120
    assert os.stat(where["metrics"]).st_mode & 0o777 == 0o644

    proc, doc = run_cli(pg, "--action", "verify", "--backup-file", "latest", "--database", DB, *where["flags"])
    assert proc.returncode == 0, proc.stderr
    found = gauges(where["metrics"])
    assert job(found, "verify")[0] == 0 and found[("frende_db_backup_last_verified", LOGICAL)] == 1
    assert job(found, "backup")[0] == 0  # another job's series stay

    proc, doc = run_cli(pg, "--action", "cleanup", "--database", DB, *where["flags"])
    assert proc.returncode == 0 and job(gauges(where["metrics"]), "cleanup")[0] == 0

    proc, doc = run_cli(pg, "--action", "drill", "--database", DB, *where["flags"])
    assert proc.returncode == 0, proc.stderr
    found = gauges(where["metrics"])
    assert job(found, "drill")[0] == 0
    assert found[("frende_db_drill_last_rto_seconds", LOGICAL)] == doc["report"]["achieved_rto_s"]
    assert found[("frende_db_drill_rpo_target_seconds", LOGICAL)] == 86400
    passed = found[("frende_db_drill_last_success_timestamp_seconds", LOGICAL)]

    time.sleep(1.1)
    proc, doc = run_cli(pg, "--action", "drill", "--database", DB, "--rpo-target", "1s", *where["flags"])
    assert proc.returncode == 3
    found = gauges(where["metrics"])
    assert job(found, "drill")[0] == 3
    assert found[("frende_db_drill_last_success_timestamp_seconds", LOGICAL)] == passed  # a missed drill is no success
    assert found[("frende_db_drill_last_rpo_seconds", LOGICAL)] == doc["report"]["achieved_rpo_s"]


def test_failures_are_in_the_metrics_too(pg, where, app_db, tmp_path):
    proc, doc = run_cli(pg, "--action", "backup", "--database", DB, *where["flags"], "--login-host", "127.0.0.1",
                        "--login-port", "1", "--connect-timeout", "2")
    assert proc.returncode == 1
    assert job(gauges(where["metrics"]), "backup")[0] == 1
    proc, doc = run_cli(pg, "--action", "verify", "--backup-file", "latest", "--database", DB, *where["flags"])
    assert proc.returncode == 1  # no backup to verify
    assert job(gauges(where["metrics"]), "verify")[0] == 1

    # A config file the command refuses (a password in it): the failure reaches the config's metrics file.
    config = tmp_path / "backup.conf"
    config.write_text("[backup]\nmetrics_file = %s\nlog_file = %s\npassword = %s\n"
                      % (where["metrics"], tmp_path / "log" / "backup.log", pg.password))
    proc, doc = run_cli(pg, "--action", "backup", "--config", config)
    assert proc.returncode == 1 and "passwords are never read from a config file" in proc.stderr
    text = where["metrics"].read_text()
    assert job(gauges(where["metrics"]), "backup")[0] == 1
    assert pg.password not in text


def test_check_mode_list_and_restore_write_no_metrics(pg, where, app_db):
    proc, doc = run_cli(pg, "--action", "backup", "--database", DB, "--check", *where["flags"])
    assert proc.returncode == 0
    proc, doc = run_cli(pg, "--action", "list", *where["flags"])
    assert proc.returncode == 0
    assert not where["metrics"].exists()


def test_a_metrics_file_that_cannot_be_written_is_a_warning_not_a_failed_backup(pg, where, app_db):
    where["metrics"].mkdir()  # a directory where the file should be: cannot be replaced
    give_to_postgres(where["metrics"])
    proc, doc = run_cli(pg, "--action", "backup", "--database", DB, *where["flags"])
    assert proc.returncode == 0, proc.stderr
    log = Path(where["flags"][3]).read_text()
    assert "WARNING action=backup event=metrics" in log and "are not updated" in log


@pytest.mark.parametrize("value", ["relative.prom", "/tmp/x.txt"])
def test_a_bad_metrics_file_is_refused_before_anything_runs(pg, where, app_db, value, tmp_path):
    proc, doc = run_cli(pg, "--action", "backup", "--database", DB, *where["flags"][:4], "--metrics-file", value,
                        cwd=str(tmp_path))
    assert proc.returncode == 1 and "metrics_file must be an absolute path ending in .prom" in proc.stderr
    assert not where["dir"].exists() or os.listdir(where["dir"]) == []
    assert not os.path.exists(os.path.join(str(tmp_path), value))  # the refused path is not written either


def test_the_scheduled_health_check_writes_statuses_failed_logins_and_the_certificate(pg, where, tmp_path):
    for attempt in range(3):
        subprocess.run(["psql", pg.dsn(password="wrong-%d" % attempt), "-c", "SELECT 1"], capture_output=True,
                       check=False)
    config = tmp_path / "maintenance.conf"
    config.write_text("[maintenance]\n")
    env = pg.env()
    proc = subprocess.run([str(MAINTENANCE), "--config", str(config), "--action", "health", "--database", "postgres",
                           "--server-log", str(pg.log), "--log-file", str(tmp_path / "log" / "health.log"),
                           "--backup-dir", str(where["dir"]), "--metrics-file", str(where["metrics"])],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    found = gauges(where["metrics"])
    assert job(found, "health")[0] == proc.returncode
    assert found[("frende_db_health_status", (("check", "connection"),))] == 0
    assert found[("frende_db_health_status", (("check", "certificate"),))] == 0
    assert found[("frende_db_health_status", (("check", "backup_age"),))] == 3  # no backups: unknown
    assert found[("frende_db_failed_auth_attempts", (("window", "10min"),))] >= 3
    assert found[("frende_db_failed_auth_attempts", (("window", "24h"),))] >= 3
    expiry = found[("frende_db_tls_certificate_expiry_timestamp_seconds", ())]
    assert time.time() + 399 * 86400 < expiry < time.time() + 401 * 86400  # tests/support/pgserver.py: 400 days
    assert pg.password not in where["metrics"].read_text()


def test_the_health_module_writes_the_metrics_it_is_given_and_none_in_check_mode(pg, where):
    params = pg.params(server_log=str(pg.log), backup_dir=str(where["dir"]), fail_on="never",
                       metrics_file=str(where["metrics"]))
    run_module("frende.db.frende_db_health", params, check=True)
    assert not where["metrics"].exists()
    result = run_module("frende.db.frende_db_health", params)
    assert result["changed"] is False
    found = gauges(where["metrics"])
    assert job(found, "health")[0] == (1 if result["status"] == "unhealthy" else 0)
    statuses = dict((key[1][0][1], value) for key, value in found.items() if key[0] == "frende_db_health_status")
    assert set(statuses) == set(c["name"].split(".")[0] for c in result["checks"])
