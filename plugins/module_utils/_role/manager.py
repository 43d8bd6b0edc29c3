# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The work behind frende.db.frende_db_role: read, plan, apply, verify.

Private to frende.db. The manager only reads (read.py), hands what it read to
one pure planning function (plan.py), applies the plan's statements, and reads
again to verify. Reads happen first (outside any transaction); the changes for
one database then run in one transaction, so a refused statement leaves that
database as it was. In check mode nothing but reads reaches the server.
"""

from __future__ import annotations

import functools

try:
    import psycopg2
except ImportError:  # reported by require_psycopg2()
    psycopg2 = None

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._postgres import (
    Db,
    connect,
    require_psycopg2,
    validate_identifier,
)
from ansible_collections.frende.db.plugins.module_utils._role import read
from ansible_collections.frende.db.plugins.module_utils._role.plan import (
    ATTRIBUTES,
    check_password_input,
    plan_drop,
    plan_role,
    result_role,
    role_view,
)
from ansible_collections.frende.db.plugins.module_utils._role.privileges import plan_privileges, privilege_target
from ansible_collections.frende.db.plugins.module_utils._role.scram import stored_password_kind

# Names CREATE ROLE refuses (PostgreSQL reserves them or the pg_ prefix).
RESERVED_ROLE_NAMES = ("public", "none", "current_role", "current_user", "session_user")
# What the after-check compares between the plan and the server.
VERIFIED_KEYS = tuple(ATTRIBUTES) + ("connection_limit", "valid_until", "member_of")


class _Db(Db):
    """Db that can also only record a statement (check mode)."""

    def record(self, query, params=None):
        _real, shown = self._split(params)
        self.queries.append(self._text(query, shown))


class RoleManager:
    """Reads, plans, applies and verifies one role. ``queries`` and ``warnings`` collect what the module reports."""

    def __init__(self, params, check_mode=False):
        self.p = params
        self.check_mode = check_mode
        self.warnings = []
        self.queries = []
        self.login_db = params.get("login_db") or params.get("database") or "postgres"
        self._dbs = {}

    # --- input -----------------------------------------------------------------------
    def validate(self):
        p = self.p
        name = validate_identifier(p["name"], "name")
        if name.lower() in RESERVED_ROLE_NAMES or name.lower().startswith("pg_"):
            raise FrendeDbError(
                "name %r is reserved by PostgreSQL (public, none, current_user, session_user, "
                "current_role and names starting with pg_); choose another role name." % name)
        if name == (p.get("login_user") or "postgres"):
            raise FrendeDbError(
                "name %r is the role the module connects as (login_user). frende_db_role does not manage "
                "its own login role: that could take away the superuser it needs. Connect as another "
                "superuser to manage %r." % (name, name))
        if p.get("database") is not None:
            validate_identifier(p["database"], "database")
        for schema in p.get("schemas") or []:
            validate_identifier(schema, "schemas entry")
        for key in ("owner", "reassign_owned_to"):
            if p.get(key) is not None:
                validate_identifier(p[key], key)
                if p[key] == name:
                    raise FrendeDbError("%s must be another role than name (%r)." % (key, name))
        for group in p.get("member_of") or []:
            validate_identifier(group, "member_of entry")
            if group == name:
                raise FrendeDbError("member_of must not list the role itself (%r)." % name)
        if p.get("password") is not None:
            if p["password"] == "":
                raise FrendeDbError(
                    "password is empty. PostgreSQL treats an empty password as no password; give a real "
                    "password, or omit password to leave the role's password as it is.")
            if "\x00" in p["password"]:
                raise FrendeDbError("password contains a NUL character, which PostgreSQL cannot store.")
            check_password_input(p["password"])
        limit = p.get("connection_limit")
        if limit is not None and limit < -1:
            raise FrendeDbError(
                "connection_limit must be -1 (no limit), 0 or a positive number of connections, got %s." % limit)
        if p.get("valid_until") is not None and not str(p["valid_until"]).strip():
            raise FrendeDbError("valid_until is empty; give a timestamp such as '2030-12-31' or 'infinity'.")

    # --- connections -------------------------------------------------------------------
    def _db(self, database):
        if database not in self._dbs:
            self._dbs[database] = _Db(connect(self.p, database, autocommit=True))
        return self._dbs[database]

    def close(self):
        for db in self._dbs.values():
            db.close()

    # --- the run -------------------------------------------------------------------------
    def run(self):
        require_psycopg2()
        self.validate()
        try:
            main = self._db(self.login_db)
            current = read.read_role(main, self.p["name"], self.p.get("login_user"))
            read.require_roles(main, self.p)
            if self.p["state"] == "absent":
                plan = plan_drop(self.p["name"], current, self._read_dependencies(main, current),
                                 self.p.get("reassign_owned_to"), self.login_db)
                self.apply(plan, guard_oid=current["oid"] if current and not self.p.get("reassign_owned_to") else None)
                return self._result(plan, plan.role)
            target = privilege_target(self.p)
            plan = plan_role(self.p, current, self._wanted(main), target,
                             self._read_privileges(main, current, target), self.login_db)
            self.warnings += plan.warnings
            self.apply(plan)
            role = plan.role
            if plan.changed and not self.check_mode:
                role = self.verify(main, plan)
            return self._result(plan, role)
        except psycopg2.Error as exc:
            raise FrendeDbError("PostgreSQL error while reading the current state: %s" % read.pg_message(exc))
        finally:
            self.close()

    def _result(self, plan, role):
        return dict(changed=plan.changed, queries=self.queries, role=role,
                    diff=dict(before=plan.before, after=plan.after))

    # --- reading (read.py does the SQL) --------------------------------------------------
    def _wanted(self, main):
        wanted = {attr: bool(self.p.get(attr)) for attr in ATTRIBUTES}
        wanted["connection_limit"] = self.p.get("connection_limit")
        wanted["valid_until"] = read.normalize_valid_until(main, self.p.get("valid_until"))
        return wanted

    def _read_privileges(self, main, current, target):
        if target is None:
            return None
        read.require_database(main, target.database)
        state = read.read_privilege_state(self._db(target.database), target.database,
                                          current["oid"] if current else None, target.schemas, target.owner)
        missing = [s for s in target.schemas if s not in state["schemas"]]
        if missing and target.preset != "none":
            raise FrendeDbError(
                "schema(s) %s do not exist in database %s. Create them (owned by the owner role) first "
                "or correct schemas; nothing was changed." % (", ".join(missing), target.database))
        return state

    def _read_dependencies(self, main, current):
        if current is None:
            return {}
        dependencies = read.read_dependencies(main, current["oid"])
        for key, dep in dependencies.items():
            if key is not None and not dep["allowconn"]:
                raise FrendeDbError(
                    "Role %s has objects or privileges in database %s, which does not allow connections, "
                    "so they cannot be removed; nothing was changed." % (self.p["name"], key))
            dep["owned"] = []
            if dep["owned_count"] and self.p.get("reassign_owned_to") is None:
                db = main if key is None else self._db(key)
                dep["owned"] = read.read_owned(db, current["oid"], key is None)
        return dependencies

    # --- applying ------------------------------------------------------------------------
    def apply(self, plan, guard_oid=None):
        """Run the plan's statements, one transaction per database (only recorded in check mode).

        ``guard_oid``: before DROP OWNED, check again inside the transaction that the role
        came to own nothing since it was read.
        """
        for database, statements in plan.steps:
            guard = None
            if guard_oid is not None:
                guard = functools.partial(self._recheck_not_owning, oid=guard_oid, database=database)
            db = self._db(database)
            mark = len(db.queries)
            try:
                self._transaction(db, statements, guard)
            finally:
                self.queries.extend(db.queries[mark:])

    def _transaction(self, db, statements, guard=None):
        if self.check_mode:
            for query, params in statements:
                db.record(query, params)
            return
        db.conn.autocommit = False
        try:
            if guard is not None:
                guard(db)
            for query, params in statements:
                db.execute(query, params)
            db.conn.commit()
        except FrendeDbError:
            db.conn.rollback()
            raise
        except psycopg2.Error as exc:
            db.conn.rollback()
            raise FrendeDbError(
                "PostgreSQL refused %r: %s. The statements for database %s were rolled back."
                % (db.queries[-1] if db.queries else "?", read.pg_message(exc),
                   db.conn.get_dsn_parameters().get("dbname")))
        finally:
            db.conn.autocommit = True

    def _recheck_not_owning(self, db, oid, database):
        """DROP OWNED would drop objects the role came to own since it was read: refuse."""
        owned = read.read_owned(db, oid, False, None) + read.read_owned(db, oid, True, None)
        if owned:
            raise FrendeDbError(
                "Role %s came to own objects in database %s while the module ran (%s); nothing was "
                "dropped there. Run again, with reassign_owned_to if they must be kept."
                % (self.p["name"], database, ", ".join(owned[:read.OWNED_DESCRIBED])))

    # --- verifying -----------------------------------------------------------------------
    def verify(self, main, plan):
        """Read back what the server now holds; warn where it differs from the plan. Returns the role result."""
        name = self.p["name"]
        actual = read.read_role(main, name, self.p.get("login_user"))
        view = role_view(actual, stored_password_kind(actual["rolpassword"]) if actual else None)
        for key in VERIFIED_KEYS:
            if view.get(key) != plan.predicted.get(key):
                self.warnings.append(
                    "After the change the server reports %s = %r for role %s, not %r as planned."
                    % (key, view.get(key), name, plan.predicted.get(key)))
        target = plan.privileges
        if target is not None:
            state = read.read_privilege_state(self._db(target.database), target.database, actual["oid"],
                                              target.schemas, target.owner)
            again = plan_privileges(name, target.preset, target.schemas, state, target.owner)
            if again.changed:
                self.warnings.append(
                    "Privileges of role %s in database %s did not settle: another run would still change "
                    "%d statement(s)." % (name, target.database, len(again.statements)))
            self._warn_effective_create(state, target)
        return result_role(name, view)

    def _warn_effective_create(self, state, target):
        if self.p.get("superuser") or target.preset == "none":
            return
        db = self._db(target.database)
        for schema in target.schemas:
            if read.can_create_in(db, self.p["name"], schema) and not state["schemas"][schema]["public_create"]:
                self.warnings.append(
                    "Role %s can still CREATE in schema %s of database %s through a role it is a member of."
                    % (self.p["name"], schema, target.database))
