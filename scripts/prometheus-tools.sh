#!/usr/bin/env bash
# Makes promtool and amtool in build/prometheus-tools/bin for the alert rule tests
# (make alerts), from Debian's packages prometheus and prometheus-alertmanager of this
# machine's apt sources. The packages are unpacked, never installed: installing them
# would start Prometheus and Alertmanager as services on this machine.
# Usage: scripts/prometheus-tools.sh   (does nothing when both tools are there and run)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=$REPO/build/prometheus-tools
BIN=$DIR/bin
PACKAGES=(prometheus prometheus-alertmanager)

works() {
  "$BIN/promtool" --version >/dev/null 2>&1 && "$BIN/amtool" --version >/dev/null 2>&1
}

if works; then
  echo "prometheus-tools: $("$BIN/promtool" --version 2>&1 | head -n1) and amtool are in $BIN"
  exit 0
fi

echo "prometheus-tools: unpacking ${PACKAGES[*]} from apt (not installing them) for promtool and amtool in $BIN"
rm -rf "$DIR/debs" "$DIR/root" "$BIN"
mkdir -p "$DIR/debs" "$DIR/root" "$BIN"
(
  cd "$DIR/debs"
  # Only when the package lists are too old to know the current versions.
  apt-get -qq download "${PACKAGES[@]}" 2>/dev/null \
    || { apt-get -qq update && apt-get -qq download "${PACKAGES[@]}"; }
)
for deb in "$DIR"/debs/*.deb; do
  dpkg-deb -x "$deb" "$DIR/root"
done
ln -sfn ../root/usr/bin/promtool "$BIN/promtool"
ln -sfn ../root/usr/bin/amtool "$BIN/amtool"
works || { echo "prometheus-tools: $BIN/promtool or $BIN/amtool does not run" >&2; exit 1; }
