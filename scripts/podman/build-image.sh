#!/usr/bin/env bash
# Builds a systemd Debian base image of the project's test hosts, once: Debian 12
# (bookworm, PostgreSQL 15) or Debian 13 (trixie, PostgreSQL 17), by the image's tag.
# No registry is reachable here: the root file system comes from debootstrap,
# with the Debian mirror this machine's apt already uses, and is imported into
# podman. Skipped when `podman image exists` says the image is there.
# Usage: scripts/podman/build-image.sh [IMAGE...]   (default localhost/frende-test-base:bookworm)
#        the tag names the suite: localhost/frende-test-base:trixie is Debian 13.
set -euo pipefail

if [ $# -gt 1 ]; then
  for image in "$@"; do bash "$0" "$image"; done
  exit 0
fi
IMAGE=${1:-${FRENDE_TEST_IMAGE:-localhost/frende-test-base:bookworm}}
SUITE=${IMAGE##*:}
case "$SUITE" in
  bookworm | trixie) ;;
  *) echo "build-image: $IMAGE: the tag must name a supported Debian suite (bookworm or trixie)" >&2; exit 2 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$HERE/containers.conf}

if podman image exists "$IMAGE"; then
  exit 0
fi

# The first Debian archive URI of the machine's apt sources (deb822 .sources
# files or one-line .list files), and the security archive when there is one.
apt_uris() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    case "$f" in
      *.sources) awk 'tolower($1)=="uris:" {for (i=2; i<=NF; i++) print $i}' "$f" ;;
      *) awk '$1=="deb" {for (i=2; i<=NF; i++) if ($i ~ /^(https?|file):/) {print $i; break}}' "$f" ;;
    esac
  done
}
MIRROR=${FRENDE_DEBIAN_MIRROR:-$(apt_uris | grep -E '/debian/?$' | head -n1 || true)}
SECURITY=${FRENDE_DEBIAN_SECURITY_MIRROR:-$(apt_uris | grep -E '/debian-security/?$' | head -n1 || true)}
if [ -z "$MIRROR" ]; then
  echo "build-image: no Debian archive found in /etc/apt/sources*; set FRENDE_DEBIAN_MIRROR" >&2
  exit 1
fi

ROOTFS=$(mktemp -d /var/tmp/frende-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

echo "build-image: debootstrap $SUITE from $MIRROR (about a minute)"
# python3-apt: Ansible's apt module needs it on any Debian host it manages.
debootstrap --variant=minbase \
  --include=python3,python3-apt,systemd,systemd-sysv,sudo,procps,iproute2,ca-certificates,cron \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || { tail -n 30 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"

{
  echo "deb $MIRROR $SUITE main"
  echo "deb $MIRROR $SUITE-updates main"
  [ -z "$SECURITY" ] || echo "deb $SECURITY $SUITE-security main"
} >"$ROOTFS/etc/apt/sources.list"
# Quiet, fast container boots: no getty on a console that nobody reads.
rm -f "$ROOTFS/etc/systemd/system/getty.target.wants/"* 2>/dev/null || true
# No package lists in the image, and a lists directory dated 1970: the first
# `apt update_cache` with cache_valid_time on a new host does fetch them.
rm -rf "$ROOTFS/var/cache/apt/archives/"*.deb "$ROOTFS/var/lib/apt/lists/"*
touch -d @0 "$ROOTFS/var/lib/apt/lists" "$ROOTFS/var/lib/apt"
echo "frende-test-host" >"$ROOTFS/etc/hostname"

tar -C "$ROOTFS" -c . | podman import \
  --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' - "$IMAGE" >/dev/null
echo "build-image: built $IMAGE"
