# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The work behind frende.db.frende_db_role: read the role, plan, apply, report.

Private to frende.db. Reads happen first (outside any transaction); the changes
for one database then run in one transaction, so a refused statement leaves
that database as it was. In check mode nothing but reads reaches the server.
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
from ansible_collections.frende.db.plugins.module_utils._role.plan import (
    ATTRIBUTES,
    alter_role_statement,
    attribute_changes,
    create_role_statement,
    drop_plan,
    membership_changes,
    membership_statements,
    password_plan,
    password_statement,
    plan_privileges,
)
from ansible_collections.frende.db.plugins.module_utils._role.privileges import read_privilege_state
from ansible_collections.frende.db.plugins.module_utils._role.scram import scram_verifier, stored_password_kind

# Names CREATE ROLE refuses (PostgreSQL reserves them or the pg_ prefix).
RESERVED_ROLE_NAMES = ("public", "none", "current_role", "current_user", "session_user")
OWNED_DESCRIBED = 10  # objects named per database in the "still owns" message

# Valid-until as one canonical text (UTC, ISO 8601), so that '2030-01-01' given and
# '2030-01-01 00:00:00+00' stored compare equal: the server does the parsing.
_TS_TEXT = (
    "CASE WHEN {0} IS NULL THEN NULL WHEN isfinite({0}) "
    "THEN to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') ELSE {0}::text END"
)

_ROLE = (
    "SELECT oid, rolsuper AS superuser, rolcreatedb AS createdb, rolcreaterole AS createrole, "
    "rolreplication AS replication, rolbypassrls AS bypassrls, rolcanlogin AS login, "
    "rolconnlimit AS connection_limit, rolpassword, " + _TS_TEXT.format("rolvaliduntil") + " AS valid_until "
    "FROM pg_catalog.pg_authid WHERE rolname = %s"
)
_MEMBER_OF = (
    "SELECT g.rolname FROM pg_catalog.pg_auth_members m "
    "JOIN pg_catalog.pg_roles g ON g.oid = m.roleid WHERE m.member = %s ORDER BY 1"
)
_DEPENDENCIES = """
SELECT s.dbid = 0 AS shared, d.datname AS database, d.datallowconn AS allowconn,
       count(*) FILTER (WHERE s.deptype = 'o' AND s.classid <> 'pg_catalog.pg_default_acl'::regclass) AS owned_count,
       count(*) AS total
FROM pg_catalog.pg_shdepend s
LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid
WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND s.refobjid = %(oid)s
GROUP BY 1, 2, 3
"""
_OWNED_HERE = """
SELECT pg_catalog.pg_describe_object(s.classid, s.objid, s.objsubid) AS what
FROM pg_catalog.pg_shdepend s
WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND s.refobjid = %(oid)s AND s.deptype = 'o'
  AND s.classid <> 'pg_catalog.pg_default_acl'::regclass
  AND s.dbid = CASE WHEN %(shared)s THEN 0
                    ELSE (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) END
ORDER BY 1
"""


def _norm_ts(text):
    return text.replace(".000000+00:00", "+00:00") if text else text


def _pg_message(exc):
    """The server's one-line reason (no statement context, which could quote values)."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text


class _Db(Db):
    """Db that can also only record a statement (check mode)."""

    def record(self, query, params=None):
        _real, shown = self._split(params)
        self.queries.append(self._text(query, shown))


class RoleManager:
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

    # --- reading -----------------------------------------------------------------------
    def read_role(self, db):
        try:
            row = db.query_one(_ROLE, (self.p["name"],))
        except psycopg2.errors.InsufficientPrivilege:
            raise FrendeDbError(
                "login_user %r may not read pg_authid, which frende_db_role needs to compare passwords "
                "and role attributes. Run the module as a superuser, for example as postgres over the "
                "local socket (become_user: postgres, login_unix_socket: /var/run/postgresql)."
                % (self.p.get("login_user") or "postgres"))
        if row is None:
            return None
        role = dict(row)
        role["valid_until"] = _norm_ts(role["valid_until"])
        role["member_of"] = [r["rolname"] for r in db.query(_MEMBER_OF, (role["oid"],))]
        return role

    def normalize_valid_until(self, db):
        value = self.p.get("valid_until")
        if value is None:
            return None
        try:
            row = db.query_one("SELECT " + _TS_TEXT.format("%(v)s::timestamptz") + " AS v", dict(v=str(value)))
        except psycopg2.DataError as exc:
            raise FrendeDbError(
                "valid_until %r is not a timestamp PostgreSQL understands (%s). Use for example "
                "'2030-12-31', '2030-12-31 23:59:59+00' or 'infinity'." % (value, _pg_message(exc)))
        return _norm_ts(row["v"])

    def require_roles(self, db):
        wanted = {}
        for key in ("owner", "reassign_owned_to"):
            if self.p.get(key) is not None:
                wanted.setdefault(self.p[key], key)
        for group in self.p.get("member_of") or []:
            wanted.setdefault(group, "member_of")
        if not wanted:
            return
        found = set(r["rolname"] for r in db.query(
            "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)", (sorted(wanted),)))
        missing = sorted(set(wanted) - found)
        if missing:
            raise FrendeDbError(
                "These roles do not exist: %s. Create them first or correct the names; nothing was changed."
                % ", ".join("%s %s" % (wanted[m], m) for m in missing))

    # --- applying ----------------------------------------------------------------------
    def _apply(self, db, statements, guard=None):
        """Run ``statements`` in one transaction (``guard(db)`` first, inside it)."""
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
                % (db.queries[-1] if db.queries else "?", _pg_message(exc),
                   db.conn.get_dsn_parameters().get("dbname")))
        finally:
            db.conn.autocommit = True

    def _collect(self, db, start):
        self.queries.extend(db.queries[start:])

    def run(self):
        require_psycopg2()
        self.validate()
        try:
            main = self._db(self.login_db)
            current = self.read_role(main)
            if self.p["state"] == "absent":
                return self._absent(main, current)
            return self._present(main, current)
        except psycopg2.Error as exc:
            raise FrendeDbError("PostgreSQL error while reading the current state: %s" % _pg_message(exc))
        finally:
            self.close()

    # --- state: present --------------------------------------------------------------
    def _wanted(self, main):
        wanted = {attr: bool(self.p.get(attr)) for attr in ATTRIBUTES}
        wanted["connection_limit"] = self.p.get("connection_limit")
        wanted["valid_until"] = self.normalize_valid_until(main)
        return wanted

    def _present(self, main, current):
        p = self.p
        name = p["name"]
        wanted = self._wanted(main)
        self.require_roles(main)
        exists = current is not None

        changes = attribute_changes(current, wanted)
        pw_set, pw_before, pw_after = password_plan(
            exists, current["rolpassword"] if exists else None, p.get("password"), p.get("update_password"))
        verifier = scram_verifier(p["password"]) if pw_set else None

        role_statements = []
        if not exists:
            role_statements.append(create_role_statement(name, wanted, verifier))
        else:
            alter = alter_role_statement(name, changes)
            if alter:
                role_statements.append(alter)
            if pw_set:
                role_statements.append(password_statement(name, verifier))
        join, leave = membership_changes(current["member_of"] if exists else [], p.get("member_of"))
        role_statements += membership_statements(name, join, leave)

        privileges = None
        if p.get("privileges") is not None:
            privileges = self._plan_privileges(main, current)

        before = self._role_view(current, pw_before)
        after = self._predict(current, wanted, join, leave, pw_after)
        diff = dict(before=self._diff_view(before), after=self._diff_view(after))
        if privileges is not None:
            diff["before"]["privileges"] = privileges.before
            diff["after"]["privileges"] = privileges.after
            self.warnings += privileges.warnings

        changed = bool(role_statements) or (privileges is not None and privileges.changed)
        priv_db = self._db(p["database"]) if privileges is not None else None
        mark = len(main.queries)
        if priv_db is main:
            self._apply(main, role_statements + privileges.statements)
            self._collect(main, mark)
        else:
            if role_statements:
                self._apply(main, role_statements)
                self._collect(main, mark)
            if privileges is not None and privileges.statements:
                mark = len(priv_db.queries)
                self._apply(priv_db, privileges.statements)
                self._collect(priv_db, mark)

        if not self.check_mode and changed:
            after = self._verify_after(main, after, privileges)
        return dict(changed=changed, queries=self.queries, role=self._result_role(after), diff=diff)

    def _plan_privileges(self, main, current):
        p = self.p
        database = p["database"]
        preset = p["privileges"]
        schemas = list(dict.fromkeys(p.get("schemas") or []))
        row = main.query_one(
            "SELECT datallowconn FROM pg_catalog.pg_database WHERE datname = %s", (database,))
        if row is None:
            raise FrendeDbError(
                "database %r does not exist. Create it first (privileges are granted inside it); "
                "nothing was changed." % database)
        if not row["datallowconn"]:
            raise FrendeDbError("database %r does not allow connections (datallowconn is false)." % database)
        owner = p.get("owner") if preset != "none" else None
        state = read_privilege_state(
            self._db(database), database, current["oid"] if current else None, schemas, owner)
        missing = [s for s in schemas if s not in state["schemas"]]
        if missing and preset != "none":
            raise FrendeDbError(
                "schema(s) %s do not exist in database %s. Create them (owned by the owner role) first "
                "or correct schemas; nothing was changed." % (", ".join(missing), database))
        self._privilege_args = (database, preset, schemas, owner)
        return plan_privileges(p["name"], preset, schemas, state, p.get("owner"))

    def _predict(self, current, wanted, join, leave, pw_after):
        after = dict(exists=True)
        for attr in ATTRIBUTES:
            after[attr] = wanted[attr]
        for attr in ("connection_limit", "valid_until"):
            if wanted[attr] is not None:
                after[attr] = wanted[attr]
            else:
                after[attr] = current[attr] if current else (-1 if attr == "connection_limit" else None)
        members = set(current["member_of"] if current else ()) | set(join)
        after["member_of"] = sorted(members - set(leave))
        after["password"] = pw_after
        return after

    def _role_view(self, current, pw_kind):
        if current is None:
            return dict(exists=False)
        view = dict(exists=True)
        for attr in ATTRIBUTES:
            view[attr] = current[attr]
        view["connection_limit"] = current["connection_limit"]
        view["valid_until"] = current["valid_until"]
        view["member_of"] = list(current["member_of"])
        view["password"] = pw_kind
        return view

    def _diff_view(self, view):
        return dict(view, name=self.p["name"])

    def _verify_after(self, main, predicted, privileges):
        """Read back what the server now holds; warn where it differs from the plan."""
        actual = self.read_role(main)
        view = self._role_view(actual, stored_password_kind(actual["rolpassword"]) if actual else None)
        for key in ("superuser", "createdb", "createrole", "replication", "bypassrls", "login",
                    "connection_limit", "valid_until", "member_of"):
            if view.get(key) != predicted.get(key):
                self.warnings.append(
                    "After the change the server reports %s = %r for role %s, not %r as planned."
                    % (key, view.get(key), self.p["name"], predicted.get(key)))
        if privileges is not None:
            database, preset, schemas, owner = self._privilege_args
            state = read_privilege_state(self._db(database), database, actual["oid"], schemas, owner)
            again = plan_privileges(self.p["name"], preset, schemas, state, self.p.get("owner"))
            if again.changed:
                self.warnings.append(
                    "Privileges of role %s in database %s did not settle: another run would still change "
                    "%d statement(s)." % (self.p["name"], database, len(again.statements)))
            self._check_effective_create(state, database, schemas)
        return view

    def _check_effective_create(self, state, database, schemas):
        if self.p.get("superuser") or self.p["privileges"] == "none":
            return
        db = self._db(database)
        for schema in schemas:
            row = db.query_one("SELECT has_schema_privilege(%s, %s, 'CREATE') AS c", (self.p["name"], schema))
            if row["c"] and not state["schemas"][schema]["public_create"]:
                self.warnings.append(
                    "Role %s can still CREATE in schema %s of database %s through a role it is a member of."
                    % (self.p["name"], schema, database))

    def _result_role(self, view):
        if not view.get("exists"):
            return dict(name=self.p["name"], exists=False)
        return dict(
            name=self.p["name"],
            exists=True,
            attributes={attr: view[attr] for attr in ATTRIBUTES if attr != "login"},
            login=view["login"],
            connection_limit=view["connection_limit"],
            valid_until=view["valid_until"],
            member_of=view["member_of"],
            password_set=bool(view["password"]) and view["password"] != "none",
        )

    # --- state: absent ---------------------------------------------------------------
    def _absent(self, main, current):
        name = self.p["name"]
        self.require_roles(main)
        if current is None:
            gone = dict(name=name, exists=False)
            return dict(changed=False, queries=[], role=gone, diff=dict(before=gone, after=gone))
        reassign = self.p.get("reassign_owned_to")
        dependencies = {}
        for row in main.query(_DEPENDENCIES, dict(oid=current["oid"])):
            key = None if row["shared"] else row["database"]
            if key is not None and not row["allowconn"]:
                raise FrendeDbError(
                    "Role %s has objects or privileges in database %s, which does not allow connections, "
                    "so they cannot be removed; nothing was changed." % (name, key))
            dependencies[key] = dict(owned_count=row["owned_count"], owned=[], total=row["total"])
        for key, dep in dependencies.items():
            if dep["owned_count"] and reassign is None:
                db = main if key is None else self._db(key)
                rows = db.query(_OWNED_HERE + " LIMIT %d" % OWNED_DESCRIBED,
                                dict(oid=current["oid"], shared=key is None))
                dep["owned"] = [r["what"] for r in rows]
        steps, refusal = drop_plan(name, dependencies, reassign, self.login_db)
        if refusal:
            raise FrendeDbError(refusal, owned={
                (k or "(shared)"): d["owned_count"] for k, d in dependencies.items() if d["owned_count"]})

        before = dict(self._diff_view(self._role_view(current, None)))
        before.pop("password", None)
        before["owned_objects"] = {(k or "(shared)"): d["owned_count"] for k, d in dependencies.items()}
        after = dict(name=name, exists=False)
        for database, statements in steps:
            db = self._db(database)
            mark = len(db.queries)
            guard = None
            if reassign is None:
                guard = functools.partial(self._recheck_not_owning, oid=current["oid"], database=database)
            self._apply(db, statements, guard)
            self._collect(db, mark)
        return dict(changed=True, queries=self.queries, role=dict(name=name, exists=False),
                    diff=dict(before=before, after=after))

    def _recheck_not_owning(self, db, oid, database):
        """DROP OWNED would drop objects the role came to own since it was read: refuse."""
        rows = db.query(_OWNED_HERE, dict(oid=oid, shared=False))
        rows += db.query(_OWNED_HERE, dict(oid=oid, shared=True))
        if rows:
            raise FrendeDbError(
                "Role %s came to own objects in database %s while the module ran (%s); nothing was "
                "dropped there. Run again, with reassign_owned_to if they must be kept."
                % (self.p["name"], database, ", ".join(r["what"] for r in rows[:OWNED_DESCRIBED])))
