"""frende-db-repository --action copy-sets: the backup host pulls a database host's logical sets through the
database host's real pgBackRest TLS server, as the role sets them up (one host plays both sides here)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.backup_helpers import create_app_db, drop_databases, open_for_postgres, run_cli
from tests.support.pgbackrest_tls import make_pki, tls_server

REPO = Path(__file__).resolve().parents[2]
DB = "bkcopy"
STANZA = "frende"


def pytest_skip_unless_possible():
    if os.geteuid() != 0:
        pytest.skip("the commands switch users as on a host: needs root")
    if subprocess.run(["sh", "-c", "command -v pgbackrest"], capture_output=True, check=False).returncode:
        pytest.skip("pgbackrest is not installed (scripts/system-deps.sh server installs it)")


@pytest.fixture(scope="module")
def db_host(pg, tmp_path_factory):
    """A set made by frende-db-backup, served by the database host's pgBackRest server to the backup host."""
    pytest_skip_unless_possible()
    base = open_for_postgres(tmp_path_factory.mktemp("copy"))
    os.chmod(base, 0o755)
    pki = make_pki(base / "tls", ["dbhost", "backuphost", "intruder"])
    foreign = make_pki(base / "foreign", ["backuphost"], ca_name="someone else's CA")
    sets = base / "database"
    create_app_db(pg, DB)
    proc, doc = run_cli(pg, "--action", "backup", "--database", DB, "--backup-dir", sets, "--log-file",
                        base / "db-backup.log")
    assert proc.returncode == 0, proc.stderr
    with tls_server(base, pki, "dbhost", ["backuphost=%s" % STANZA, "intruder=other"]) as port:
        yield dict(base=base, pki=pki, foreign=foreign, sets=sets, port=port, name=doc["backup"]["name"])
    drop_databases(pg, DB)


def copy_config(host, client):
    cert, key = client
    config = host["base"] / ("copy-%s.conf" % os.path.basename(os.path.dirname(cert)))
    config.write_text("[global]\nlog-level-file=off\n\n[%s]\nrepo1-host=localhost\nrepo1-host-type=tls\n"
                      "repo1-host-port=%d\nrepo1-host-cert-file=%s\nrepo1-host-key-file=%s\n"
                      "repo1-host-ca-file=%s\nrepo1-path=%s\n" % (
                          STANZA, host["port"], cert, key, host["pki"]["ca"], host["sets"]))
    config.chmod(0o644)
    return config


def repository(*args):
    """frende-db-repository as cron runs it: as root, through its own entry point; it becomes --owner."""
    link = REPO / "build" / "bin" / "frende-db-repository"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(REPO / "bin" / "frende-db")
    proc = subprocess.run([str(link)] + [str(a) for a in args] + ["--json"], capture_output=True, text=True,
                          timeout=300, check=False)
    doc = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else None
    return proc, doc


def copy_sets(host, target, config, *extra):
    return repository("--action", "copy-sets", "--stanza", STANZA, "--database", DB, "--to-dir", target,
                      "--copy-config", config, "--owner", "postgres", "--log-file", host["base"] / "copy.log",
                      *extra)


def test_the_backup_host_pulls_each_new_set_once_and_keeps_it_whole(db_host, tmp_path):
    target = tmp_path / "hosts" / "db1"
    config = copy_config(db_host, db_host["pki"]["backuphost"])
    proc, doc = copy_sets(db_host, target, config)
    assert proc.returncode == 0, proc.stderr
    name = db_host["name"]
    assert doc["copied"] == [name]
    for suffix in (".dump.zst", ".globals.sql.zst", ".manifest.json"):
        assert (target / (name + suffix)).read_bytes() == (db_host["sets"] / (name + suffix)).read_bytes()
    assert oct(os.stat(target).st_mode & 0o777) == "0o750"
    again, doc = copy_sets(db_host, target, config)
    assert again.returncode == 0 and doc["copied"] == [], again.stderr
    log = (db_host["base"] / "copy.log").read_text()
    assert log.count("action=copy-sets event=copied stanza=%s backup=%s" % (STANZA, name)) == 1
    # The copy is a set the backup engine reads as its own: it verifies (checksums, pg_restore --list).
    check = subprocess.run([str(REPO / "bin" / "frende-db-backup"), "--action", "verify", "--backup-dir",
                            str(target), "--backup-file", "latest", "--log-file", str(tmp_path / "verify.log"),
                            "--json"], capture_output=True, text=True, timeout=300, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("who, words", [
    ("intruder", "access denied"),  # a certificate of our CA, admitted only for another stanza
    ("foreign", "unknown ca"),      # the backup host's name, from another CA
])
def test_a_client_the_database_host_does_not_admit_copies_nothing(db_host, tmp_path, who, words):
    target = tmp_path / "hosts" / "db1"
    client = db_host["foreign"]["backuphost"] if who == "foreign" else db_host["pki"][who]
    proc, doc = copy_sets(db_host, target, copy_config(db_host, client))
    assert proc.returncode == 1 and doc["failed"], proc.stdout + proc.stderr
    assert words in doc["msg"].lower(), doc["msg"]
    assert not list(target.glob("*.manifest.json"))
    assert "ERROR" in (db_host["base"] / "copy.log").read_text()
