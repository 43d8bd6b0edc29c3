# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the default scenario: what setup.yml built, checked with real
clients from the three hosts, then the operations playbooks (backup, restore,
health) and the failure paths (bad certificate, bad access rule).

The tests run in file order: the later ones change data and inputs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess

from frende_hosts import (PASSWORD, PG_CONF, PG_LOG, PG_VERSION, PODMAN_ENV, app_psql, playbook, psql_postgres, recap, sh,
                          task_results)

DB, APP, INTRUDER, MONITOR = "frende-db", "frende-app", "frende-intruder", "frende-monitor"


def setting(name):
    return psql_postgres("SHOW %s;" % name).stdout.strip()


# --- What setup.yml built -----------------------------------------------------

def test_the_server_is_the_releases_postgresql():
    """Debian 12 runs PostgreSQL 15, Debian 13 runs 17: the role took the version from the release."""
    release = sh(DB, ". /etc/os-release && echo $VERSION_CODENAME").stdout.strip()
    assert release == os.environ.get("FRENDE_TEST_RELEASE", "bookworm")
    assert setting("server_version_num")[:-4] == PG_VERSION
    assert setting("cluster_name") == PG_VERSION + "/main"


def test_server_settings_follow_the_security_document():
    assert setting("max_connections") == "200"
    assert setting("authentication_timeout") == "1min"
    assert setting("password_encryption") == "scram-sha-256"
    assert setting("log_connections") == "on"
    assert setting("log_disconnections") == "on"
    assert setting("ssl") == "on"
    assert setting("ssl_min_protocol_version") == "TLSv1.2"
    assert "pg_stat_statements" in setting("shared_preload_libraries")
    prefix = setting("log_line_prefix")
    for escape in ("%m", "%p", "%u", "%d", "%h"):
        assert escape in prefix
    address = sh(DB, "hostname -i").stdout.split()[0]
    assert address in setting("listen_addresses").split(",")
    assert psql_postgres("SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL;").stdout.strip() == "0"
    assert psql_postgres("SELECT count(*) FROM pg_settings WHERE pending_restart;").stdout.strip() == "0"


def test_access_rules_have_no_errors_and_end_in_reject():
    rules = psql_postgres("SELECT type, database[1], user_name[1], address, auth_method, error "
                          "FROM pg_hba_file_rules ORDER BY line_number;").stdout.strip().splitlines()
    assert rules[0] == "local|all|postgres||peer|"
    assert all(not row.endswith("|") or row.split("|")[-1] == "" for row in rules)
    assert [r for r in rules if r.startswith("hostssl")] and all(
        r.split("|")[1:3] == ["frende", "frende_app"] and r.split("|")[4] == "scram-sha-256"
        for r in rules if r.startswith("hostssl"))
    assert rules[-4:] == ["hostnossl|all|all|0.0.0.0|reject|", "hostnossl|all|all|::|reject|",
                          "host|all|all|0.0.0.0|reject|", "host|all|all|::|reject|"]


def test_the_application_connects_with_verify_full_through_its_env_file():
    proc = sh(APP, "psql -X -A -t \"$(sed -n 's/^DATABASE_URL=//p' /etc/frende/db/database.env)\" "
                   "-c 'SELECT current_user, ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()'")
    user, ssl, version = proc.stdout.strip().split("|")
    assert (user, ssl) == ("frende_app", "t")
    assert version in ("TLSv1.2", "TLSv1.3")
    env = sh(APP, "cat /etc/frende/db/database.env").stdout
    for line in ("DATABASE_POOL_SIZE=20", "DATABASE_MAX_OVERFLOW=30", "DATABASE_POOL_TIMEOUT=60"):
        assert line in env.splitlines()
    assert "sslmode=verify-full&sslrootcert=/etc/frende/db/ca.crt" in env


def test_a_connection_without_tls_is_rejected():
    proc = app_psql("SELECT 1", conninfo="host=frende-db dbname=frende user=frende_app sslmode=disable")
    assert proc.returncode != 0
    assert "rejects connection" in proc.stderr and "no encryption" in proc.stderr


def test_a_wrong_password_is_rejected_and_reported_by_the_health_check():
    proc = app_psql("SELECT 1", password="not-the-password")
    assert proc.returncode != 0
    assert 'password authentication failed for user "frende_app"' in proc.stderr
    run = playbook("health.yml", json_output=True)
    assert run.returncode == 0, run.stdout + run.stderr
    report = task_results(run.stdout, "Check the database's health and its drift from the security policy")[DB]
    failed_auth = [c for c in report["checks"] if c["name"] == "failed_auth"][0]
    assert failed_auth["value"]["count"] >= 1
    assert failed_auth["value"]["by_user"].get("frende_app", 0) >= 1
    # The role's health task connects as postgres over the Unix socket: TLS does not apply there.
    ssl = [c for c in report["checks"] if c["name"] == "ssl"][0]
    assert ssl["status"] == "healthy" and ssl["value"]["local_socket"] is True, ssl


def dropped(port_name):
    """Packets the firewall dropped at one of frende.db's ports (table inet frende_db)."""
    out = sh(DB, "nft list counter inet frende_db dropped_%s" % port_name).stdout
    return int(re.search(r"packets (\d+)", out).group(1))


def test_the_intruder_gets_no_answer_from_postgresql_at_all():
    """The firewall drops the intruder's packets to 5432 (counted); the access rules stay a second wall."""
    before = dropped("postgresql")
    for mode in ("require", "disable"):
        proc = app_psql("SELECT 1", host=INTRUDER,
                        conninfo="host=frende-db dbname=frende user=frende_app sslmode=%s connect_timeout=3" % mode)
        assert proc.returncode != 0
        assert "timeout expired" in proc.stderr, proc.stderr
    probe = sh(INTRUDER, "timeout 5 openssl s_client -starttls postgres -connect frende-db:5432 </dev/null 2>&1",
               check=False)
    assert probe.returncode != 0 and "CONNECTED" not in probe.stdout, probe.stdout
    assert dropped("postgresql") > before
    address = sh(INTRUDER, "hostname -i").stdout.split()[0]
    assert "client=%s" % address not in sh(DB, "cat " + PG_LOG).stdout  # PostgreSQL never saw it
    assert app_psql("SELECT 1").stdout.strip() == "1"  # while the application server connects


def test_the_firewall_is_one_table_beside_the_hosts_own_rules():
    tables = sh(DB, "nft list tables").stdout.split("\n")
    assert "table inet frende_db" in tables and "table inet host_rules" in tables, tables  # prepare.yml's stays
    ours = sh(DB, "nft list table inet frende_db").stdout
    assert re.search(r"tcp dport 22\b", ours) is None  # SSH is never the role's business
    assert "flush ruleset" not in sh(DB, "cat /etc/nftables.frende_db.nft").stdout
    assert sh(DB, "systemctl is-enabled frende-db-firewall").stdout.strip() == "enabled"


def test_tls_1_1_is_refused_and_tls_1_2_accepted():
    old = sh(APP, "echo | openssl s_client -starttls postgres -connect frende-db:5432 -tls1_1 "
                  "-cipher 'DEFAULT@SECLEVEL=0' 2>&1", check=False)
    assert old.returncode != 0
    assert "alert protocol version" in old.stdout
    new = sh(APP, "echo | openssl s_client -starttls postgres -connect frende-db:5432 -tls1_2 "
                  "-CAfile /etc/frende/db/ca.crt -verify_hostname frende-db -verify_return_error 2>&1")
    assert "Protocol  : TLSv1.2" in new.stdout
    assert "Verify return code: 0 (ok)" in new.stdout


def test_the_application_user_has_least_privilege():
    for statement in ("CREATE TABLE intruding (id int)", "CREATE ROLE sneaky", "CREATE DATABASE sneaky",
                      "SELECT rolpassword FROM pg_authid"):
        proc = app_psql(statement)
        assert proc.returncode != 0, statement
        assert "permission denied" in proc.stderr, (statement, proc.stderr)


def test_the_application_user_reads_and_writes_what_the_owner_creates_later():
    psql_postgres("SET ROLE frende_owner; DROP TABLE IF EXISTS notes; "
                  "CREATE TABLE notes (id int PRIMARY KEY, body text);"
                  "CREATE TABLE IF NOT EXISTS keep (id int PRIMARY KEY, name text);"
                  "INSERT INTO keep VALUES (1, 'one'), (2, 'two') ON CONFLICT DO NOTHING;")
    proc = app_psql("INSERT INTO notes VALUES (1, 'hello'); UPDATE notes SET body = 'hi'; "
                    "SELECT body FROM notes; DELETE FROM notes;")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hi"


def test_only_postgres_can_create_roles_or_databases():
    rows = psql_postgres("SELECT rolname FROM pg_roles WHERE rolcanlogin "
                         "AND (rolsuper OR rolcreaterole OR rolcreatedb) ORDER BY 1;").stdout.split()
    assert rows == ["postgres"]
    limit = psql_postgres("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'frende_app';").stdout.strip()
    assert limit == "150"
    assert psql_postgres("SELECT pg_has_role('frende_monitor', 'pg_monitor', 'member');").stdout.strip() == "t"


def test_the_app_role_holds_nothing_on_the_extension_views():
    """pg_stat_statements lives in public, but it is the extension's, not the application's."""
    held = psql_postgres("SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a "
                         "WHERE c.oid IN ('public.pg_stat_statements'::regclass, "
                         "'public.pg_stat_statements_info'::regclass) "
                         "AND a.grantee = 'frende_app'::regrole;").stdout.strip()
    assert held == "0"


def test_monitoring_functions_work_for_the_monitoring_role_and_are_not_security_definer():
    rows = psql_postgres("SELECT proname, prosecdef FROM pg_proc "
                         "WHERE proname IN ('get_database_stats', 'get_slow_queries') ORDER BY 1;").stdout.split()
    assert rows == ["get_database_stats|f", "get_slow_queries|f"]
    proc = psql_postgres("SET ROLE frende_monitor; SELECT count(*) >= 0 FROM get_database_stats(); "
                         "SELECT count(*) >= 0 FROM get_slow_queries();")
    assert proc.stdout.split() == ["t", "t"]
    denied = app_psql("SELECT * FROM get_database_stats()")
    assert denied.returncode != 0 and "permission denied" in denied.stderr


def test_files_directories_and_modes():
    def stat(host, path):
        return sh(host, "stat -c '%a %U %G' " + path).stdout.split()

    assert stat(DB, "/var/log/frende") == ["750", "postgres", "adm"]
    for log in ("app.log", "backup.log", "maintenance.log"):
        assert stat(DB, "/var/log/frende/" + log) == ["640", "postgres", "adm"]
    assert stat(DB, "/var/backups/frende/database") == ["700", "postgres", "postgres"]
    assert stat(DB, PG_CONF + "/frende-server.key") == ["600", "postgres", "postgres"]
    assert stat(DB, "/etc/frende/db/backup.conf")[0] == "640"
    assert stat(APP, "/etc/frende/db/database.env") == ["640", "root", "root"]
    assert stat(APP, "/etc/frende/db/ca.crt")[0] == "644"
    assert sh(DB, "logrotate --debug /etc/logrotate.d/frende-db 2>&1").returncode == 0
    # One release of the commands, switched by one link; nothing of the layout before it is left.
    releases = sh(DB, "ls /usr/local/lib/frende-db/releases").stdout.split()
    assert len(releases) == 1, releases
    layout = sorted(sh(DB, "ls /usr/local/lib/frende-db").stdout.split())
    assert layout == ["current", "libexec", "releases", "validators"]
    assert sh(DB, "readlink /usr/local/lib/frende-db/current").stdout.strip() == \
        "/usr/local/lib/frende-db/releases/" + releases[0]
    for command in ("frende-db-backup", "frende-db-maintenance"):
        assert sh(DB, "readlink /usr/local/bin/" + command).stdout.strip() == "/usr/local/lib/frende-db/current/bin/frende-db"
    assert sh(DB, "cd /usr/local/lib/frende-db/current && sha256sum --check --quiet --strict .files").returncode == 0
    assert not sh(DB, "ls /usr/local/lib/frende-db/current/plugins/module_utils/_role", check=False).returncode == 0
    assert '"changed": false' in sh(DB, "runuser -u postgres -- frende-db-maintenance "
                                        "--config /etc/frende/db/maintenance.conf --action functions --check --json").stdout
    assert sh(DB, "runuser -u postgres -- frende-db-backup --config /etc/frende/db/backup.conf --action list").returncode == 0


def test_cron_runs_backups_maintenance_and_drills_as_postgres():
    lines = [l for l in sh(DB, "cat /etc/cron.d/frende-db").stdout.splitlines() if l and not l.startswith("#")]
    assert any(re.match(r"^0 2 \* \* \* postgres /usr/local/bin/frende-db-backup .*--action backup "
                        r"&& .*--action verify --backup-file latest && .*--action cleanup$", l) for l in lines), lines
    assert any(re.match(r"^0 1 \* \* 0 postgres /usr/local/bin/frende-db-maintenance .*--action all$", l) for l in lines), lines
    # The sets are encrypted to the controller's identity, which never reaches the host: no drill of its own
    # (it could not decrypt); drill.yml runs it from the controller (test below), or AWX monthly.
    assert not any("--action drill" in l for l in lines), lines
    assert "30" in sh(DB, "sed -n 's/^retention_days = //p' /etc/frende/db/backup.conf").stdout


def test_backups_are_encrypted_by_default_to_an_identity_that_stays_on_the_controller():
    pki = os.path.join(os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]), ".frende-db-pki")
    identity = os.path.join(pki, "backup-identity.agekey")
    assert oct(os.stat(identity).st_mode & 0o777) == "0o600"
    public = subprocess.run(["age-keygen", "-y", identity], capture_output=True, text=True, check=True).stdout.strip()
    conf = sh(DB, "cat /etc/frende/db/backup.conf").stdout
    assert re.search(r"^encrypt_recipients = %s$" % re.escape(public), conf, re.M), conf
    secret = [l for l in open(identity).read().splitlines() if l.startswith("AGE-SECRET-KEY-")][0]
    held = subprocess.run(["podman", "exec", "-i", DB, "sh", "-c", "grep -rlsF -f /dev/stdin /etc /var /root /tmp "
                           "/dev/shm 2>/dev/null"], input=secret + "\n", capture_output=True, text=True,
                          env=PODMAN_ENV, check=False).stdout
    assert held.strip() == ""


def test_the_nightly_job_verifies_the_new_set_before_cleanup():
    """Run the cron line itself, as cron would: the set it makes is verified, then cleanup runs."""
    job = [l for l in sh(DB, "cat /etc/cron.d/frende-db").stdout.splitlines() if "--action backup" in l][0]
    command = job.split(" postgres ", 1)[1]
    sh(DB, "runuser -u postgres -- sh -c %s" % shlex.quote(command))
    newest = json.loads(sh(DB, "runuser -u postgres -- frende-db-backup --config /etc/frende/db/backup.conf "
                               "--action list --json").stdout)["backups"][0]
    assert newest["verified"]["state"] == "ok", newest
    log = sh(DB, "cat /var/log/frende/backup.log").stdout
    done = log.rindex("action=backup event=done")
    tail = log[done:]
    assert "action=verify event=ok backup=%s" % newest["name"] in tail, tail
    assert tail.index("action=verify event=ok") < tail.index("action=cleanup"), tail


def test_a_dry_run_after_setup_changes_nothing_and_leaks_no_password():
    run = playbook("setup.yml", "--check", "--diff", "-vvv")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    stats = recap(run.stdout)
    assert set(stats) == {DB, APP, MONITOR}
    assert all(s["changed"] == 0 and s["failed"] == 0 for s in stats.values()), stats
    for text in (run.stdout, run.stderr):
        assert PASSWORD not in text
        assert PASSWORD.replace("/", "%2F") not in text
    server_log = sh(DB, "cat " + PG_LOG).stdout
    assert PASSWORD not in server_log


# --- Operations playbooks -----------------------------------------------------

def test_a_backup_runs_and_verifies():
    run = playbook("backup.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    listing = sh(DB, "runuser -u postgres -- frende-db-backup --config /etc/frende/db/backup.conf --action list").stdout
    assert "frende-" in listing
    log = sh(DB, "cat /var/log/frende/backup.log").stdout
    # The module logs under its own name, in the commands' one line format.
    line = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ frende\.db\.frende_db_backup\[\d+\] INFO "
    assert re.search(line + r"action=backup event=done database=frende name=frende-\d{8}T\d{6}Z size=\d+ ", log,
                     re.M), log[-2000:]
    # Encrypted to the controller's identity, which the host never holds: the checksums are what it can verify.
    assert re.search(line + r"action=verify event=ok backup=frende-\d{8}T\d{6}Z level=checksum-only$", log, re.M), \
        log[-2000:]


def test_a_drill_restores_the_newest_backup_within_the_targets():
    run = playbook("drill.yml", json_output=True)
    assert run.returncode == 0, run.stdout[-3000:]
    result = task_results(run.stdout, "Run a restore drill")[DB]
    assert "drill passed" in result["msg"]
    assert result["report"]["rows_checked"] is True


def test_maintenance_runs_and_logs():
    run = playbook("maintenance.yml", json_output=True)
    assert run.returncode == 0, run.stdout[-3000:]
    document = task_results(run.stdout, "Run the database maintenance")[DB]
    assert sorted(json.loads(document["stdout"])["actions"]) == ["functions", "health", "reindex", "report", "vacuum"]
    log = sh(DB, "cat /var/log/frende/maintenance.log").stdout
    line = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ frende-db-maintenance\[(\d+)\] INFO action=all "
    start = re.findall(line + r"event=start database=frende check_mode=no$", log, re.M)
    finish = re.findall(line + r"event=finish changed=(?:yes|no) exit=0$", log, re.M)
    assert start and finish and start[-1] == finish[-1], log[-2000:]  # one run, from start to finish


def test_restore_refuses_without_a_backup_named():
    run = playbook("restore.yml")
    assert run.returncode != 0
    assert "Name the backup to restore" in run.stdout


def test_restore_brings_back_a_deleted_row():
    psql_postgres("DELETE FROM keep WHERE id = 2;")
    run = playbook("restore.yml", "-e", "backup_file=latest")
    assert run.returncode == 0, run.stdout[-3000:]
    assert psql_postgres("SELECT name FROM keep ORDER BY id;").stdout.split() == ["one", "two"]
    # The application still connects to the swapped-in database.
    assert app_psql("SELECT count(*) FROM keep").stdout.strip() == "2"


def test_a_corrupt_backup_fails_the_restore_and_leaves_the_live_data_alone():
    psql_postgres("INSERT INTO keep VALUES (3, 'three');")
    run = playbook("backup.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    dump = sh(DB, "ls -t /var/backups/frende/database/*.dump.* | head -n1").stdout.strip()
    # Flip bytes in the middle of the newest dump.
    sh(DB, "size=$(stat -c %%s %s); printf 'CORRUPTCORRUPT' | dd of=%s bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null"
       % (dump, dump))
    before = psql_postgres("SELECT datname FROM pg_database ORDER BY 1;").stdout
    run = playbook("restore.yml", "-e", "backup_file=latest")
    assert run.returncode != 0
    assert psql_postgres("SELECT name FROM keep ORDER BY id;").stdout.split() == ["one", "two", "three"]
    assert psql_postgres("SELECT datname FROM pg_database ORDER BY 1;").stdout == before


# --- Bad inputs never reach the running server --------------------------------

def _server_cert_fingerprint():
    return sh(APP, "echo | openssl s_client -starttls postgres -connect frende-db:5432 2>/dev/null "
                   "| openssl x509 -noout -fingerprint -sha256").stdout.strip()


def test_a_key_that_does_not_match_the_certificate_fails_before_the_server_is_touched(tmp_path):
    for name in ("a", "b"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-subj", "/CN=frende-db", "-days", "30", "-keyout", str(tmp_path / (name + ".key")),
                        "-out", str(tmp_path / (name + ".crt"))], check=True, capture_output=True)
    before = _server_cert_fingerprint()
    pid = psql_postgres("SELECT pg_postmaster_start_time();").stdout
    # With certificates of one's own, the monitoring hosts' must be one's own too (the preflight asks for them).
    pki = os.path.join(os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]), ".frende-db-pki")
    run = playbook("setup.yml", "-e", "frende_db_ssl_cert=%s" % (tmp_path / "a.crt"),
                   "-e", "frende_db_ssl_key=%s" % (tmp_path / "b.key"), "-e", "frende_db_ssl_ca=%s" % (tmp_path / "a.crt"),
                   "-e", "frende_db_monitoring_ssl_cert=%s/frende-db-monitoring.crt" % pki,
                   "-e", "frende_db_monitoring_ssl_key=%s/frende-db-monitoring.key" % pki)
    assert run.returncode != 0
    assert "does not match the certificate" in run.stdout
    assert _server_cert_fingerprint() == before
    assert psql_postgres("SELECT pg_postmaster_start_time();").stdout == pid
    assert app_psql("SELECT 1").stdout.strip() == "1"


def test_a_client_that_is_no_address_network_or_resolvable_name_stops_the_play_before_any_change():
    live = sh(DB, "sha256sum %s/pg_hba.conf" % PG_CONF).stdout.split()[0]
    ruleset = sh(DB, "nft list table inet frende_db | grep -v packets").stdout
    run = playbook("setup.yml", "-e", '{"frende_db_allowed_clients": ["10.0.0.300/32", "app1.example.com/32", '
                                      '"gone.frende.invalid"]}')
    assert run.returncode != 0
    assert "frende_db_allowed_clients is refused, nothing was changed" in run.stdout
    for entry in ("'10.0.0.300/32'", "'app1.example.com/32'", "host name 'gone.frende.invalid' does not resolve"):
        assert entry in run.stdout
    assert recap(run.stdout)[DB]["changed"] == 0
    assert sh(DB, "sha256sum %s/pg_hba.conf" % PG_CONF).stdout.split()[0] == live
    assert sh(DB, "nft list table inet frende_db | grep -v packets").stdout == ruleset
    assert psql_postgres("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL;").stdout.strip() == "0"
    assert app_psql("SELECT 1").stdout.strip() == "1"
