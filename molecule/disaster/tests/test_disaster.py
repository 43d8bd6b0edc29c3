"""The loss of the database host, on real hosts: archive, destroy, recover to a point in time and to the latest
point, and a database host that tries to destroy the repository's history.

The tests run in file order and build on each other (one set of hosts, as in production).
"""

import json
import re
import subprocess
import time

import pytest

from frende_hosts import PG_VERSION, PODMAN_ENV, RELEASE, app_psql, playbook, psql_postgres, recap, sh

BACKUP = "frende-backup"
DB = "frende-db"
APP = "frende-app"
NETWORK = "frende-test-disaster"
IMAGE = "localhost/frende-test-base:" + RELEASE
ARCHIVE_TIMEOUT_S = 15  # molecule.yml sets frende_db_archive_timeout: 15s
HOSTS = "/var/backups/frende/hosts"
COPIES = "%s/%s" % (HOSTS, DB)
STATE = {}


def repository(*args, check=True):
    return sh(BACKUP, "/usr/local/bin/frende-db-repository " + " ".join(args), check=check)


def info():
    return json.loads(repository("--action", "info", "--stanza", "frende", "--json").stdout)


def repository_files():
    """{path: sha256} of every file in the repository."""
    out = sh(BACKUP, "cd /var/lib/pgbackrest && find . -type f -print0 | xargs -0 sha256sum").stdout
    return dict((path, digest) for digest, path in (line.split(None, 1) for line in out.splitlines()))


def holding(host, secret, paths):
    """Files under ``paths`` on ``host`` that hold ``secret`` (which travels on stdin, not a command line)."""
    # The pattern goes in a file under /run (not searched), so grep's own command line does not hold it.
    script = ("umask 077; read -r SECRET; printf '%%s\\n' \"$SECRET\" > /run/frende-pattern; "
              "grep -rlsF -f /run/frende-pattern %s 2>/dev/null; rm -f /run/frende-pattern" % paths)
    proc = subprocess.run(["podman", "exec", "-i", host, "/bin/sh", "-c", script], input=secret + "\n",
                          capture_output=True, text=True, env=PODMAN_ENV, timeout=300, check=False)
    return [line for line in proc.stdout.splitlines() if not line.startswith("/proc/self")]


def rows(where="true"):
    return int(psql_postgres("SELECT count(*) FROM recovery_probe WHERE %s;" % where).stdout.strip())


def insert(first, last):
    psql_postgres("SET ROLE frende_owner; INSERT INTO recovery_probe (id) SELECT generate_series(%d, %d);"
                  % (first, last))


def recover(*extra, env=None):
    return playbook("recover.yml", *extra, env=env)


def new_empty_host():
    """The lost host's name on a new, empty machine: the base image, nothing installed."""
    subprocess.run(["podman", "rm", "-f", DB], env=PODMAN_ENV, check=True, capture_output=True)
    subprocess.run(["podman", "run", "-d", "--name", DB, "--hostname", DB, "--network", NETWORK, "--cap-add", "NET_ADMIN", "--systemd",
                    "always", IMAGE, "/sbin/init"], env=PODMAN_ENV, check=True, capture_output=True)
    sh(DB, "systemctl is-system-running --wait || true")


def test_a_full_backup_is_taken_verified_and_logged_on_the_backup_host():
    psql_postgres("SET ROLE frende_owner; CREATE TABLE recovery_probe (id int PRIMARY KEY, "
                  "at timestamptz NOT NULL DEFAULT clock_timestamp()); GRANT SELECT ON recovery_probe TO frende_app;")
    repository("--action", "backup", "--type", "full", "--stanza", "frende")
    backups = info()["backups"]
    assert [b["type"] for b in backups] == ["full"]
    log = sh(BACKUP, "cat /var/log/frende/backup.log").stdout
    assert re.search(r"action=backup event=finished stanza=frende type=full label=\S+F ", log)
    assert "action=verify event=verified stanza=frende" in log
    # The backup host's gauges carry the repository's figures.
    metrics = sh(BACKUP, "cat /var/lib/prometheus/node-exporter/frende_db.prom").stdout
    assert re.search(r'^frende_db_job_last_exit_code\{job="backup_full"\} 0\.0$', metrics, re.M), metrics
    assert re.search(r'^frende_db_backup_last_verified\{database="frende",kind="full"\} 1\.0$', metrics, re.M)
    stop = re.search(r'^frende_db_backup_last_success_timestamp_seconds\{database="frende",kind="full"\} (\S+)$',
                     metrics, re.M)
    assert stop and abs(float(stop.group(1)) - backups[-1]["stop"]) < 1
    STATE["full_stop"] = backups[-1]["stop"]
    # The passphrase is in the backup host's config only: not on the database host, not in any log.
    secret = sh(BACKUP, "sed -n 's/^repo1-cipher-pass=//p' /etc/pgbackrest/pgbackrest.conf").stdout.strip()
    assert len(secret) >= 20
    STATE["secret"] = secret
    for host, paths in ((DB, "/etc /var/log /var/lib/postgresql /var/spool/pgbackrest /root /tmp"),
                        (BACKUP, "/var/log /var/lib/pgbackrest /var/lib/pgbackrest-ingest /root /tmp")):
        found = holding(host, secret, paths)
        assert found == [], (host, found)
    # ...and on the database host, no process's command line or environment either.
    assert holding(DB, secret, "/proc/[0-9]*/cmdline /proc/[0-9]*/environ") == []


def test_prometheus_on_the_monitoring_host_has_the_repository_figures():
    query = ("frende_db_backup_last_success_timestamp_seconds"
             '{host="frende-backup",kind="full",job="frende_db_node"}')
    script = r"""
import base64, json, ssl, sys, urllib.parse, urllib.request
secret = open("/etc/prometheus/frende-tls/password").read()
request = urllib.request.Request("https://frende-app:9090/api/v1/query?query=" + urllib.parse.quote(sys.argv[1]))
request.add_header("Authorization", "Basic " + base64.b64encode(("prometheus:" + secret).encode()).decode())
context = ssl.create_default_context(cafile="/etc/prometheus/frende-tls/ca.crt")
print(json.dumps(json.load(urllib.request.urlopen(request, context=context, timeout=10))["data"]["result"]))
"""
    deadline = time.time() + 90
    while True:
        result = json.loads(sh(APP, "python3 - '%s' <<'PY'\n%s\nPY" % (query, script)).stdout)
        if result or time.time() > deadline:
            break
        time.sleep(3)
    assert result and float(result[0]["value"][1]) == pytest.approx(STATE["full_stop"], abs=1), result


def test_the_database_host_cannot_remove_or_replace_the_repository_history():
    sh(DB, "runuser -u postgres -- psql -XAtqc 'SELECT pg_switch_wal()'")
    time.sleep(5)
    before = repository_files()
    sealed = sorted(p for p in before if re.search(r"/0000000100000000/[0-9A-F]{24}-", p))
    assert sealed, before
    first = sealed[0].rsplit("/", 1)[1][:24]
    attempts = {
        "expire": "pgbackrest --stanza=frende --repo1-retention-full=1 --repo1-retention-archive=1 expire",
        "stanza-delete": "pgbackrest --stanza=frende stop && pgbackrest --stanza=frende stanza-delete --force; "
                         "rc=$?; pgbackrest --stanza=frende start; exit $rc",
        # A segment with bytes past its header overwritten, under the sealed segment's name. Content that is
        # already archived would be a duplicate pgBackRest accepts with exit 0, and any file in pg_wal may be
        # one: a recycled segment keeps the content of the one it was renamed from.
        "write into the repository": "cp $(ls -1 /var/lib/postgresql/%s/main/pg_wal/0000000* | tail -1) /tmp/%s "
                                     "&& printf forged-by-the-test | dd of=/tmp/%s bs=1 seek=65536 conv=notrunc "
                                     "status=none && pgbackrest --stanza=frende --repo1-path=/var/lib/pgbackrest "
                                     "--no-archive-async archive-push /tmp/%s" % (PG_VERSION, first, first, first),
        "delete through the repository path": "pgbackrest --stanza=frende --repo1-path=/var/lib/pgbackrest "
                                              "stop && pgbackrest --stanza=frende --repo1-path=/var/lib/pgbackrest "
                                              "stanza-delete --force; rc=$?; pgbackrest --stanza=frende start; "
                                              "exit $rc",
    }
    # Root on the database host runs pgBackRest as postgres, who holds the host's key (pgBackRest refuses a key
    # that root does not own alone), so each attempt runs as postgres: everything root could send.
    # Debian 12's pgBackRest (2.45) refuses expire on the database host; Debian 13's runs it on the backup
    # host's ingest server, which holds only WAL in transit: there it may succeed, and must change nothing of
    # the history (checked file by file below). Every other attempt must fail on both.
    for name, script in attempts.items():
        proc = sh(DB, script, check=False, user="postgres")
        if name == "expire" and RELEASE != "bookworm":
            continue
        assert proc.returncode != 0, "%s succeeded from the database host:\n%s" % (name, proc.stdout + proc.stderr)
    # A forged second copy of a sealed segment through the ingest: accepted there, refused by the sealer.
    forged = sh(DB, "pgbackrest --stanza=frende --no-archive-async archive-push /tmp/%s" % first, check=False,
                user="postgres")
    assert forged.returncode == 0, forged.stderr
    time.sleep(6)
    after = repository_files()
    changed = [p for p in before if after.get(p) != before[p]]
    assert changed == [], changed
    assert [p for p in after if first in p] == [p for p in before if first in p]
    log = sh(BACKUP, "cat /var/log/frende/backup.log").stdout
    assert re.search(r"WARNING action=seal-wal event=refused file=\S*%s" % first, log), log
    assert info()["status"] == 0


@pytest.mark.parametrize("extra, env, words", [
    (["-e", "recover_target_time='2026-13-01 10:00:00+00'"], None, "not a valid time"),
    (["-e", "recover_target_time='2026-12-01 10:00:00'"], None, "without a zone"),
    (["-e", "recover_target_time='2999-01-01 00:00:00+00'"], None, "in the future"),
    (["-e", "recover_target_time='2001-01-01 00:00:00+00'"], None, "before the end of the oldest backup"),
    ([], {"FRENDE_DB_PGBACKREST_CIPHER_PASS": "not-the-passphrase-of-this-repository"}, "cannot be read"),
    ([], None, "holds the databases frende"),
    (["-e", "recover_overwrite=maybe"], None, "recover_overwrite true or false"),
])
def test_bad_recovery_input_is_refused_before_any_change(extra, env, words):
    count = rows()
    proc = recover(*extra, env=env)
    assert proc.returncode != 0
    assert words in proc.stdout, proc.stdout[-3000:]
    assert all(stats.get("changed", 0) == 0 for stats in recap(proc.stdout).values()), proc.stdout[-3000:]
    assert rows() == count and sh(DB, "systemctl is-active postgresql@%s-main" % PG_VERSION).stdout.strip() == "active"


def test_rows_are_written_before_and_after_a_moment_t():
    insert(1, 100)
    time.sleep(2)
    STATE["target"] = psql_postgres("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                                    "'YYYY-MM-DD HH24:MI:SS.US') || '+00';").stdout.strip()
    time.sleep(2)
    insert(101, 200)
    STATE["written_at"] = time.time()


def test_the_nightly_logical_set_is_copied_to_the_backup_host_out_of_the_database_hosts_reach():
    proc = playbook("backup.yml")  # the logical set here, then the backup host's backup and its copy of the set
    assert proc.returncode == 0, proc.stdout[-5000:]
    names = sh(BACKUP, "ls -1 %s" % COPIES).stdout.split()
    sets = [n[:-len(".manifest.json")] for n in names if n.endswith(".manifest.json")]
    assert len(sets) == 1, names
    STATE["set"] = name = sets[0]
    # Encrypted by default (frende_db_backup_encrypt), to the identity that stays on the controller.
    for suffix in (".dump.zst.age", ".globals.sql.zst.age", ".manifest.json"):
        assert (sh(BACKUP, "sha256sum < %s/%s%s" % (COPIES, name, suffix)).stdout
                == sh(DB, "sha256sum < /var/backups/frende/database/%s%s" % (name, suffix)).stdout)
    before = sh(BACKUP, "cd %s && sha256sum * | sort" % COPIES).stdout
    # As root on the database host, through the one server of the backup host that admits it (the WAL ingest).
    # The same channel reads the (encrypted) repository: the attempts below reach the server.
    control = sh(DB, "pgbackrest --stanza=frende repo-ls", user="postgres")
    assert "backup" in control.stdout.split(), control.stdout
    attempts = {
        "list the copies": "pgbackrest --stanza=frende --repo1-path=%s repo-ls --recurse" % HOSTS,
        "remove a copy": "pgbackrest --stanza=frende --repo1-path=%s repo-rm %s.manifest.json" % (COPIES, name),
        "remove the copies": "pgbackrest --stanza=frende --repo1-path=%s repo-rm --recurse %s" % (HOSTS, DB),
    }
    for what, script in attempts.items():
        attempt = sh(DB, script, check=False, user="postgres")
        assert attempt.returncode != 0, "%s succeeded from the database host:\n%s" % (what, attempt.stdout)
    # A set rewritten on the database host is not copied over the copy.
    sh(DB, "cd /var/backups/frende/database && printf forged > %s.dump.zst.age" % name)
    again = sh(BACKUP, "frende-db-repository --action copy-sets --stanza frende --to-dir %s --json" % COPIES)
    assert json.loads(again.stdout)["copied"] == []
    assert sh(BACKUP, "cd %s && sha256sum * | sort" % COPIES).stdout == before
    log = sh(BACKUP, "cat /var/log/frende/backup.log").stdout
    assert re.search(r"action=copy-sets event=copied stanza=frende backup=%s " % name, log), log


def test_the_lost_host_is_recovered_to_a_point_in_time():
    time.sleep(max(0.0, STATE["written_at"] + ARCHIVE_TIMEOUT_S + 30 - time.time()))
    insert(201, 210)  # moments before the loss: may or may not be archived
    STATE["lost_at"] = time.time()
    new_empty_host()
    proc = recover("-e", "recover_target_time='%s'" % STATE["target"])
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert (rows("id <= 100"), rows("id > 100")) == (100, 0)


def test_recovering_again_to_the_latest_point_has_every_row_archived_before_the_loss():
    refused = recover("-e", "recover_target_timeline=current")
    assert refused.returncode != 0 and "holds the databases frende" in refused.stdout
    proc = recover("-e", "recover_overwrite=true", "-e", "recover_target_timeline=current")
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert rows("id <= 200") == 200
    newest = float(psql_postgres("SELECT extract(epoch FROM max(at)) FROM recovery_probe;").stdout.strip())
    rpo = STATE["lost_at"] - newest
    print("achieved RPO: %.1f s (archive_timeout %d s)" % (rpo, ARCHIVE_TIMEOUT_S))
    assert rpo <= ARCHIVE_TIMEOUT_S + 30
    assert "kept in /var/lib/postgresql/%s/main.before-recover-" % PG_VERSION in proc.stdout
    # recover.yml ends with the health report: archiving and the repository as seen from the new host.
    assert "healthy | wal_archive" in proc.stdout and "healthy | repository" in proc.stdout, proc.stdout[-4000:]


def test_the_application_connects_with_verify_full_and_setup_reports_no_change():
    proc = app_psql("SELECT count(*) FROM recovery_probe WHERE id <= 200")
    assert proc.returncode == 0 and proc.stdout.strip() == "200", proc.stderr
    again = playbook("setup.yml", "--diff", "-v")
    assert again.returncode == 0, again.stdout[-3000:]
    assert STATE["secret"] not in again.stdout + again.stderr
    assert all(stats.get("changed", 0) == 0 for stats in recap(again.stdout).values()), again.stdout[-5000:]


def test_a_restore_on_the_new_host_takes_the_newest_logical_set_from_the_backup_host():
    assert sh(DB, "ls /var/backups/frende/database/ 2>/dev/null | grep -c manifest || true").stdout.strip() == "0"
    dry = playbook("restore.yml", "-e", "backup_file=latest", "--check")
    assert dry.returncode == 0 and "Would bring %s from the backup host" % STATE["set"] in dry.stdout, dry.stdout[-3000:]
    assert sh(DB, "ls /var/backups/frende/database/ 2>/dev/null | grep -c manifest || true").stdout.strip() == "0"
    proc = playbook("restore.yml", "-e", "backup_file=latest")
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "%s was brought from %s" % (STATE["set"], BACKUP) in proc.stdout
    assert "Restored %s into frende" % STATE["set"] in proc.stdout, proc.stdout[-3000:]
    assert (rows("id <= 200"), rows("id > 200")) == (200, 0)  # the set was taken before rows 201-210
    assert sh(BACKUP, "ls /var/tmp | grep -c frende-db-restore || true").stdout.strip() == "0"


def test_the_physical_drill_restores_checks_and_times_the_newest_backup_on_the_backup_host():
    insert(1001, 1100)
    # Wait until the segment holding those rows is archived (archive_timeout forces it) and sealed.
    wal = psql_postgres("SELECT pg_walfile_name(pg_current_wal_lsn());").stdout.strip()
    deadline = time.time() + 2 * ARCHIVE_TIMEOUT_S + 60
    while psql_postgres("SELECT coalesce(last_archived_wal, '') >= '%s' FROM pg_stat_archiver;" % wal
                        ).stdout.strip() != "t":
        assert time.time() < deadline, "WAL %s was not archived within %ds" % (wal, 2 * ARCHIVE_TIMEOUT_S + 60)
        time.sleep(2)
    time.sleep(2 * 2 + 1)  # the sealer runs every 2 s
    proc = playbook("drill.yml", "--limit", BACKUP)
    assert proc.returncode == 0, proc.stdout[-5000:]
    name = sh(BACKUP, "ls -1t /var/lib/frende-db/drills/ | head -1").stdout.strip()
    report = json.loads(sh(BACKUP, "cat /var/lib/frende-db/drills/%s" % name).stdout)
    assert {"rto_s", "rpo_s", "target_time", "ok"} <= set(report)
    assert report["ok"] is True and report["kind"] == "physical", report
    assert report["indexes_checked"] > 0
    probe = [t for t in report["tables"] if t["table"] == "public.recovery_probe"]
    assert probe and probe[0]["rows"] == rows(), report  # every row archived before the drill
    print("physical drill: RTO %ss, RPO %ss" % (report["rto_s"], report["rpo_s"]))
    assert sh(BACKUP, "ls -A /var/lib/pgbackrest-drill").stdout.strip() == ""  # scratch removed
    log = sh(BACKUP, "cat /var/log/frende/backup.log").stdout
    assert re.search(r"INFO action=drill event=passed stanza=frende .* ok=yes", log), log[-2000:]
    metrics = sh(BACKUP, "cat /var/lib/prometheus/node-exporter/frende_db.prom").stdout
    assert re.search(r'^frende_db_job_last_exit_code\{job="drill"\} 0\.0$', metrics, re.M), metrics
    assert re.search(r'^frende_db_drill_last_rto_seconds\{database="frende",kind="physical"\} %s$'
                     % re.escape(str(float(report["rto_s"]))), metrics, re.M), metrics
    assert 'frende_db_drill_last_success_timestamp_seconds{database="frende",kind="physical"}' in metrics


def test_the_security_report_has_the_repository_s_backups_and_the_physical_drill(tmp_path):
    """report.yml as root on the recovered host: pgBackRest is read as its own user (as root it refuses the TLS
    key), the backup host's physical drill is on the page, and nothing changes on any host."""
    proc = playbook("report.yml", "-e", "frende_db_report_dir=%s" % tmp_path)
    assert proc.returncode == 0, proc.stdout[-5000:]
    (page,) = re.findall(r"Security report: (\S+)\.html \(and \.json\)", proc.stdout)
    hosts = {h["host"]: h for h in json.loads(open(page + ".json", encoding="utf-8").read())["hosts"]}
    stats = recap(proc.stdout)
    assert all(stats[h]["changed"] == 0 and stats[h]["failed"] == 0 for h in (DB, BACKUP, APP)), stats
    db = hosts[DB]
    assert db["notes"] == [], db["notes"]
    labels = [b["label"] for b in info()["backups"]]
    assert [b["label"] for b in db["backups"]["physical"]] == labels and labels
    checks = {c["id"]: c for c in db["checks"]}
    assert "cannot be read" not in checks["backups"]["evidence"], checks["backups"]
    drills = [d for d in hosts[BACKUP]["drills"] if d["kind"] == "physical"]
    assert drills and drills[-1]["passed"] is True
    assert {c["id"]: c["status"] for c in hosts[BACKUP]["checks"]}["physical_drills"] == "pass"
    html = open(page + ".html", encoding="utf-8").read()
    assert STATE["secret"] not in html and labels[-1] in html
