#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, only when missing.
# Usage: scripts/system-deps.sh [group...]   groups: server (default), hosts, sanity
set -euo pipefail

declare -A GROUPS_PKGS=(
  # postgresql-15-pgaudit: the report's test counts pgaudit's events. chromium + fonts-dejavu-core: the report page
  # is opened, screenshotted and printed to PDF by a real (headless) browser.
  [server]="postgresql-15 postgresql-client-15 postgresql-contrib postgresql-15-pgaudit zstd age openssl gzip python3-psycopg2 python3-prometheus-client locales pgbackrest chromium fonts-dejavu-core"
  # netavark + aardvark-dns: test hosts on one podman network resolve each other by
  # name. They are only Recommends of podman, and --no-install-recommends below
  # would leave podman on CNI without DNS ("could not translate host name").
  # iptables: netavark 1.4 sets up each network's NAT and firewall rules with it;
  # without it every container on a network fails to start ("netavark: No such
  # file or directory"). Also only a Recommends.
  # age: the controller makes the age identity the test hosts' backups are encrypted to (frende_db_backup_encrypt).
  [hosts]="podman runc debootstrap netavark aardvark-dns iptables age"
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

if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing missing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# One health test makes the server log in German. A locale made while the test's
# server runs is not seen by it (seen on a fresh machine), so it is made here, once.
if [[ " ${groups[*]} " == *" server "* ]] && ! locale -a 2>/dev/null | grep -qx 'de_DE.utf8'; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO localedef -i de_DE -c -f UTF-8 de_DE.UTF-8 || true
fi

# The hosts reach each other by name only through netavark's DNS; say so now
# rather than in a failed psql inside a test host minutes later.
if [[ " ${groups[*]} " == *" hosts "* ]]; then
  backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null || true)
  if [ "$backend" != netavark ]; then
    echo "podman uses the '${backend:-unknown}' network backend; the test hosts need netavark (DNS by name)." \
         "Run with CONTAINERS_CONF=scripts/podman/containers.conf (it sets network_backend)." >&2
    exit 1
  fi
fi
