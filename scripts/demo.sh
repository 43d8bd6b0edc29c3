#!/usr/bin/env bash
# make demo: the main job on three disposable podman hosts.
#   frende-demo-db      (group frende_db)      PostgreSQL 15, hardened by playbooks/setup.yml
#   frende-demo-backup  (group frende_backup)  the encrypted pgBackRest repository: WAL archive, backups
#   frende-demo-app     (group frende_app)     gets the CA and database.env
#   frende-demo-monitor (group frende_monitoring) Prometheus and Alertmanager, scraping the others over TLS
# Then backups (logical on the database host, physical off-host), both drills and the health report,
# and where to open Prometheus and Alertmanager.
# The hosts stay up for a look around (podman exec -it frende-demo-db bash);
# `scripts/demo.sh down` removes them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NETWORK=frende-demo
HOSTS=(frende-demo-db frende-demo-backup frende-demo-app frende-demo-monitor)
DEMO=$ROOT/build/demo

export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/scripts/podman/containers.conf}
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/build/collections}
export ANSIBLE_CONNECTION_PLUGINS=$ROOT/tests/support/connection_plugins
export ANSIBLE_PIPELINING=1 ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_DEPRECATION_WARNINGS=0
export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks
export PATH=$ROOT/.venv/bin:$PATH

if [ "${1:-}" = down ]; then
  bash scripts/podman/hosts.sh down "$NETWORK" "${HOSTS[@]}"
  echo "demo hosts removed"
  exit 0
fi

bash scripts/system-deps.sh hosts
mkdir -p "$DEMO/inventory" "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/frende"
[ -e "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/frende/db" ] ||
  ln -sfn "$ROOT" "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/frende/db"

# The application password: DB_APP_PASSWORD when set, else one made for the
# demo and kept in build/demo/app-password (0600).
if [ -z "${DB_APP_PASSWORD:-}" ]; then
  if [ ! -s "$DEMO/app-password" ]; then
    (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$DEMO/app-password")
  fi
  DB_APP_PASSWORD=$(cat "$DEMO/app-password")
fi
export DB_APP_PASSWORD
# The repository's passphrase, the same way (build/demo/pgbackrest-cipher-pass).
if [ -z "${FRENDE_DB_PGBACKREST_CIPHER_PASS:-}" ]; then
  if [ ! -s "$DEMO/pgbackrest-cipher-pass" ]; then
    (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(36))' >"$DEMO/pgbackrest-cipher-pass")
  fi
  FRENDE_DB_PGBACKREST_CIPHER_PASS=$(cat "$DEMO/pgbackrest-cipher-pass")
fi
export FRENDE_DB_PGBACKREST_CIPHER_PASS

cat >"$DEMO/inventory/hosts.yml" <<YAML
# Written by scripts/demo.sh: four disposable podman hosts.
all:
  vars:
    ansible_connection: podman
  children:
    frende_db:
      hosts:
        frende-demo-db:
    frende_backup:
      hosts:
        frende-demo-backup:
    frende_app:
      hosts:
        frende-demo-app:
    frende_monitoring:
      hosts:
        frende-demo-monitor:
YAML
rm -rf "$DEMO/inventory/.frende-db-pki"   # new hosts, new CA

step() { echo; echo "=== $*"; }
start=$SECONDS
step "Starting the disposable hosts ${HOSTS[*]} on the podman network $NETWORK"
bash scripts/podman/hosts.sh up "$NETWORK" "${HOSTS[@]}"

step "playbooks/setup.yml: PostgreSQL 15, TLS, access rules, roles, backups, maintenance, WAL archiving to the backup host"
ansible-playbook -i "$DEMO/inventory" playbooks/setup.yml

step "playbooks/backup.yml: a logical backup on the database host and a full pgBackRest backup off-host, both verified; the backup host copies the logical set"
ansible-playbook -i "$DEMO/inventory" playbooks/backup.yml -e pgbackrest_type=full

step "The repository on the backup host (the database host can add WAL to it, never remove any)"
podman exec frende-demo-backup runuser -u pgbackrest -- pgbackrest --stanza=frende info

step "The copy of the nightly logical set on the backup host (the database host can neither change nor remove it)"
podman exec frende-demo-backup frende-db-backup --action list --owner pgbackrest --backup-dir /var/backups/frende/hosts/frende-demo-db

step "playbooks/drill.yml: the logical drill on the database host, the physical one (backup + WAL) on the backup host"
ansible-playbook -i "$DEMO/inventory" playbooks/drill.yml

step "playbooks/health.yml: the health report"
ansible-playbook -i "$DEMO/inventory" playbooks/health.yml

step "The application server connects with sslmode=verify-full from its database.env"
podman exec frende-demo-app sh -c 'command -v psql >/dev/null || { apt-get -qq update && apt-get -qq install -y postgresql-client-15 >/dev/null; }'
podman exec frende-demo-app sh -c 'psql -X "$(sed -n "s/^DATABASE_URL=//p" /etc/frende/db/database.env)" -c "SELECT current_user, version AS tls, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()"'

step "Prometheus and Alertmanager on frende-demo-monitor: every target up, every frende.db alert rule loaded"
podman exec -i frende-demo-monitor python3 - <<'PY'
import base64, json, ssl, urllib.request
secret = open("/etc/prometheus/frende-tls/password").read()
context = ssl.create_default_context(cafile="/etc/prometheus/frende-tls/ca.crt")
def get(path):
    request = urllib.request.Request("https://frende-demo-monitor:9090" + path)
    request.add_header("Authorization", "Basic " + base64.b64encode(("prometheus:" + secret).encode()).decode())
    return json.load(urllib.request.urlopen(request, context=context, timeout=10))["data"]
for target in get("/api/v1/targets")["activeTargets"]:
    print("  %-20s %-18s %s" % (target["labels"]["job"], target["labels"]["host"], target["health"]))
rules = [r for g in get("/api/v1/rules")["groups"] for r in g["rules"]]
print("  %d alert rules, firing now: %s" % (len(rules), ", ".join(sorted(set(
    r["name"] for r in rules if r.get("state") == "firing"))) or "none"))
PY
monitor_ip=$(podman inspect -f "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" frende-demo-monitor)
pki=$DEMO/inventory/.frende-db-pki
echo "  Prometheus:   https://frende-demo-monitor:9090/   Alertmanager: https://frende-demo-monitor:9093/"
echo "  (from this machine: add '$monitor_ip frende-demo-monitor' to /etc/hosts, trust $pki/ca.crt;"
echo "   user prometheus, password in $pki/monitoring-password), e.g.:"
echo "  curl --cacert $pki/ca.crt --resolve frende-demo-monitor:9090:$monitor_ip -u prometheus:\"\$(cat $pki/monitoring-password)\" https://frende-demo-monitor:9090/api/v1/alerts"

step "playbooks/report.yml: the security report of every host (HTML page and JSON twin, written on this machine)"
report_out=$(ansible-playbook -i "$DEMO/inventory" playbooks/report.yml)
printf '%s\n' "$report_out" | grep -E '^(TASK \[frende.db.frende_db : Say where|ok: \[localhost\] =>|        "(Security report|Status))' || true
report_page=$(printf '%s\n' "$report_out" | sed -n 's/.*"Security report: \(.*\.html\) (and .json)".*/\1/p' | tail -n1)
[ -f "$report_page" ] || { echo "the report page was not written" >&2; exit 1; }
echo "  Report: $report_page"
echo "  Open it in a browser (it needs nothing else: no network, no JavaScript), e.g.: chromium $report_page"

step "Done in $((SECONDS - start)) s. Inventory: build/demo/inventory. Report: $report_page. Look around: podman exec -it frende-demo-db bash. Remove: scripts/demo.sh down"
