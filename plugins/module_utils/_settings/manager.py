# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The work behind frende.db.frende_db_settings: read pg_file_settings, plan, apply with ALTER SYSTEM.

Private to frende.db. Check mode only reads.
"""

from __future__ import annotations

import os

try:
    import psycopg2
    from psycopg2 import sql
except ImportError:  # reported by require_psycopg2()
    psycopg2 = None
    sql = None

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._postgres import Db, connect, require_psycopg2
from ansible_collections.frende.db.plugins.module_utils._settings.overrides import NAME_RE, diff, plan_overrides

_FILE_SETTINGS = ("SELECT seqno, sourcefile, sourceline, name, setting, error FROM pg_catalog.pg_file_settings "
                  "ORDER BY seqno")


def statement(item):
    """ALTER SYSTEM for one planned fix; the name comes from the server's own catalog and is checked."""
    if not NAME_RE.match(item["name"]):
        raise FrendeDbError("Refusing to write the setting name %r into SQL." % item["name"])
    if item["fix"] == "reset":
        return sql.SQL("ALTER SYSTEM RESET {}").format(sql.SQL(item["name"])), None
    return sql.SQL("ALTER SYSTEM SET {} = %s").format(sql.SQL(item["name"])), (item["wanted"],)


class SettingsManager:
    def __init__(self, params, check_mode=False):
        self.p = params
        self.check_mode = check_mode
        self.queries = []

    def read(self, db):
        try:
            return db.query(_FILE_SETTINGS)
        except psycopg2.errors.InsufficientPrivilege:
            user = self.p.get("login_user") or "postgres"
            raise FrendeDbError("login_user %r may not read pg_file_settings; frende_db_settings must connect as a "
                                "superuser (postgres over the local socket)." % user)

    def run(self):
        require_psycopg2()
        db = Db(connect(self.p, self.p.get("login_db"), autocommit=True))  # ALTER SYSTEM runs outside transactions
        try:
            entries = self.read(db)
            if not any(e["name"] and os.path.realpath(e["sourcefile"] or "") == os.path.realpath(self.p["conf_file"])
                       for e in entries):
                return self._result([], "%s sets nothing the server reads (missing, or not included)."
                                    % self.p["conf_file"])
            plan = plan_overrides(entries, self.p["conf_file"], self.p.get("settings"))
            for item in plan:
                query, params = statement(item)
                self.queries.append(db.render(query, params))
                if self.check_mode:
                    continue
                try:
                    db.execute(query, params)
                except psycopg2.Error as exc:
                    raise FrendeDbError("PostgreSQL refused %s: %s" % (self.queries[-1],
                                                                       str(exc).strip().splitlines()[0]))
            return self._result(plan, self._message(plan))
        finally:
            db.close()

    def _message(self, plan):
        if not plan:
            return "Every setting of %s takes effect." % self.p["conf_file"]
        return "%s: %s. A reload applies it." % (
            "Would put back" if self.check_mode else "Put back",
            "; ".join("%s = %s (overridden by %s, which says %s)" % (
                p["name"], p["wanted"], p["effective_from"], p["effective"]) for p in plan))

    def _result(self, plan, msg):
        return dict(changed=bool(plan), overridden=plan, queries=self.queries, diff=diff(plan), msg=msg)
