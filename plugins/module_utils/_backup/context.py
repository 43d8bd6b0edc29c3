# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every backup action needs: checked options, connections, client tools, the log.

Private to frende.db; stdlib + psycopg2 only.
"""

from __future__ import annotations

import glob
import os
import shutil

from ansible_collections.frende.db.plugins.module_utils import _postgres as pg
from ansible_collections.frende.db.plugins.module_utils._backup.files import owner_ids
from ansible_collections.frende.db.plugins.module_utils._backup.options import normalize
from ansible_collections.frende.db.plugins.module_utils._command import EventLog
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError

TOOL_VERSION = "0.1.0"  # kept equal to galaxy.yml's version by a unit test
PG_LIB = "/usr/lib/postgresql"
# Restore-friendly session settings for pg_restore/psql: restored data is
# checked afterwards, so a crash mid-restore only costs a rerun.
RESTORE_PGOPTIONS = "-c maintenance_work_mem=512MB -c synchronous_commit=off -c statement_timeout=0"


class Context:
    """Options (normalized), check mode, the event log, and how to reach the server and its tools."""

    def __init__(self, params, check_mode=False, tool="frende-db-backup"):
        self.p = normalize(params)
        self.check_mode = check_mode
        self.tool = tool
        self.ids = owner_ids(self.p["owner"])
        logging = not check_mode and self.p["action"] != "list"
        self.log = EventLog(self.p["log_file"], tool, enabled=logging, owner_ids=self.ids)
        self.server_major = None

    # -- server ------------------------------------------------------------
    def connect(self, database=None, autocommit=True):
        conn = pg.connect(self.p, database, autocommit)
        if self.server_major is None:
            self.server_major = conn.server_version // 10000
        return conn

    def admin(self, avoid=None):
        """A Db on the maintenance database; never ``avoid``, the database about to be renamed."""
        name = self.p.get("login_db") or "postgres"
        return pg.Db(self.connect("postgres" if name == avoid else name))

    # -- client tools ------------------------------------------------------
    def binary(self, name):
        """pg_dump & co. matching the server's major version (Debian keeps one dir per version)."""
        candidates = []
        if self.server_major:
            candidates.append(os.path.join(PG_LIB, str(self.server_major), "bin", name))
        candidates.extend(sorted(glob.glob(os.path.join(PG_LIB, "*", "bin", name)),
                                 key=lambda path: int(path.split("/")[-3]) if path.split("/")[-3].isdigit() else 0,
                                 reverse=True))
        for path in candidates:
            if os.access(path, os.X_OK):
                return path
        found = shutil.which(name)
        if not found:
            raise FrendeDbError("%s is not installed on this host (Debian: apt-get install postgresql-client-%s)."
                                % (name, self.server_major or 15))
        return found

    def program(self, name):
        found = shutil.which(name)
        if not found:
            raise FrendeDbError("%s is not installed on this host (Debian: apt-get install %s)." % (name, name))
        return found

    def env(self, restore=False):
        """libpq environment for child processes: connection options as PG* variables.

        The password travels only in the environment (never on a command line).
        """
        env = dict(os.environ)
        kwargs = pg.connect_kwargs(self.p)
        for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"), ("sslmode", "PGSSLMODE"),
                         ("sslrootcert", "PGSSLROOTCERT"), ("connect_timeout", "PGCONNECT_TIMEOUT"),
                         ("password", "PGPASSWORD")):
            if kwargs.get(key) not in (None, ""):
                env[var] = str(kwargs[key])
        env.pop("PGDATABASE", None)
        env["PGAPPNAME"] = self.tool
        env["LC_MESSAGES"] = "C"
        if restore:
            env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " " + RESTORE_PGOPTIONS).strip()
        return env
