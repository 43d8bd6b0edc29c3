# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the upgrade scenario: playbooks/upgrade.yml moves the database from
frende-old (Debian 12, PostgreSQL 15) to frende-new (Debian 13, PostgreSQL 17).

The tests run in file order: refusals and the dry run first, then the upgrade,
a second run, the switch of the application server, and setup.yml on the new host.
"""

from __future__ import annotations

import json
import time

from frende_hosts import PASSWORD, app_psql, playbook, recap, sh

OLD, NEW, APP = "frende-old", "frende-new", "frende-app"
STATE = {}


def psql(host, sql):
    return sh(host, "runuser -u postgres -- psql -X -A -t -q -v ON_ERROR_STOP=1 -d frende -c %s"
              % _quote(sql)).stdout.strip()


def _quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def tables(host):
    return int(psql(host, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))


def old_host_state():
    """What 'untouched' means: the same server process, settings files, rules and data."""
    return dict(
        started=psql(OLD, "SELECT pg_postmaster_start_time()"),
        files=sh(OLD, "cd /etc/postgresql/15/main && sha256sum pg_hba.conf postgresql.conf conf.d/*").stdout,
        customers=psql(OLD, "SELECT count(*) FROM customers"),
    )


def test_the_two_hosts_run_their_releases_postgresql():
    assert psql(OLD, "SHOW server_version_num")[:2] == "15"
    assert psql(NEW, "SHOW server_version_num")[:2] == "17"
    assert tables(NEW) == 0
    STATE["old"] = old_host_state()
    STATE["old_sets"] = sh(OLD, "ls /var/backups/frende/database").stdout


def test_prometheus_on_debian_13_scrapes_both_releases_exporters_over_tls():
    """Debian 13's Prometheus, node_exporter 1.9 and postgres_exporter 0.17 (against PostgreSQL 17), and Debian 12's
    exporters (against 15): every target up, both servers reachable (pg_up 1)."""
    script = r"""
import base64, json, ssl, sys, urllib.parse, urllib.request
secret = open("/etc/prometheus/frende-tls/password").read()
context = ssl.create_default_context(cafile="/etc/prometheus/frende-tls/ca.crt")
def get(path):
    request = urllib.request.Request("https://frende-app:9090" + path)
    request.add_header("Authorization", "Basic " + base64.b64encode(("prometheus:" + secret).encode()).decode())
    return json.load(urllib.request.urlopen(request, context=context, timeout=10))["data"]
targets = get("/api/v1/targets")["activeTargets"]
up = get("/api/v1/query?query=" + urllib.parse.quote("pg_up"))["result"]
print(json.dumps(dict(targets=sorted((t["labels"]["job"], t["labels"]["host"], t["health"]) for t in targets),
                      pg_up=sorted((r["metric"]["host"], r["value"][1]) for r in up))))
"""
    deadline = time.time() + 90
    while True:
        seen = json.loads(sh(APP, "python3 - <<'PY'\n%s\nPY" % script).stdout)
        if all(t[2] == "up" for t in seen["targets"]) and len(seen["pg_up"]) == 2 or time.time() > deadline:
            break
        time.sleep(3)
    assert seen["targets"] == [["frende_db_node", "frende-app", "up"], ["frende_db_node", "frende-new", "up"],
                               ["frende_db_node", "frende-old", "up"], ["frende_db_postgres", "frende-new", "up"],
                               ["frende_db_postgres", "frende-old", "up"]], seen
    assert seen["pg_up"] == [["frende-new", "1"], ["frende-old", "1"]], seen


def test_wrong_input_is_refused_and_changes_nothing():
    cases = [
        ([], "Name both database hosts: -e upgrade_from=<old host> -e upgrade_to=<new host>"),
        (["-e", "upgrade_from=frende-old", "-e", "upgrade_to=frende-app"], "both must be hosts of the"),
        (["-e", "upgrade_from=frende-old", "-e", "upgrade_to=frende-old"], "and not the same one"),
        (["-e", "upgrade_from=frende-old", "-e", "upgrade_to=frende-new", "-e", "upgrade_switch=maybe"],
         "upgrade_switch=maybe is refused"),
        (["-e", "upgrade_from=frende-new", "-e", "upgrade_to=frende-old"],
         "frende-old runs PostgreSQL 15, older than 17 on frende-new"),
    ]
    for args, message in cases:
        run = playbook("upgrade.yml", *args)
        assert run.returncode != 0, args
        assert message in " ".join(run.stdout.split()), (args, run.stdout[-2500:])
        assert "Nothing was changed" in run.stdout, args
    assert tables(NEW) == 0
    assert sh(OLD, "ls /var/backups/frende/database").stdout == STATE["old_sets"]


def test_a_dry_run_says_what_it_would_do_and_changes_nothing():
    run = playbook("upgrade.yml", "--check", "-e", "upgrade_from=frende-old", "-e", "upgrade_to=frende-new")
    assert run.returncode == 0, run.stdout[-4000:]
    assert "Would take a fresh set of frende on frende-old (PostgreSQL 15)" in " ".join(run.stdout.split())
    assert recap(run.stdout)[NEW]["changed"] >= 1
    assert tables(NEW) == 0
    assert sh(OLD, "ls /var/backups/frende/database").stdout == STATE["old_sets"]


def test_the_upgrade_moves_data_and_roles_to_postgresql_17():
    start = time.monotonic()
    run = playbook("upgrade.yml", "-e", "upgrade_from=frende-old", "-e", "upgrade_to=frende-new")
    elapsed = time.monotonic() - start
    print("upgrade.yml took %.1f s" % elapsed)
    assert run.returncode == 0, run.stdout[-6000:]
    out = " ".join(run.stdout.split())
    assert "is restored on frende-new (PostgreSQL 17): 2 tables, every row count as in the manifest" in out
    assert "frende-old keeps running as it was" in out
    assert "still points at frende-old" in out
    for table in ("customers", "orders"):
        assert psql(NEW, "SELECT count(*) FROM %s" % table) == psql(OLD, "SELECT count(*) FROM %s" % table)
    assert psql(NEW, "SELECT sum(total) FROM orders") == psql(OLD, "SELECT sum(total) FROM orders")
    # The old host's own role came over with its grant (the globals of the set).
    assert psql(NEW, "SELECT has_table_privilege('frende_reporting', 'orders', 'SELECT')") == "t"
    assert psql(NEW, "SELECT tableowner FROM pg_tables WHERE tablename = 'customers'") == "frende_owner"
    # Nothing of the empty database setup.yml made is kept beside it.
    assert psql(NEW, "SELECT count(*) FROM pg_database WHERE datname LIKE 'frende_pre_restore%'") == "0"
    record = sh(NEW, "cat /etc/frende/db/upgrade.json").stdout
    assert '"from": "frende-old"' in record and '"to_version": 17' in record, record
    # The application still uses the old host.
    assert "@frende-old:" in sh(APP, "cat /etc/frende/db/database.env").stdout
    assert old_host_state() == STATE["old"]


def test_a_second_run_restores_nothing_again():
    sets = sh(OLD, "ls /var/backups/frende/database").stdout
    run = playbook("upgrade.yml", "-e", "upgrade_from=frende-old", "-e", "upgrade_to=frende-new")
    assert run.returncode == 0, run.stdout[-4000:]
    assert all(s["changed"] == 0 for s in recap(run.stdout).values()), run.stdout[-3000:]
    assert "was upgraded from frende-old already" in run.stdout
    assert sh(OLD, "ls /var/backups/frende/database").stdout == sets


def test_the_switch_points_the_application_at_the_new_host_with_verify_full():
    run = playbook("upgrade.yml", "-e", "upgrade_from=frende-old", "-e", "upgrade_to=frende-new",
                   "-e", "upgrade_switch=true")
    assert run.returncode == 0, run.stdout[-4000:]
    assert recap(run.stdout)[APP]["changed"] >= 1
    assert "Set frende_db_host: frende-new for frende_app in the inventory" in " ".join(run.stdout.split())
    assert PASSWORD not in run.stdout
    env = sh(APP, "cat /etc/frende/db/database.env").stdout
    assert "@frende-new:" in env and "sslmode=verify-full" in env
    proc = sh(APP, "psql -X -A -t \"$(sed -n 's/^DATABASE_URL=//p' /etc/frende/db/database.env)\" "
                   "-c 'SELECT current_setting($$server_version_num$$), ssl FROM pg_stat_ssl "
                   "WHERE pid = pg_backend_pid()' -c 'SELECT count(*) FROM customers'")
    version, ssl = proc.stdout.splitlines()[0].split("|")
    assert version.startswith("17") and ssl == "t", proc.stdout
    assert proc.stdout.splitlines()[1] == psql(OLD, "SELECT count(*) FROM customers")
    # The old host still serves too, untouched, until the operator removes it.
    assert app_psql("SELECT 1", conninfo="host=frende-old dbname=frende user=frende_app sslmode=verify-full "
                                         "sslrootcert=/etc/frende/db/ca.crt").stdout.strip() == "1"
    assert old_host_state() == STATE["old"]


def test_setup_after_the_switch_reports_no_change():
    """setup.yml with frende_db_host naming the new host, as the switch asks the operator to set it."""
    run = playbook("setup.yml", "-e", "frende_db_host=frende-new")
    assert run.returncode == 0, run.stdout[-4000:]
    stats = recap(run.stdout)
    assert set(stats) == {OLD, NEW, APP}
    assert all(s["changed"] == 0 for s in stats.values()), run.stdout[-4000:]
