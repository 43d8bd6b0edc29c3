# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure planning for frende_db_role: current state + wanted state -> statements and diff.

Private to frende.db. Nothing here talks to a server, so every decision the
module makes can be unit-tested. A statement is a ``(psycopg2.sql.Composed,
params)`` pair; names enter SQL only through ``ident()`` (validated and quoted),
values only as parameters (psycopg2 interpolates them on the client, which
works for utility statements such as ALTER ROLE ... PASSWORD too), secrets as
``Secret`` so that ``queries`` shows them redacted.
"""

from __future__ import annotations

try:
    from psycopg2 import sql
except ImportError:  # reported by require_psycopg2()
    sql = None

from ansible_collections.frende.db.plugins.module_utils._postgres import Secret, ident
from ansible_collections.frende.db.plugins.module_utils._role.privileges import (
    GRANTABLE,
    OWNER_SCHEMA_PRIVILEGES,
    PRESETS,
    privilege_list,
    sorted_privileges,
)
from ansible_collections.frende.db.plugins.module_utils._role.scram import stored_password_kind, verifier_matches

# Role attributes the module always manages (option name -> keyword pair).
ATTRIBUTES = {
    "login": ("LOGIN", "NOLOGIN"),
    "superuser": ("SUPERUSER", "NOSUPERUSER"),
    "createdb": ("CREATEDB", "NOCREATEDB"),
    "createrole": ("CREATEROLE", "NOCREATEROLE"),
    "replication": ("REPLICATION", "NOREPLICATION"),
    "bypassrls": ("BYPASSRLS", "NOBYPASSRLS"),
}


# --- role attributes ----------------------------------------------------------------

def attribute_changes(current, wanted):
    """``{name: (before, after)}`` for every managed attribute, limit or expiry that differs.

    ``current`` is None for a role that does not exist yet. ``wanted`` holds the
    boolean attributes and ``connection_limit``/``valid_until``, where None means
    "not managed".
    """
    changes = {}
    for attr in ATTRIBUTES:
        before = None if current is None else current[attr]
        if before != wanted[attr]:
            changes[attr] = (before, wanted[attr])
    for attr in ("connection_limit", "valid_until"):
        if wanted.get(attr) is None:
            continue
        before = None if current is None else current[attr]
        if before != wanted[attr]:
            changes[attr] = (before, wanted[attr])
    return changes


def _role_options(values):
    """WITH clause parts and their parameters for attribute values (a dict)."""
    parts, params = [], []
    for attr, (yes, no) in ATTRIBUTES.items():
        if attr in values:
            parts.append(sql.SQL(yes if values[attr] else no))
    if values.get("connection_limit") is not None:
        parts.append(sql.SQL("CONNECTION LIMIT %s"))
        params.append(int(values["connection_limit"]))
    if values.get("valid_until") is not None:
        parts.append(sql.SQL("VALID UNTIL %s"))
        params.append(str(values["valid_until"]))
    return parts, params


def create_role_statement(name, wanted, verifier=None):
    """CREATE ROLE with every managed attribute spelled out (nothing left to defaults)."""
    parts, params = _role_options({k: v for k, v in wanted.items() if v is not None})
    if verifier is not None:
        parts.append(sql.SQL("PASSWORD %s"))
        params.append(Secret(verifier))
    query = sql.SQL("CREATE ROLE {} WITH {}").format(ident(name, "name"), sql.SQL(" ").join(parts))
    return query, params


def alter_role_statement(name, changes):
    """ALTER ROLE for the changed attributes only, or None when nothing changes."""
    if not changes:
        return None
    parts, params = _role_options({attr: after for attr, (_before, after) in changes.items()})
    query = sql.SQL("ALTER ROLE {} WITH {}").format(ident(name, "name"), sql.SQL(" ").join(parts))
    return query, params


def password_statement(name, verifier):
    return sql.SQL("ALTER ROLE {} WITH PASSWORD %s").format(ident(name, "name")), [Secret(verifier)]


def password_plan(exists, rolpassword, password, update_password):
    """(needs setting, before label, after label) for the password; labels never hold a hash.

    A stored SCRAM verifier is checked against the password with its own salt and
    iteration count: equal means unchanged. md5, plaintext or no password at all
    means the password is (re)set, so it ends up as a SCRAM verifier.
    """
    before = stored_password_kind(rolpassword) if exists else None
    if password is None:
        return False, before, before
    if not exists:
        return True, None, "scram-sha-256 (set)"
    if update_password == "on_create":
        return False, before, before
    if before == "scram-sha-256" and verifier_matches(password, rolpassword):
        return False, before, before
    return True, before, "scram-sha-256 (changed)" if before == "scram-sha-256" else "scram-sha-256 (set)"


# --- memberships ------------------------------------------------------------------

def membership_changes(current, wanted):
    """(roles to join, roles to leave) so that the role is member of exactly ``wanted``.

    ``wanted`` None means memberships are not managed: nothing changes.
    """
    if wanted is None:
        return [], []
    current, wanted = set(current or ()), set(wanted)
    return sorted(wanted - current), sorted(current - wanted)


def membership_statements(name, join, leave):
    member = ident(name, "name")
    statements = [
        (sql.SQL("GRANT {} TO {}").format(ident(group, "member_of"), member), [])
        for group in join
    ]
    statements += [
        (sql.SQL("REVOKE {} FROM {}").format(ident(group, "member_of"), member), [])
        for group in leave
    ]
    return statements


# --- privileges ----------------------------------------------------------------------

def _base(priv):
    return priv.rstrip(GRANTABLE)


def acl_changes(have, want):
    """(grant, revoke, revoke grant option) turning the set ``have`` into exactly ``want``.

    ``have`` may hold ``PRIV*`` for a privilege held WITH GRANT OPTION; ``want``
    never does (the presets give no grant options).
    """
    held = set(_base(p) for p in have)
    grant = set(want) - held
    revoke = held - set(want)
    revoke_option = set(_base(p) for p in have if p.endswith(GRANTABLE)) & set(want)
    return grant, revoke, revoke_option


def _privileges_label(privs):
    return [p[:-1] + " WITH GRANT OPTION" if p.endswith(GRANTABLE) else p for p in sorted_privileges(privs)]


def _acl_statements(grant, revoke, revoke_option, on, grantee):
    """GRANT / REVOKE statements for one object (``on`` is the composed ON ... clause)."""
    statements = []
    if grant:
        statements.append((sql.SQL("GRANT {} ON {} TO {}").format(privilege_list(grant), on, grantee), []))
    if revoke:
        statements.append((sql.SQL("REVOKE {} ON {} FROM {}").format(privilege_list(revoke), on, grantee), []))
    if revoke_option:
        statements.append((sql.SQL("REVOKE GRANT OPTION FOR {} ON {} FROM {}").format(
            privilege_list(revoke_option), on, grantee), []))
    return statements


def _default_acl_statements(grantor, schema, objtype, grant, revoke, revoke_option, grantee):
    head = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {}").format(
        ident(grantor, "owner"), ident(schema, "schema"))
    on = sql.SQL(objtype.upper())
    statements = []
    if grant:
        statements.append((sql.SQL("{} GRANT {} ON {} TO {}").format(head, privilege_list(grant), on, grantee), []))
    if revoke:
        statements.append((sql.SQL("{} REVOKE {} ON {} FROM {}").format(
            head, privilege_list(revoke), on, grantee), []))
    if revoke_option:
        statements.append((sql.SQL("{} REVOKE GRANT OPTION FOR {} ON {} FROM {}").format(
            head, privilege_list(revoke_option), on, grantee), []))
    return statements


class PrivilegePlan:
    """Statements and before/after views for one role's privileges in one database."""

    def __init__(self):
        self.statements = []
        self.before = {}
        self.after = {}
        self.warnings = []

    def record(self, label, before, after):
        self.before[label] = _privileges_label(before)
        self.after[label] = _privileges_label(after)

    @property
    def changed(self):
        return bool(self.statements)


def plan_privileges(role, preset, schemas, state, owner=None):
    """Make ``role`` hold exactly the ``preset`` in ``state['database']``.

    ``state`` comes from read_privilege_state(). Schemas that do not exist are an
    error for ``app``/``readonly`` (reported by the caller from ``missing_schemas``)
    and hold nothing for ``none``. Tables and sequences are granted object by object,
    only those that differ, one statement per distinct change; never ON ALL TABLES
    IN SCHEMA, which would also reach extension members and objects the role owns.
    Extension members are wanted with no privilege at all. The diff names each
    object that changes.
    """
    want = PRESETS[preset]
    plan = PrivilegePlan()
    grantee = ident(role, "name")
    database = state["database"]

    grant, revoke, option = acl_changes(state["database_privs"], want["database"])
    on_db = sql.SQL("DATABASE {}").format(ident(database, "database"))
    plan.statements += _acl_statements(grant, revoke, option, on_db, grantee)
    plan.record("database %s" % database, state["database_privs"], want["database"])

    present = [s for s in schemas if s in state["schemas"]]
    _warn_about_ownership(plan, role, database, present, state)
    for schema in present:
        if state["schemas"][schema].get("owned"):
            continue
        have = state["schemas"][schema]["privs"]
        grant, revoke, option = acl_changes(have, want["schema"])
        on = sql.SQL("SCHEMA {}").format(ident(schema, "schema"))
        plan.statements += _acl_statements(grant, revoke, option, on, grantee)
        plan.record("schema %s" % schema, have, want["schema"])
        if state["schemas"][schema]["public_create"]:
            plan.warnings.append(
                "PUBLIC holds CREATE on schema %s in database %s, so %s (and every other role) can still "
                "create objects there. Revoke it: REVOKE CREATE ON SCHEMA %s FROM PUBLIC."
                % (schema, database, role, schema))

    for kind in ("table", "sequence"):
        # Objects needing the same (grant, revoke, revoke option) share one statement.
        groups = {}
        for rel in state["relations"]:
            if rel["schema"] not in present or rel["kind"] != kind or rel.get("owned"):
                continue
            wanted = set() if rel.get("extension") else want[kind + "s"]
            changes = acl_changes(rel["privs"], wanted)
            if any(changes):
                key = tuple(tuple(sorted_privileges(c)) for c in changes)
                groups.setdefault(key, []).append(rel)
                plan.record("%s %s.%s" % (kind, rel["schema"], rel["name"]), rel["privs"], wanted)
        for key, rels in groups.items():
            names = sql.SQL(", ").join(sql.Identifier(r["schema"], r["name"]) for r in rels)
            on = sql.SQL("{} {}").format(sql.SQL(kind.upper()), names)
            plan.statements += _acl_statements(*(set(c) for c in key), on=on, grantee=grantee)

    _plan_default_privileges(plan, role, preset, present, state, owner)
    if owner is not None and preset != "none":
        _plan_owner(plan, database, present, state["owner"])
    return plan


def _warn_about_ownership(plan, role, database, schemas, state):
    """An owner holds every privilege on what it owns whatever its ACL says: leave those alone."""
    owned = [s for s in schemas if state["schemas"][s].get("owned")]
    owned += ["%s.%s" % (r["schema"], r["name"]) for r in state["relations"] if r.get("owned")]
    if owned:
        shown = ", ".join(owned[:10]) + (" and %d more" % (len(owned) - 10) if len(owned) > 10 else "")
        plan.warnings.append(
            "Role %s owns %s in database %s, so it holds every privilege there whatever the preset says; "
            "their privileges were left alone. Make the owner role own them (ALTER ... OWNER TO, or "
            "REASSIGN OWNED BY %s TO <owner>)." % (role, shown, database, role))


def _plan_default_privileges(plan, role, preset, schemas, state, owner):
    """FOR ROLE owner: exactly the preset. For ``none``: nothing from any grantor."""
    grantee = ident(role, "name")
    entries = {(d["grantor"], d["schema"], d["objtype"]): d["privs"] for d in state["default_acls"]}
    wanted = {}
    if preset == "none":
        for key in entries:
            if key[1] in schemas:
                wanted[key] = set()
    elif owner is not None:
        for schema in schemas:
            for objtype in ("tables", "sequences"):
                wanted[(owner, schema, objtype)] = PRESETS[preset][objtype]
    for key in sorted(wanted):
        grantor, schema, objtype = key
        have = entries.get(key, set())
        grant, revoke, option = acl_changes(have, wanted[key])
        plan.statements += _default_acl_statements(grantor, schema, objtype, grant, revoke, option, grantee)
        if have or wanted[key]:
            plan.record("default privileges for %s created by %s in schema %s" % (objtype, grantor, schema),
                        have, wanted[key])


def _plan_owner(plan, database, schemas, owner_state):
    """The owner gets CONNECT and CREATE + USAGE on the schemas; it never loses anything here."""
    name = owner_state["name"]
    grantee = ident(name, "owner")
    if not owner_state["connect"]:
        plan.statements.append((sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            ident(database, "database"), grantee), []))
    plan.record("owner %s: database %s" % (name, database),
                {"CONNECT"} if owner_state["connect"] else set(), {"CONNECT"})
    for schema in schemas:
        have = owner_state["schemas"].get(schema, set())
        missing = set(OWNER_SCHEMA_PRIVILEGES) - have
        if missing:
            plan.statements.append((sql.SQL("GRANT {} ON SCHEMA {} TO {}").format(
                privilege_list(missing), ident(schema, "schema"), grantee), []))
        plan.record("owner %s: schema %s" % (name, schema), have, have | missing)


# --- dropping ------------------------------------------------------------------------

def drop_plan(name, dependencies, reassign_owned_to, login_db):
    """Per-database statements and the final DROP ROLE, or a FrendeDbError-worthy message.

    ``dependencies`` maps a database name (None for shared objects such as databases
    the role owns) to ``{"owned": [descriptions], "owned_count": n, "privileges": n}``.
    Returns ``(steps, refusal)``: ``steps`` is a list of ``(database, [statements])``
    ending with the DROP ROLE on ``login_db``; ``refusal`` is a message naming what
    the role still owns when ``reassign_owned_to`` is not given (then ``steps`` is empty).
    """
    role = ident(name, "name")
    owned = {db: dep for db, dep in dependencies.items() if dep["owned_count"]}
    if owned and reassign_owned_to is None:
        return [], _ownership_message(name, owned)
    # Shared objects (databases, tablespaces, grants on them) are handled by REASSIGN
    # OWNED / DROP OWNED run in any one database: the one DROP ROLE runs in.
    targets = {}
    for database, dep in dependencies.items():
        target = targets.setdefault(login_db if database is None else database, dict(owned_count=0))
        target["owned_count"] += dep["owned_count"]
    targets.setdefault(login_db, dict(owned_count=0))
    steps = []
    for database in sorted(targets, key=lambda d: (d == login_db, d)):
        statements = []
        if database in dependencies or (database == login_db and None in dependencies):
            if reassign_owned_to is not None and targets[database]["owned_count"]:
                statements.append(_reassign(role, reassign_owned_to))
            # Only privileges and default privileges are left for DROP OWNED to remove:
            # what the role owned has just been given away (or there was nothing).
            statements.append((sql.SQL("DROP OWNED BY {}").format(role), []))
        if database == login_db:
            statements.append((sql.SQL("DROP ROLE {}").format(role), []))
        steps.append((database, statements))
    return steps, None


def _reassign(role, to):
    return sql.SQL("REASSIGN OWNED BY {} TO {}").format(role, ident(to, "reassign_owned_to")), []


def _ownership_message(name, owned):
    parts = []
    for database in sorted(owned, key=lambda d: (d is None, d or "")):
        dep = owned[database]
        where = "shared object(s)" if database is None else "object(s) in database %s" % database
        shown = ", ".join(dep["owned"])
        more = dep["owned_count"] - len(dep["owned"])
        if more > 0:
            shown += " and %d more" % more
        parts.append("%d %s (%s)" % (dep["owned_count"], where, shown))
    return (
        "Role %s still owns objects, so it was not dropped and nothing was changed. It owns %s. "
        "Set reassign_owned_to to the role that should take them over (the module then runs "
        "REASSIGN OWNED and DROP OWNED), or move or drop them first."
        % (name, "; ".join(parts))
    )
