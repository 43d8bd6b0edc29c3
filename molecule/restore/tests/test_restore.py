# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The replacement host holds the source's data and roles after the restore."""

from __future__ import annotations

import os

from frende_hosts import sh

TARGET = "frende-target"
PASSWORD = os.environ.get("DB_APP_PASSWORD", "Restore/Test:pw@frende%2")


def psql(sql, db="frende"):
    return sh(TARGET, "runuser -u postgres -- psql -X -A -t -q -v ON_ERROR_STOP=1 -d %s <<'SQL'\n%s\nSQL" % (db, sql))


def test_the_data_is_back():
    assert psql("SELECT name FROM customers ORDER BY id;").stdout.split() == ["Ada", "Grace"]
    assert psql("SELECT tableowner FROM pg_tables WHERE tablename = 'customers';").stdout.strip() == "frende_owner"


def test_the_roles_came_back_with_the_globals():
    roles = psql("SELECT rolname FROM pg_roles WHERE rolname LIKE 'frende%' ORDER BY 1;", db="postgres").stdout.split()
    # The application's two login roles (they take turns at password rotations) and pgaudit's audit role too.
    assert roles == ["frende_app", "frende_app_alt", "frende_auditor", "frende_monitor", "frende_owner"]
    assert psql("SELECT pg_has_role('frende_monitor', 'pg_monitor', 'member');", db="postgres").stdout.strip() == "t"
    assert psql("SELECT pg_has_role('frende_app_alt', 'frende_app', 'member');", db="postgres").stdout.strip() == "t"


def test_the_application_password_works_on_the_replacement_host():
    # Debian's default pg_hba.conf allows scram-sha-256 from 127.0.0.1; the
    # password reaches psql through stdin, never a command line.
    proc = sh(TARGET, "read -r PGPASSWORD; export PGPASSWORD; psql -X -A -t -h 127.0.0.1 -U frende_app -d frende "
                      "-c 'SELECT count(*) FROM customers' <<EOF\n%s\nEOF" % PASSWORD)
    assert proc.stdout.strip() == "2"
