#!/bin/sh
# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Runs on the controller: packs the frende-db commands for a database host into
# one tar archive, laid out relative to /usr/local:
#   lib/frende-db/bin/frende-db                     the entry point (0755)
#   lib/frende-db/plugins/module_utils/**/*.py      the engines (0644)
#   lib/frende-db/libexec/*                         the role's config checkers (0755)
#   bin/frende-db-backup, bin/frende-db-maintenance links to the entry point
# Fixed owners, times and order make equal inputs give an equal archive; the
# archive is replaced only when its content changes, and the script says so
# ("changed" or "unchanged") for the task's changed_when.
# Usage: build-tools-archive.sh COLLECTION_ROOT LIBEXEC_DIR ARCHIVE
set -eu
root=$1 libexec=$2 archive=$3

stage=$(mktemp -d)
trap 'rm -rf "$stage" "$archive.new"' EXIT
lib=$stage/lib/frende-db
mkdir -p "$lib/bin" "$lib/plugins/module_utils" "$lib/libexec" "$stage/bin"
(cd "$root/plugins/module_utils" && find . -name '*.py' ! -path '*/__pycache__/*' | while read -r f; do
  mkdir -p "$lib/plugins/module_utils/$(dirname "$f")"; cp "$f" "$lib/plugins/module_utils/$f"; done)
cp "$root/bin/frende-db" "$lib/bin/frende-db"
cp "$libexec"/* "$lib/libexec/"
find "$lib/plugins/module_utils" -name '*.py' -exec chmod 0644 {} +
chmod 0755 "$lib/bin/frende-db" "$lib"/libexec/*
ln -s ../lib/frende-db/bin/frende-db "$stage/bin/frende-db-backup"
ln -s ../lib/frende-db/bin/frende-db "$stage/bin/frende-db-maintenance"

# Files and links only: the directories on the host keep their own modes.
(cd "$stage" && find . ! -type d | LC_ALL=C sort | tar --create --no-recursion --files-from=- \
  --owner=0 --group=0 --numeric-owner --mtime='2000-01-01 00:00Z' --file=-) >"$archive.new"

if [ -f "$archive" ] && cmp -s "$archive" "$archive.new"; then
  echo unchanged
else
  mv "$archive.new" "$archive"
  echo changed
fi
