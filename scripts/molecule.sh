#!/usr/bin/env bash
# Runs the Molecule scenarios on real podman hosts.
# Usage: scripts/molecule.sh [SCENARIO[@RELEASE]...]
#   default: every scenario under molecule/ on Debian 12 (bookworm), then disaster@trixie: that
#   scenario again on Debian 13 with PostgreSQL 17 (and Debian 13's pgBackRest). Debian 13 is also
#   in upgrade (its new database host, and its application server doubles as the monitoring host);
#   default@trixie runs on request (its checks do not depend on the release; it took 12 minutes).
# Needs: the venv (make venv), root or sudo for podman. Installs the host
# packages (podman, runc, debootstrap) and builds the base image when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/scripts/podman/containers.conf}
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/build/collections}
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_NOCOLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0

bash scripts/system-deps.sh hosts
bash scripts/podman/build-image.sh localhost/frende-test-base:bookworm localhost/frende-test-base:trixie
mkdir -p "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/frende"
[ -e "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/frende/db" ] ||
  ln -sfn "$ROOT" "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/frende/db"

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  for d in molecule/*/molecule.yml; do scenarios+=("$(basename "$(dirname "$d")")"); done
  scenarios+=(disaster@trixie)
fi

status=0
for s in "${scenarios[@]}"; do
  start=$SECONDS
  release=bookworm
  case "$s" in *@*) release=${s#*@} ;; esac
  echo "=== molecule test -s $s"
  # --destroy=always: the hosts and the network go away even when a step fails.
  # The scenario's platforms and verify tests take the release from FRENDE_TEST_RELEASE.
  if FRENDE_TEST_RELEASE=$release molecule test -s "${s%@*}" --destroy=always; then
    echo "=== molecule scenario $s passed in $((SECONDS - start)) s"
  else
    echo "=== molecule scenario $s FAILED after $((SECONDS - start)) s"
    status=1
  fi
done
exit $status
