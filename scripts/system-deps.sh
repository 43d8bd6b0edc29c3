#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, only when missing.
# Usage: scripts/system-deps.sh [group...]   groups: server (default), hosts, sanity
set -euo pipefail

declare -A GROUPS_PKGS=(
  [server]="postgresql-15 postgresql-client-15 postgresql-contrib zstd age openssl gzip python3-psycopg2"
  [hosts]="podman runc debootstrap"
  [sanity]="shellcheck"
)

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(server)

missing=()
for g in "${groups[@]}"; do
  pkgs=${GROUPS_PKGS[$g]:?"unknown package group '$g' (known: ${!GROUPS_PKGS[*]})"}
  for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
done

[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
