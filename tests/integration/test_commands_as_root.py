"""The frende-db commands started as root (sudo -i at 3 a.m.) on a real Debian cluster, where postgres
logs in by peer authentication only: they become postgres first, as pg_ctlcluster does."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BACKUP = REPO / "bin" / "frende-db-backup"
MAINTENANCE = REPO / "bin" / "frende-db-maintenance"


@pytest.fixture
def cluster(debian_cluster):
    debian_cluster.psql("DROP DATABASE IF EXISTS rootdb")
    debian_cluster.psql("CREATE DATABASE rootdb")
    debian_cluster.psql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 50) g", database="rootdb")
    return debian_cluster


def empty_config(tmp_path, section):
    path = tmp_path / ("%s.conf" % section)
    path.write_text("[%s]\n" % section)
    return path


def as_root(argv, env=None):
    """As the operator types it: root's environment, no password anywhere."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    base.update(HOME="/root", USER="root", LOGNAME="root")
    base.update(env or {})
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=base, check=False, timeout=300)


def test_backup_as_root_uses_peer_authentication_as_postgres_and_files_belong_to_postgres(cluster, tmp_path):
    postgres = pwd.getpwnam("postgres")
    backups, log = tmp_path / "backups", tmp_path / "log" / "backup.log"
    common = ["--login-unix-socket", "/var/run/postgresql", "--login-port", cluster.port, "--backup-dir", backups,
              "--log-file", log, "--config", empty_config(tmp_path, "backup")]
    proc = as_root([BACKUP, "--action", "backup", "--database", "rootdb", "--json"] + common)
    assert "Peer authentication failed" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["backup"]["tables"] == {"public.t": 50}
    for path in [backups, log, log.parent] + sorted(backups.iterdir()):
        assert (path.stat().st_uid, path.stat().st_gid) == (postgres.pw_uid, postgres.pw_gid), path
    proc = as_root([BACKUP, "--action", "verify", "--backup-file", "latest"] + common)
    assert proc.returncode == 0, proc.stderr
    assert (backups / (doc["backup"]["name"] + ".verify.json")).stat().st_uid == postgres.pw_uid


def test_maintenance_health_as_root_connects_as_postgres(cluster, tmp_path):
    log = tmp_path / "maintenance.log"
    proc = as_root([MAINTENANCE, "--action", "health", "--json", "--database", "rootdb", "--login-unix-socket",
                    "/var/run/postgresql", "--login-port", cluster.port, "--log-file", log,
                    "--backup-dir", tmp_path / "none", "--config", empty_config(tmp_path, "maintenance")])
    assert "Peer authentication failed" not in proc.stderr + proc.stdout
    doc = json.loads(proc.stdout)
    connection = [c for c in doc["results"]["health"]["checks"] if c["name"] == "connection"][0]
    assert connection["status"] == "healthy", connection
    assert log.stat().st_uid == pwd.getpwnam("postgres").pw_uid


def test_as_root_with_an_owner_that_does_not_exist_fails_clearly_and_logs_it(cluster, tmp_path):
    log = tmp_path / "backup.log"
    proc = as_root([BACKUP, "--action", "backup", "--database", "rootdb", "--owner", "nosuchuser",
                    "--login-unix-socket", "/var/run/postgresql", "--login-port", cluster.port,
                    "--backup-dir", tmp_path / "b", "--log-file", log, "--config", empty_config(tmp_path, "backup")])
    assert proc.returncode == 1
    assert "The OS user 'nosuchuser' does not exist" in proc.stderr
    assert "ERROR action=backup event=failed" in log.read_text()
    assert not (tmp_path / "b").exists()
