#!/bin/sh
# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Installs one release that pack-release.py made, on the host: into its own
# versioned directory STORE/RELEASE, switched by one symbolic link LINK, with
# the other releases in STORE removed afterwards. A file dropped from the
# collection therefore leaves the host with the next release, and a command
# never sees half of one release and half of another.
#
# Usage: install-release.sh STORE RELEASE LINK MODE [PATH=TARGET | absent=PATH ...]
#   STORE    directory of the versions, e.g. /usr/local/lib/frende-db/releases
#   RELEASE  the release id (hash of the archive)
#   LINK     the link that names the live release, e.g. /usr/local/lib/frende-db/current
#   MODE     check (report only) or apply
#   PATH=TARGET  more links PATH -> LINK/TARGET, e.g. /usr/local/bin/frende-db-backup=bin/frende-db
#   absent=PATH  a path of an earlier layout that must not stay (removed)
# Standard input: the archive, base64 (read only when something must change).
# Prints one line: "unchanged", "changed: <what>" or, with check, "would change: <what>".
# A release whose files do not match its own .files listing is never switched to.
set -eu
store=$1 release=$2 link=$3 mode=$4
shift 4
new=$store/$release

reasons=""
need() { reasons="${reasons:+$reasons; }$1"; }

# -- what differs --------------------------------------------------------------
if [ ! -d "$new" ] || [ ! -f "$new/.files" ]; then
  need "release $release is not installed"
elif ! (cd "$new" && sha256sum --check --quiet --strict .files >/dev/null 2>&1); then
  need "files of release $release were changed on the host"
elif [ "$(cd "$new" && find . -type f ! -name .files | sed 's#^\./##' | LC_ALL=C sort)" != \
       "$(sed 's/^[0-9a-f]*  //' "$new/.files" | LC_ALL=C sort)" ]; then
  need "release $release holds files it did not ship"
fi
[ "$(readlink "$link" 2>/dev/null || true)" = "$new" ] || need "$link does not point to release $release"
for pair in "$@"; do
  case $pair in
    absent=*) if [ -e "${pair#absent=}" ] || [ -L "${pair#absent=}" ]; then need "${pair#absent=} is left over"; fi ;;
    *) [ "$(readlink "${pair%%=*}" 2>/dev/null || true)" = "$link/${pair#*=}" ] ||
         need "${pair%%=*} is not a link to $link/${pair#*=}" ;;
  esac
done
others=$(find "$store" -mindepth 1 -maxdepth 1 ! -name "$release" 2>/dev/null | LC_ALL=C sort || true)
[ -z "$others" ] || need "old releases to remove: $(echo "$others" | xargs -n1 basename | tr '\n' ' ' | sed 's/ $//')"

if [ -z "$reasons" ] || [ "$mode" = check ]; then
  cat >/dev/null  # the caller writes the whole archive: read it, or it fails with a broken pipe
  if [ -z "$reasons" ]; then echo unchanged; else echo "would change: $reasons"; fi
  exit 0
fi

# -- apply ----------------------------------------------------------------------
umask 022
mkdir -p "$store"
stage=$(mktemp -d "$store/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
base64 -d >"$stage/archive.tar.gz"
mkdir "$stage/$release"
tar -xzf "$stage/archive.tar.gz" -C "$stage/$release" --no-same-owner
if ! (cd "$stage/$release" && sha256sum --check --quiet --strict .files); then
  echo "release $release does not match its own file list; nothing was switched" >&2
  exit 1
fi
chown -R root:root "$stage/$release"
chmod 0755 "$stage/$release"
if [ -e "$new" ]; then
  mv "$new" "$stage/replaced"
fi
mv "$stage/$release" "$new"

# One rename switches every command to the new release.
switch() {  # switch PATH TARGET: PATH becomes a link to TARGET, atomically
  ln -sfn "$2" "$1.frende-new"
  if [ -d "$1" ] && [ ! -L "$1" ]; then
    rm -rf "$1"  # a directory of the layout before versioned releases
  fi
  mv -Tf "$1.frende-new" "$1"
}
switch "$link" "$new"
for pair in "$@"; do
  case $pair in
    absent=*) rm -rf "${pair#absent=}" ;;
    *) mkdir -p "$(dirname "${pair%%=*}")"; switch "${pair%%=*}" "$link/${pair#*=}" ;;
  esac
done
find "$store" -mindepth 1 -maxdepth 1 ! -name "$release" ! -name "$(basename "$stage")" -exec rm -rf {} +
echo "changed: $reasons"
