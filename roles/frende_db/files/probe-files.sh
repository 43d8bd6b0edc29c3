#!/bin/sh
# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Reads, in one round trip, the state of every file and directory the role
# manages: type, mode, owner, group and (for files with content) SHA-1. Only
# reads. The role compares it with what it would write and runs the task of an
# entry only when the entry differs: an unchanged host costs one call, not one
# per file.
# Usage: probe-files.sh KEY=PATH...
# Prints one line per entry: KEY|TYPE|MODE|OWNER|GROUP|SHA1 (TYPE "absent" when
# the path does not exist; SHA1 "-" unless the path is a regular file).
set -u
for pair in "$@"; do
  key=${pair%%=*} path=${pair#*=}
  if [ ! -e "$path" ] && [ ! -L "$path" ]; then
    echo "$key|absent|-|-|-|-"
    continue
  fi
  meta=$(stat -c '%F|%a|%U|%G' -- "$path")
  sum=-
  if [ -f "$path" ] && [ ! -L "$path" ]; then
    sum=$(sha1sum -- "$path" | cut -d' ' -f1)
  fi
  echo "$key|$meta|$sum"
done
