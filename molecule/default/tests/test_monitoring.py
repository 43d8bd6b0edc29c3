# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the monitoring: real exporters, Prometheus and Alertmanager on the scenario's hosts, and
alerts that reach the test webhook receiver on frende-monitor (test-sized intervals, molecule.yml).

Runs after test_default.py and test_job_templates.py (file order); every test leaves the database
running and the backup configuration as the role wrote it.
"""

from __future__ import annotations

import json
import re
import time

from frende_hosts import PASSWORD, PG_VERSION, sh

DB, APP, INTRUDER, MONITOR = "frende-db", "frende-app", "frende-intruder", "frende-monitor"
RECEIVED = "/var/lib/webhook/received.jsonl"
METRICS = "/var/lib/prometheus/node-exporter/frende_db.prom"
TLS = "/etc/prometheus/frende-tls"

# Run on a host with Python: an HTTPS GET with the role's CA, with or without the basic auth password.
_GET = r"""
import base64, json, ssl, sys, urllib.error, urllib.request
url, auth = sys.argv[1], sys.argv[2] == "yes"
request = urllib.request.Request(url)
if auth:
    secret = open("/etc/prometheus/frende-tls/password").read()
    request.add_header("Authorization", "Basic " + base64.b64encode(("prometheus:" + secret).encode()).decode())
context = ssl.create_default_context(cafile=sys.argv[3])
try:
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        print(json.dumps({"status": response.status, "body": response.read().decode()}))
except urllib.error.HTTPError as exc:
    print(json.dumps({"status": exc.code, "body": ""}))
"""


def https_get(url, host=MONITOR, auth=True, cafile=TLS + "/ca.crt"):
    proc = sh(host, "python3 - %s %s %s <<'PY'\n%s\nPY" % (url, "yes" if auth else "no", cafile, _GET))
    return json.loads(proc.stdout)


def prometheus(path):
    reply = https_get("https://%s:9090%s" % (MONITOR, path))
    assert reply["status"] == 200, reply
    return json.loads(reply["body"])["data"]


def metrics():
    return sh(DB, "cat %s" % METRICS).stdout


def gauge(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def received():
    proc = sh(MONITOR, "cat %s 2>/dev/null || true" % RECEIVED)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def wait_for_alert(name, status, since, host=DB, timeout=180):
    """The first notification after ``since`` lines that carries alert ``name`` for ``host`` in ``status``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for document in received()[since:]:
            for alert in document.get("alerts", []):
                labels = alert.get("labels", {})
                if labels.get("alertname") == name and labels.get("host") == host and alert.get("status") == status:
                    return alert
        time.sleep(2)
    raise AssertionError("%s (%s) for %s did not reach the receiver in %d s; it got: %s"
                         % (name, status, host, timeout, received()[since:]))


# --- What setup.yml built -----------------------------------------------------

def test_exporters_serve_tls_and_want_the_password():
    for port in (9100, 9187):
        url = "https://%s:%d/metrics" % (DB, port)
        assert https_get(url, auth=False)["status"] == 401
        reply = https_get(url)
        assert reply["status"] == 200
    assert re.search(r"^pg_up 1$", https_get("https://%s:9187/metrics" % DB)["body"], re.M)


def test_the_intruder_cannot_scrape_the_exporters():
    """The firewall admits only the monitoring hosts to the exporters' ports (dropped and counted); basic auth
    is the second wall (test above)."""
    for port, counter in ((9100, "node_exporter"), (9187, "postgres_exporter")):
        before = int(re.search(r"packets (\d+)", sh(DB, "nft list counter inet frende_db dropped_" + counter)
                               .stdout).group(1))
        reply = sh(INTRUDER, "printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' | timeout 5 openssl s_client -quiet "
                             "-connect %s:%d 2>&1" % (DB, port), check=False)
        assert reply.returncode != 0 and "HTTP/" not in reply.stdout, reply.stdout
        after = int(re.search(r"packets (\d+)", sh(DB, "nft list counter inet frende_db dropped_" + counter)
                              .stdout).group(1))
        assert after > before
    # The counters reach Prometheus through node_exporter (frende_db_firewall.prom, every minute).
    sh(DB, "systemctl start frende-db-firewall-metrics.service")
    text = sh(DB, "cat /var/lib/prometheus/node-exporter/frende_db_firewall.prom").stdout
    assert re.search(r'^frende_db_firewall_dropped_packets\{service="node_exporter"\} [1-9]', text, re.M), text
    assert "frende_db_firewall_loaded 1" in text


def test_prometheus_scrapes_every_host_over_tls():
    deadline = time.monotonic() + 60
    while True:
        targets = prometheus("/api/v1/targets")["activeTargets"]
        health = dict(((t["labels"]["job"], t["labels"]["host"]), t["health"]) for t in targets)
        if all(h == "up" for h in health.values()) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert health == {("frende_db_node", DB): "up", ("frende_db_node", MONITOR): "up",
                      ("frende_db_postgres", DB): "up"}, targets
    assert all(t["scrapeUrl"].startswith("https://") for t in targets)


def test_every_alert_rule_is_loaded():
    names = set(rule["name"] for group in prometheus("/api/v1/rules")["groups"] for rule in group["rules"])
    assert {"FrendeDbDown", "FrendeDbBackupMissing", "FrendeDbBackupFailed", "FrendeDbBackupUnverified",
            "FrendeDbWalArchiveStale", "FrendeDbDrillFailed", "FrendeDbHealthUnhealthy", "FrendeDbFailedAuthBurst",
            "FrendeDbCertificateExpiring", "FrendeDbConnectionsHigh"} <= names


def test_the_health_check_is_scheduled_and_writes_metrics():
    cron = sh(DB, "cat /etc/cron.d/frende-db").stdout
    assert re.search(r"^\*/5 \* \* \* \* postgres /usr/local/bin/frende-db-maintenance .*--action health", cron, re.M)
    sh(DB, "frende-db-maintenance --action health --log-file /var/log/frende/health.log >/dev/null")
    text = metrics()
    assert gauge(text, "frende_db_job_last_exit_code", job="health") == 0
    assert gauge(text, "frende_db_health_status", check="connection") == 0
    assert gauge(text, "frende_db_health_status", check="certificate") == 0
    expiry = gauge(text, "frende_db_tls_certificate_expiry_timestamp_seconds")
    assert expiry and expiry > time.time() + 300 * 86400
    assert gauge(text, "frende_db_failed_auth_attempts", window="10min") is not None
    owner = sh(DB, "stat -c '%U %a' " + METRICS).stdout.split()
    assert owner[1] == "644"


def test_a_backup_writes_its_figures():
    sh(DB, "frende-db-backup --action backup && frende-db-backup --action verify --backup-file latest")
    text = metrics()
    assert gauge(text, "frende_db_job_last_exit_code", job="backup") == 0
    assert gauge(text, "frende_db_job_last_exit_code", job="verify") == 0
    assert gauge(text, "frende_db_backup_last_size_bytes", database="frende", kind="logical") > 0
    assert gauge(text, "frende_db_backup_last_verified", database="frende", kind="logical") == 1
    finished = gauge(text, "frende_db_backup_last_success_timestamp_seconds", database="frende", kind="logical")
    assert time.time() - 600 < finished <= time.time() + 5


def test_no_secret_in_metrics_rules_or_configs():
    secret = sh(MONITOR, "cat %s/password" % TLS).stdout
    assert len(secret) >= 32
    files = {MONITOR: ["/etc/prometheus/prometheus.yml", "/etc/prometheus/alertmanager.yml",
                       "/etc/prometheus/frende_db.rules.yml", "/etc/prometheus/frende-web.yml",
                       "/etc/default/prometheus", "/etc/default/prometheus-alertmanager"],
             DB: [METRICS, "/etc/prometheus/frende-web.yml", "/etc/default/prometheus-postgres-exporter",
                  "/etc/default/prometheus-node-exporter", "/var/log/frende/health.log"]}
    key = sh(DB, "cat %s/host.key" % TLS).stdout.strip().splitlines()[1]
    for host, paths in files.items():
        for path in paths:
            text = sh(host, "cat " + path).stdout
            assert text, path
            for value in (secret, PASSWORD, key):
                assert value not in text, "%s on %s holds a secret" % (path, host)
    scram = sh(DB, "runuser -u postgres -- psql -XAtc \"SELECT rolpassword FROM pg_authid WHERE rolname = "
                   "'frende_app'\"").stdout.strip()
    assert scram.startswith("SCRAM-SHA-256$") and scram not in metrics()
    assert "$2" in sh(DB, "cat /etc/prometheus/frende-web.yml").stdout  # a bcrypt hash, not the password


# --- Alerts that reach the receiver ---------------------------------------------

def test_a_stopped_server_is_down_and_then_resolved():
    since = len(received())
    service = "postgresql@%s-main" % PG_VERSION
    sh(DB, "systemctl stop " + service)
    try:
        alert = wait_for_alert("FrendeDbDown", "firing", since)
        assert alert["labels"]["severity"] == "critical"
        assert DB in alert["annotations"]["summary"]
    finally:
        sh(DB, "systemctl start " + service)
    wait_for_alert("FrendeDbDown", "resolved", since)


def test_a_failed_backup_reaches_the_receiver():
    since = len(received())
    conf = "/etc/frende/db/backup.conf"
    sh(DB, "cp -p %s %s.keep && echo 'password = wrong' >> %s" % (conf, conf, conf))
    try:
        proc = sh(DB, "frende-db-backup --action backup", check=False)
        assert proc.returncode != 0 and "password" in proc.stderr
        assert gauge(metrics(), "frende_db_job_last_exit_code", job="backup") == 1
        alert = wait_for_alert("FrendeDbBackupFailed", "firing", since)
        assert "frende-db-backup" in alert["annotations"]["summary"] or "backup" in alert["annotations"]["summary"]
    finally:
        sh(DB, "mv %s.keep %s" % (conf, conf))
    sh(DB, "frende-db-backup --action backup >/dev/null")
    assert gauge(metrics(), "frende_db_job_last_exit_code", job="backup") == 0
    wait_for_alert("FrendeDbBackupFailed", "resolved", since)


def test_a_burst_of_wrong_passwords_reaches_the_receiver():
    since = len(received())
    script = ("for i in $(seq 25); do PGPASSWORD=wrong-$i psql -X 'host=%s dbname=frende user=frende_app "
              "sslmode=verify-full sslrootcert=/etc/frende/db/ca.crt connect_timeout=5' -c 'SELECT 1' "
              ">/dev/null 2>&1; done; true" % DB)
    sh(APP, script)
    sh(DB, "frende-db-maintenance --action health --log-file /var/log/frende/health.log >/dev/null; true")
    assert gauge(metrics(), "frende_db_failed_auth_attempts", window="10min") >= 25
    alert = wait_for_alert("FrendeDbFailedAuthBurst", "firing", since)
    assert alert["labels"]["severity"] == "critical"
