#!/usr/bin/env bash
# Speed of playbooks/setup.yml on real podman hosts (a benchmark, not a test).
#
# Prints, as a table:
#   - fresh converge and idempotent re-run of 1 database host (+ 1 application
#     server), median of REPS runs, each on new hosts;
#   - the same idempotent re-run over containers.podman's stock connection (no
#     pipelining: the baseline, the way users connect to podman hosts) and over
#     the pipelining connection of tests/support, in the same run;
#   - TEN database hosts (+ 1 application server) in one run: idempotent median
#     of REPS, fresh converge TEN_FRESH_REPS times; ratio to one host;
#   - CPU seconds of the idempotent runs inside the hosts (their cgroup) and
#     elsewhere (controller, podman): here every host shares the same cores;
#   - module calls: task results per database host (on the host and on the
#     controller) and the podman processes started for the host, counted in
#     extra -vvv runs over both connections.
# Every idempotent run must report changed=0; the table says so.
#
# Usage: bench/converge.sh            REPS=3 TEN=10 TEN_FRESH_REPS=1   (TEN=0: one host only)
# Needs root (podman) and the venv (make venv). Takes about 15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${REPS:-3}
TEN=${TEN:-10}
TEN_FRESH_REPS=${TEN_FRESH_REPS:-1}
NETWORK=frende-bench
WORK=$ROOT/build/bench-converge
RESULTS=$ROOT/bench/results
mkdir -p "$WORK" "$RESULTS"

export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/scripts/podman/containers.conf}
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/build/collections}
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_DEPRECATION_WARNINGS=0 ANSIBLE_NOCOLOR=1
export ANSIBLE_FORKS=20
unset ANSIBLE_CALLBACKS_ENABLED
export DB_APP_PASSWORD=${DB_APP_PASSWORD:-bench-$(date +%s)-password}  # 24 characters: the preflight wants 16
PIPELINED=(env ANSIBLE_CONNECTION_PLUGINS="$ROOT/tests/support/connection_plugins" ANSIBLE_PIPELINING=1)
STOCK=(env -u ANSIBLE_CONNECTION_PLUGINS ANSIBLE_PIPELINING=0)

bash scripts/system-deps.sh hosts >/dev/null
mkdir -p "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/frende"
[ -e "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/frende/db" ] ||
  ln -sfn "$ROOT" "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/frende/db"

db_hosts() { local i; for i in $(seq 1 "$1"); do echo "frende-bench-db-$i"; done; }

# inventory N CONNECTION: N database hosts and one application server.
inventory() {
  local n=$1 connection=$2 dir=$WORK/inv-$1-$2
  rm -rf "$dir"; mkdir -p "$dir"
  {
    echo "all:"
    echo "  vars: {ansible_connection: $connection}"
    echo "  children:"
    echo "    frende_db:"
    echo "      hosts:"
    db_hosts "$n" | sed 's/^/        /; s/$/:/'
    echo "    frende_app:"
    echo "      hosts:"
    echo "        frende-bench-app:"
  } >"$dir/hosts.yml"
  echo "$dir"
}

up() { local hosts; mapfile -t hosts < <(db_hosts "$1"); bash scripts/podman/hosts.sh up "$NETWORK" "${hosts[@]}" frende-bench-app; }
down() { local hosts; mapfile -t hosts < <(db_hosts "$TEN"); bash scripts/podman/hosts.sh down "$NETWORK" "${hosts[@]}" frende-bench-app; }
trap down EXIT

# CPU seconds used so far: "machine hosts". machine: every core's non-idle time
# (/proc/stat); hosts: what the podman containers used (their parent cgroup; 0
# when it cannot be found). On one 2-core machine the ten hosts share the cores
# with the controller, which separate database hosts would not: the table shows
# both, so the ten-host ratio can be read for what it is.
cpu_now() {
  python3 - <<'PY'
import glob, os
with open("/proc/stat") as f:
    fields = [int(x) for x in f.readline().split()[1:]]
machine = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait
hosts = 0.0
for path in ("/sys/fs/cgroup/cpuacct/libpod_parent/cpuacct.usage", "/sys/fs/cgroup/cpu,cpuacct/libpod_parent/cpuacct.usage"):
    if os.path.exists(path):
        hosts = int(open(path).read()) / 1e9
        break
else:
    for path in glob.glob("/sys/fs/cgroup/libpod_parent/cpu.stat") + glob.glob("/sys/fs/cgroup/machine.slice/cpu.stat"):
        hosts = int(dict(line.split() for line in open(path))["usage_usec"]) / 1e6
        break
print("%.2f %.2f" % (machine, hosts))
PY
}

# run LOG INVENTORY ENV... : one setup.yml run; prints
# "seconds changed_total failed_total cpu_in_hosts cpu_elsewhere"
run() {
  local log=$1 inv=$2; shift 2
  local t0 t1 c0 c1
  c0=$(cpu_now)
  t0=$(date +%s.%N)
  "$@" ansible-playbook -i "$inv" playbooks/setup.yml >"$log" 2>&1 || true
  t1=$(date +%s.%N)
  c1=$(cpu_now)
  python3 - "$log" "$t0" "$t1" "$c0" "$c1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
stats = [dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", line))
         for line in re.findall(r"^\S+\s+:\s+(ok=.*)$", text, re.M)]
(m0, h0), (m1, h1) = [[float(x) for x in c.split()] for c in sys.argv[4:6]]
print("%.1f %d %d %.1f %.1f" % (float(sys.argv[3]) - float(sys.argv[2]),
                                sum(s.get("changed", 0) for s in stats),
                                sum(s.get("failed", 0) + s.get("unreachable", 0) for s in stats) if stats else 1,
                                h1 - h0, (m1 - m0) - (h1 - h0)))
PY
}

median() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print("%.1f" % statistics.median(v))' "$@"; }

declare -a fresh1 idem1 stock1 idem10 fresh10 idem1_hcpu idem1_ocpu idem10_hcpu idem10_ocpu
changes_idem=0 failures=0
note() { echo "[bench] $*" >&2; }

for r in $(seq 1 "$REPS"); do
  note "1 db host: rep $r/$REPS: new hosts, fresh converge, idempotent run (pipelined), idempotent run (stock)"
  up 1
  inv=$(inventory 1 podman)
  read -r s c f _ _ < <(run "$WORK/fresh1-$r.log" "$inv" "${PIPELINED[@]}"); fresh1+=("$s"); failures=$((failures + f))
  if [ "$f" -ne 0 ]; then tail -n 30 "$WORK/fresh1-$r.log" >&2; echo "[bench] the fresh converge failed; stopping" >&2; exit 1; fi
  read -r s c f hc oc < <(run "$WORK/idem1-$r.log" "$inv" "${PIPELINED[@]}"); idem1+=("$s"); idem1_hcpu+=("$hc"); idem1_ocpu+=("$oc"); changes_idem=$((changes_idem + c)); failures=$((failures + f))
  read -r s c f _ _ < <(run "$WORK/stock1-$r.log" "$inv" "${STOCK[@]}"); stock1+=("$s"); changes_idem=$((changes_idem + c)); failures=$((failures + f))
done

# count LOG: "task results on the host, on the controller, loop items, podman processes for the host"
count() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
host = "frende-bench-db-1"
remote = len(re.findall(r"^(?:ok|changed): \[%s\]" % re.escape(host), text, re.M))
local = len(re.findall(r"^(?:ok|changed): \[%s -> localhost\]" % re.escape(host), text, re.M))
loops = len(re.findall(r"^(?:ok|changed): \[%s\] => \(item=" % re.escape(host), text, re.M))
# every podman process started for the host: exec (with or without -i), cp to it, mount of it
podman = len(re.findall(r"RUN \[b'[^']*podman', (?:b'exec', (?:b'-i', )?(?:b'--user', b'[^']*', )?b'%s'"
                        r"|b'cp', .*?b'%s:|b'mount', b'%s')" % ((re.escape(host),) * 3), text))
print(remote, local, loops, podman)
PY
}
note "1 db host: counting runs (-vvv, not timed), pipelined and stock"
"${PIPELINED[@]}" ansible-playbook -vvv -i "$inv" playbooks/setup.yml >"$WORK/count1.log" 2>&1 || true
read -r n_remote n_local n_loops n_exec < <(count "$WORK/count1.log")
"${STOCK[@]}" ansible-playbook -vvv -i "$inv" playbooks/setup.yml >"$WORK/count1-stock.log" 2>&1 || true
read -r _ _ _ s_exec < <(count "$WORK/count1-stock.log")

if [ "$TEN" -gt 0 ]; then
note "$TEN db hosts: new hosts, fresh converge x$TEN_FRESH_REPS, idempotent x$REPS"
for r in $(seq 1 "$TEN_FRESH_REPS"); do
  up "$TEN"
  inv=$(inventory "$TEN" podman)
  read -r s c f _ _ < <(run "$WORK/fresh10-$r.log" "$inv" "${PIPELINED[@]}"); fresh10+=("$s"); failures=$((failures + f))
done
for r in $(seq 1 "$REPS"); do
  read -r s c f hc oc < <(run "$WORK/idem10-$r.log" "$inv" "${PIPELINED[@]}"); idem10+=("$s"); idem10_hcpu+=("$hc"); idem10_ocpu+=("$oc"); changes_idem=$((changes_idem + c)); failures=$((failures + f))
done
else
  fresh10=(0) idem10=(0) idem10_hcpu=(0) idem10_ocpu=(0)
fi

m_fresh1=$(median "${fresh1[@]}"); m_idem1=$(median "${idem1[@]}"); m_stock1=$(median "${stock1[@]}")
m_fresh10=$(median "${fresh10[@]}"); m_idem10=$(median "${idem10[@]}")
m_h1=$(median "${idem1_hcpu[@]}"); m_o1=$(median "${idem1_ocpu[@]}")
m_h10=$(median "${idem10_hcpu[@]}"); m_o10=$(median "${idem10_ocpu[@]}")
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

out=$RESULTS/converge-$(date -u +%Y%m%dT%H%M%SZ).txt
{
  echo "playbooks/setup.yml on podman hosts ($(nproc) cores), median of $REPS (ten-host fresh: $TEN_FRESH_REPS)"
  echo
  printf "%-52s %10s %8s  %s\n" "run" "median s" "ratio" "all runs (s)"
  printf "%-52s %10s %8s  %s\n" "1 db + 1 app, fresh converge (pipelined)" "$m_fresh1" "" "${fresh1[*]}"
  printf "%-52s %10s %8s  %s\n" "1 db + 1 app, idempotent, stock podman connection" "$m_stock1" "1.00" "${stock1[*]}"
  printf "%-52s %10s %8s  %s\n" "1 db + 1 app, idempotent, pipelined (tests/support)" "$m_idem1" "$(ratio "$m_idem1" "$m_stock1")" "${idem1[*]}"
  if [ "$TEN" -gt 0 ]; then
    printf "%-52s %10s %8s  %s\n" "$TEN db + 1 app, fresh converge (pipelined)" "$m_fresh10" "$(ratio "$m_fresh10" "$m_fresh1")" "${fresh10[*]}"
    printf "%-52s %10s %8s  %s\n" "$TEN db + 1 app, idempotent (pipelined)" "$m_idem10" "$(ratio "$m_idem10" "$m_idem1")" "${idem10[*]}"
  fi
  echo
  echo "CPU seconds of an idempotent pipelined run (median), inside the hosts / elsewhere (controller, podman):"
  echo "  1 db + 1 app: $m_h1 / $m_o1"
  if [ "$TEN" -gt 0 ]; then
    echo "  $TEN db + 1 app: $m_h10 / $m_o10 (ratios $(ratio "$m_h10" "$m_h1") / $(ratio "$m_o10" "$m_o1")); all of it shares"
    echo "  these $(nproc) cores: $TEN hosts cannot take less than $(python3 -c "print('%.1f' % (($m_h10 + $m_o10) / $(nproc)))") s here"
  fi
  echo "idempotent runs: changed total = $changes_idem (must be 0); failed or unreachable = $failures (must be 0)"
  echo "per database host, idempotent run: $n_remote task results on the host ($n_loops of them loop items), $n_local on"
  echo "  the controller; podman processes for the host: $s_exec over the stock connection, $n_exec pipelined"
  echo "targets: idempotent 1-host run over the stock connection <= 30 s (moonshot 20 s)"
} | tee "$out"
echo "(saved in ${out#"$ROOT"/}; logs in ${WORK#"$ROOT"/})"
