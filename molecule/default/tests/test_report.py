# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the security report: playbooks/report.yml against the converged hosts and one host that is down.

Runs after test_monitoring.py (file order). Two reports around known events (wrong passwords from the
application server, one more backup), so the page and its JSON twin must show exactly those counts; the rest
(backup sets, drills) must match what the hosts hold. The page is opened in headless Chromium on the controller.
The policy checks of the database host are the CIS settings of issue 12, asserted here on a real host.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from frende_hosts import PASSWORD, REPO, playbook, recap, sh

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support import browser  # noqa: E402  (the repository's test helpers, after the path above)

DB, APP = "frende-db", "frende-app"
GHOST = "frende-ghost"
WRONG = 4
BACKUPS = "/var/backups/frende/database"


def ghost_inventory(directory):
    """A database host that is down: in the inventory, unreachable (a TEST-NET address nobody answers)."""
    path = directory / "ghost.yml"
    path.write_text(json.dumps({"frende_app": {"hosts": {GHOST: {
        "ansible_host": "192.0.2.10", "ansible_connection": "ssh", "ansible_user": "root",
        "ansible_ssh_common_args": "-o ConnectTimeout=5 -o StrictHostKeyChecking=no"}}}}))
    return path


def run_report(directory, *args):
    out = directory / "reports"
    proc = playbook("report.yml", "-i", str(ghost_inventory(directory)), "-e", "frende_db_report_dir=%s" % out, *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    (html,) = re.findall(r"Security report: (\S+\.html) \(and \.json\)", proc.stdout)
    page = Path(html)
    return proc, page, json.loads(page.with_suffix(".json").read_text())


def wrong_logins(count):
    script = ("for i in $(seq %d); do PGPASSWORD=wrong-$i psql -X 'host=%s dbname=frende user=frende_app "
              "sslmode=verify-full sslrootcert=/etc/frende/db/ca.crt' -c 'SELECT 1' >/dev/null 2>&1; done; true"
              % (count, DB))
    sh(APP, script)


def hosts(document):
    return {h["host"]: h for h in document["hosts"]}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    before = run_report(tmp_path_factory.mktemp("report-before"))
    wrong_logins(WRONG)
    sh(DB, "/usr/local/bin/frende-db-backup --config /etc/frende/db/backup.conf --action backup >/dev/null")
    after = run_report(tmp_path_factory.mktemp("report-after"))
    return before, after


def test_the_counts_are_the_hosts_own(reports):
    (_p1, _page1, first), (proc, page, second) = reports
    db1, db2 = hosts(first)[DB], hosts(second)[DB]
    assert db2["failed_logins"]["total"] - db1["failed_logins"]["total"] == WRONG
    app_address = sh(APP, "hostname -I").stdout.split()[0]
    assert db2["failed_logins"]["by_client"][app_address] - db1["failed_logins"]["by_client"].get(
        app_address, 0) == WRONG
    manifests = sh(DB, "ls %s/*.manifest.json | wc -l" % BACKUPS).stdout.strip()
    assert len(db2["backups"]["logical"]) == int(manifests) == len(db1["backups"]["logical"]) + 1
    drills = sh(DB, "ls %s/drill-*.json 2>/dev/null | wc -l" % BACKUPS).stdout.strip()
    assert len([d for d in db2["drills"] if d["kind"] == "logical"]) == int(drills) >= 1
    operations = sh(DB, "grep -c 'action=audit event=changed' /var/log/frende/audit.log").stdout.strip()
    assert db2["audit"]["operations"]["total"] == int(operations) >= 1
    assert db2["audit"]["pgaudit"]["by_class"].get("ROLE", 0) >= 1
    assert db2["connections"]["max_connections"] == 200 and db2["connections"]["peak"] >= 1

    _dom, text = browser.rendered_text(page, page.parent)
    assert "%d failed logins in the last 30 days." % db2["failed_logins"]["total"] in text
    for entry in db2["backups"]["logical"]:
        assert entry["name"] in text


def test_the_database_host_meets_the_policy_on_a_real_host(reports):
    """The CIS settings of issue 12 and the rest of the policy, as the report measures them on the host."""
    checks = {c["id"]: c for c in hosts(reports[1][2])[DB]["checks"]}
    for name in ("tls", "certificate", "logging", "audit_trail", "hba", "socket", "limits", "password_age",
                 "data_checksums", "firewall"):
        assert checks[name]["status"] == "pass", checks[name]
    # Earlier tests of the scenario may have left a plaintext set; the newest is encrypted (by default).
    assert checks["backup_encryption"]["status"] in ("pass", "warn"), checks["backup_encryption"]
    assert "unix_socket_permissions = 0770, unix_socket_group = frende-db-socket, server umask = 0077" \
        in checks["socket"]["evidence"]
    assert "auth_delay 500 ms" in checks["limits"]["evidence"]
    assert "PUBLIC has no USAGE on the schema public" in checks["roles"]["evidence"]
    assert checks["encryption_at_rest"]["status"] in ("unknown", "warn")  # a container: information only
    roles = {r["name"]: r for r in hosts(reports[1][2])[DB]["roles"]}
    assert all(r["connection_limit"] >= 0 for r in roles.values() if r["login"] and r["name"] != "postgres")
    assert roles["frende_app"]["managed"] and roles["frende_monitor"]["managed"]
    app = {c["id"]: c for c in hosts(reports[1][2])[APP]["checks"]}
    assert app["client_tls"]["status"] == "pass" and app["client_secrets"]["status"] == "pass"


def test_the_cluster_made_before_frende_db_got_data_checksums_once():
    """prepare.yml installed PostgreSQL first (no checksums); the converge enabled them, the second run did not."""
    assert sh(DB, "runuser -u postgres -- psql -XAtc 'SHOW data_checksums'").stdout.strip() == "on"
    enabled = [line for line in sh(DB, "cat /var/log/frende/audit.log").stdout.splitlines()
               if "Enable data checksums in the stopped cluster" in line]
    assert len(enabled) == 1 and 'playbook="' in enabled[0], enabled


def test_public_schema_is_closed_in_every_database():
    rows = sh(DB, "runuser -u postgres -- psql -XAt -c \"SELECT datname FROM pg_database WHERE datallowconn\"").stdout
    for database in rows.split():
        usage = sh(DB, "runuser -u postgres -- psql -XAt -d %s -c \"SELECT has_schema_privilege('public', 'public', "
                       "'USAGE')\"" % database).stdout.strip()
        assert usage == "f", database


def test_a_host_that_is_down_is_in_the_report_not_a_failed_play(reports):
    proc, page, document = reports[1]
    ghost = hosts(document)[GHOST]
    assert ghost["reachable"] is False and "192.0.2.10" in ghost["error"]
    assert {"host": GHOST, "check": "reachable", "severity": "fail"}.items() <= \
        next(a for a in document["summary"]["attention"] if a["host"] == GHOST).items()
    stats = recap(proc.stdout)
    assert all(stats[h]["changed"] == 0 and stats[h]["failed"] == 0 for h in (DB, APP))
    _dom, text = browser.rendered_text(page, page.parent)
    for host in (DB, APP, GHOST):
        assert host in text
    assert "What needs attention" in text and "Unreachable" in text


def test_the_page_is_drawn_by_a_real_browser(reports):
    page = reports[1][1]
    image = browser.screenshot(page, page.parent / "report.png", page.parent)
    assert browser.blank_reason(image) is None


def test_the_report_reads_no_secret_and_changes_nothing_in_check_mode(reports, tmp_path):
    proc, page, document = run_report(tmp_path, "--check")
    stats = recap(proc.stdout)
    assert all(stats[h]["changed"] == 0 for h in (DB, APP)), stats
    verifier = sh(DB, "runuser -u postgres -- psql -XAtc \"SELECT string_agg(rolpassword, ' ') FROM pg_authid "
                      "WHERE rolpassword IS NOT NULL\"").stdout.split()
    pki = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / ".frende-db-pki"
    identity = [l for l in (pki / "backup-identity.agekey").read_text().splitlines() if l.startswith("AGE-SECRET")]
    secrets = [PASSWORD, (pki / "monitoring-password").read_text().strip()] + verifier + identity
    for text in (page.read_text(), page.with_suffix(".json").read_text(), proc.stdout):
        for secret in secrets:
            assert secret not in text
    assert {h["host"] for h in document["hosts"]} == {DB, APP, GHOST}


def test_the_weekly_maintenance_keeps_the_host_part_on_the_host():
    """As an operator runs it at 2 a.m.: as root, the command becomes postgres and writes the JSON."""
    sh(DB, "/usr/local/bin/frende-db-maintenance --config /etc/frende/db/maintenance.conf --action report")
    listing = sh(DB, "ls -l /var/lib/frende-db/reports/").stdout
    newest = sh(DB, "ls -t /var/lib/frende-db/reports/frende-db-report-*.json | head -n1").stdout.strip()
    facts = json.loads(sh(DB, "cat %s" % newest).stdout)
    assert " postgres postgres " in listing and facts["reachable"] is True
    assert {c["id"] for c in facts["checks"]} >= {"tls", "logging", "roles", "backups"}
    assert PASSWORD not in json.dumps(facts)
