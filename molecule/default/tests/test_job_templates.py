# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every AWX job template of playbooks/vars/awx.yml, run the way AWX runs it
(awx_jobs.py: private data directory, survey answers as extra vars, the
credential types' injectors, ansible-runner) against the converged hosts.

Runs after test_default.py (pytest takes the files in name order) and, like
it, in file order: backup, drill and restore build on each other. Backups are
encrypted here: the backup job gets an age recipient as an extra var, and the
drill and restore jobs can only read them through the identity that the
"Frende database" credential injects. The setup job gets the Molecule
converge's certificates through the "Frende database TLS" credential; with
anything else it would change the hosts.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from awx_jobs import REPO, Controller
from frende_hosts import PASSWORD, psql_postgres, sh

DB, APP, MONITOR = "frende-db", "frende-app", "frende-monitor"
PROBE = "SELECT name FROM awx_probe ORDER BY id;"


def molecule_inventory():
    """The hosts as an AWX inventory holds them: groups frende_db, frende_app and frende_monitoring, connection
    variables, the scenario's group variables, and what an AWX job cannot find next to its inventory: the
    monitoring hosts' certificates (files of one's own, as with the TLS credential) and the monitoring password."""
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"])
    with open(inventory, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    with open(inventory.parent / "group_vars" / "all", encoding="utf-8") as f:
        shared = yaml.safe_load(f)
    pki = inventory.parent / ".frende-db-pki"
    shared["frende_db_monitoring_password"] = (pki / "monitoring-password").read_text().strip()
    # The sets' recipient: in AWX the public key is given (each job would make a new identity otherwise).
    shared["frende_db_backup_encrypt_recipients"] = [subprocess.run(
        ["age-keygen", "-y", str(pki / "backup-identity.agekey")], capture_output=True, text=True,
        check=True).stdout.strip()]
    groups = {g: sorted(data[g]["hosts"]) for g in ("frende_db", "frende_app", "frende_monitoring")}
    hostvars = {}
    for host in set(h for hosts in groups.values() for h in hosts):
        hostvars[host] = dict(shared, **{k: v for k, v in data["all"]["hosts"][host].items() if k.startswith("ansible_")})
        hostvars[host].update(frende_db_monitoring_ssl_cert=str(pki / (host + "-monitoring.crt")),
                              frende_db_monitoring_ssl_key=str(pki / (host + "-monitoring.key")))
    return {"groups": groups, "hostvars": hostvars}


@pytest.fixture(scope="module")
def age_identity():
    """An age identity made on the database host: (secret key line, public key)."""
    text = sh(DB, "age-keygen 2>/dev/null").stdout
    secret = re.search(r"^AGE-SECRET-KEY-\S+$", text, re.M).group(0)
    public = re.search(r"public key: (age1\S+)", text).group(1)
    return text, secret, public


@pytest.fixture(scope="module")
def controller(tmp_path_factory, age_identity):
    pki = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / ".frende-db-pki"
    credentials = {
        "database": {"db_app_password": PASSWORD, "backup_identity": age_identity[0]},
        "tls": {"server_cert": (pki / "frende-db.crt").read_text(), "server_key": (pki / "frende-db.key").read_text(),
                "ca_cert": (pki / "ca.crt").read_text()},
    }
    # What the execution environment provides: frende.db on the collections
    # path, and the connection to the test hosts (podman with pipelining, as
    # SSH with pipelining in production).
    environment = {
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"),
        "ANSIBLE_CONNECTION_PLUGINS": str(REPO / "tests" / "support" / "connection_plugins"),
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(REPO / "scripts" / "podman" / "containers.conf")),
        "PATH": str(REPO / ".venv" / "bin") + os.pathsep + os.environ["PATH"],
    }
    with pytest.MonkeyPatch.context() as mp:
        # A job sees only what AWX gives it: nothing of Molecule's Ansible
        # settings, and the password and identity only from the credential.
        for name in list(os.environ):
            if name.startswith("ANSIBLE_") or name in ("DB_APP_PASSWORD", "FRENDE_DB_BACKUP_IDENTITY_FILE"):
                mp.delenv(name)
        yield Controller(tmp_path_factory.mktemp("awx"), molecule_inventory(), credentials, environment)


def identity_copies():
    return sh(DB, "ls -A /dev/shm").stdout.split()


def test_the_setup_job_changes_nothing_on_converged_hosts(controller):
    job = controller.launch("playbooks/setup.yml")
    assert (job.status, job.rc) == ("successful", 0), job.summary()
    assert set(job.stats["ok"]) == {DB, APP, MONITOR}
    assert job.changed_results() == [], [(e["host"], e["task"]) for e in job.changed_results()]
    assert not job.stats.get("changed")
    # The role used the credential's certificates, not a CA of its own next
    # to the job's inventory (that would have changed the hosts, too).
    assert not (job.private_data_dir / "inventory" / ".frende-db-pki").exists()


def test_the_setup_job_without_the_database_credential_stops_before_any_change(controller):
    job = controller.launch("playbooks/setup.yml", credentials=["tls"])
    assert job.status == "failed" and job.rc != 0
    assert [task for host, task in job.failed_tasks()] == ["Check that the application password is set"]
    assert "frende_db_app_password is empty. Export DB_APP_PASSWORD" in job.stdout
    assert job.changed_results() == []


def test_the_backup_job_backs_up_encrypted_for_the_operator_key(controller, age_identity):
    psql_postgres("SET ROLE frende_owner; CREATE TABLE IF NOT EXISTS awx_probe (id int PRIMARY KEY, name text);"
                  "INSERT INTO awx_probe VALUES (1, 'one'), (2, 'two') ON CONFLICT DO NOTHING;")
    job = controller.launch("playbooks/backup.yml",
                            extra_vars={"frende_db_backup_encrypt_recipients": [age_identity[2]]})
    assert (job.status, job.rc) == ("successful", 0), job.summary()
    newest = sh(DB, "ls -t /var/backups/frende/database/*.dump.* | head -n1").stdout.strip()
    assert newest.endswith(".age"), newest
    assert [e["task"] for e in job.task_results()][-1].startswith("Remove backups past the retention period")


def test_the_drill_job_decrypts_with_the_identity_of_the_credential(controller):
    job = controller.launch("playbooks/drill.yml")
    assert (job.status, job.rc) == ("successful", 0), job.summary()
    drill = [e["res"] for e in job.task_results() if e["task"] == "Run a restore drill"][0]
    assert "drill passed" in drill["msg"]
    # The identity went to the host for this run only, and is gone again.
    (used,) = [e["res"]["ansible_facts"]["frende_db_backup_identity_file"] for e in job.task_results()
               if e["task"] == "Use it for this run"]
    assert used.startswith("/dev/shm/frende-db-identity.")
    assert [e["res"]["path"] for e in job.changed_results()
            if e["task"] == "Remove the age identity copied for this run"] == [used]
    assert not [name for name in identity_copies() if name.startswith("frende-db-identity.")]


def test_the_drill_job_without_the_credential_cannot_read_the_encrypted_backup(controller):
    job = controller.launch("playbooks/drill.yml", credentials=[])
    assert job.status == "failed"
    assert "is encrypted; a drill restores it and needs identity_file" in job.stdout


def test_the_health_job_reports_with_the_survey_default(controller):
    job = controller.launch("playbooks/health.yml")
    assert (job.status, job.rc) == ("successful", 0), job.summary()
    report = [e["res"] for e in job.task_results() if e["task"].startswith("Check the database's health")][0]
    assert report["status"] in ("healthy", "degraded")


def test_the_maintenance_job_runs_the_survey_s_action(controller):
    job = controller.launch("playbooks/maintenance.yml", answers={"frende_db_maintenance_action": "vacuum"})
    assert (job.status, job.rc) == ("successful", 0), job.summary()
    result = [e["res"] for e in job.task_results() if e["task"] == "Run the database maintenance"][0]
    assert "--action" in result["cmd"] and result["cmd"][result["cmd"].index("--action") + 1] == "vacuum"


def test_the_restore_job_brings_back_a_deleted_row(controller):
    psql_postgres("DELETE FROM awx_probe WHERE id = 2;")
    assert psql_postgres(PROBE).stdout.split() == ["one"]
    job = controller.launch("playbooks/restore.yml", answers={"backup_file": "latest"})
    assert (job.status, job.rc) == ("successful", 0), job.summary()
    assert psql_postgres(PROBE).stdout.split() == ["one", "two"]
    assert not [name for name in identity_copies() if name.startswith("frende-db-identity.")]


def test_the_report_job_keeps_the_page_as_its_artifact(controller):
    job = controller.launch("playbooks/report.yml")
    assert (job.status, job.rc) == ("successful", 0), job.summary()
    (stats,) = [e["event_data"] for e in job.events if e["event"] == "playbook_on_stats"]
    artifact = stats["artifact_data"]["frende_db_report"]
    assert artifact["html"].startswith("<!DOCTYPE html>") and artifact["status"] in ("pass", "warn", "fail")
    for host in (DB, APP):
        assert host in artifact["html"]
    # The file on the controller: reports/ next to the job's inventory, as AWX keeps it in the job's directory.
    assert Path(artifact["file"]).is_file() and str(job.private_data_dir) in artifact["file"]
    assert job.changed_results() == [] or all(e["host"] == "localhost" for e in job.changed_results())


def test_no_job_shows_a_secret_in_its_events_or_output(controller, age_identity):
    assert len(controller.jobs) == 9
    tls_key = controller.credentials["tls"]["server_key"]
    secrets = {"the application password": PASSWORD, "the password, URL-encoded": quote(PASSWORD, safe=""),
               "the age identity": age_identity[1]}
    for number, line in enumerate(l for l in tls_key.splitlines() if len(l) > 20 and "PRIVATE KEY" not in l):
        secrets["line %d of the TLS key" % number] = line
    scanned = 0
    for job in controller.jobs:
        for path, text in job.event_stream():
            scanned += 1
            for what, secret in secrets.items():
                assert secret not in text, "%s is in %s" % (what, path)
    assert scanned > 9 * 10
    # The secrets did reach the jobs, the way AWX hands them over: files in
    # env/ that only the job's user can read.
    restore = [job for job in controller.jobs if job.template["playbook"] == "playbooks/restore.yml"][-1]
    identity_files = [p for p in (restore.private_data_dir / "env").iterdir()
                      if age_identity[1] in p.read_text()]
    assert len(identity_files) == 1 and identity_files[0].stat().st_mode & 0o077 == 0
