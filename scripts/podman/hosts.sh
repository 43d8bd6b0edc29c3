#!/usr/bin/env bash
# Disposable systemd test hosts on a podman network of the project's own, for
# make demo and bench/converge.sh (Molecule makes its own).
#   scripts/podman/hosts.sh up NETWORK HOST...     (re)creates the hosts, waits for systemd
#   scripts/podman/hosts.sh down NETWORK HOST...   removes the hosts and the network
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$HERE/containers.conf}
IMAGE=${FRENDE_TEST_IMAGE:-localhost/frende-test-base:bookworm}

action=$1 network=$2
shift 2

down() {
  local h
  for h in "$@"; do podman rm -f -t 2 "$h" >/dev/null 2>&1 || true; done
  if podman network exists "$network"; then podman network rm -f "$network" >/dev/null || true; fi
}

case "$action" in
  up)
    down "$@"
    bash "$HERE/build-image.sh" "$IMAGE"
    podman network create "$network" >/dev/null
    for h in "$@"; do
      podman run -d --name "$h" --hostname "$h" --network "$network" --systemd=always --cap-add NET_ADMIN \
        --label owner=frende-db "$IMAGE" /sbin/init >/dev/null
    done
    for h in "$@"; do
      for _ in $(seq 1 60); do
        state=$(podman exec "$h" systemctl is-system-running 2>/dev/null || true)
        case "$state" in running|degraded) break ;; esac
        sleep 0.5
      done
    done
    ;;
  down) down "$@" ;;
  *) echo "usage: $0 up|down NETWORK HOST..." >&2; exit 2 ;;
esac
