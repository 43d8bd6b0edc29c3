# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Privilege presets of frende_db_role and the pure plan that makes a role hold exactly one.

Private to frende.db. A preset is the exact set of privileges a role holds on
the objects it covers: what is missing is granted, what is more is revoked.
What the role holds comes from read.read_privilege_state(); nothing here talks
to a server.

Objects that belong to an extension (pg_depend deptype 'e', for example the
pg_stat_statements views that CREATE EXTENSION puts into public) are the
extension's, not the application's: a preset wants no privilege of its own
there, so it grants none and revokes what the role was granted on them. Access
to them is whatever the extension grants (pg_stat_statements: SELECT to PUBLIC).
"""

from __future__ import annotations

import collections

try:
    from psycopg2 import sql
except ImportError:  # reported by require_psycopg2()
    sql = None

from ansible_collections.frende.db.plugins.module_utils._postgres import ident

# Privileges this module knows, in the order GRANT statements list them.
DATABASE_PRIVILEGES = ("CONNECT", "CREATE", "TEMPORARY")
SCHEMA_PRIVILEGES = ("USAGE", "CREATE")
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT", "UPDATE")
ORDER = {p: i for i, p in enumerate(
    ("CONNECT", "CREATE", "TEMPORARY", "USAGE") + TABLE_PRIVILEGES
)}

PRESETS = {
    "app": dict(
        database={"CONNECT"},
        schema={"USAGE"},
        tables={"SELECT", "INSERT", "UPDATE", "DELETE"},
        sequences={"USAGE", "SELECT"},
    ),
    "readonly": dict(
        database={"CONNECT"},
        schema={"USAGE"},
        tables={"SELECT"},
        sequences=set(),
    ),
    "none": dict(database=set(), schema=set(), tables=set(), sequences=set()),
}
PRESET_NAMES = sorted(PRESETS)

# What the owner role (the one that runs migrations) needs on each listed schema.
OWNER_SCHEMA_PRIVILEGES = ("CREATE", "USAGE")

# relkinds a preset covers: what GRANT ... ON ALL TABLES IN SCHEMA would (tables,
# partitioned tables, views, materialized views, foreign tables) and sequences.
TABLE_RELKINDS = ("r", "p", "v", "m", "f")
SEQUENCE_RELKINDS = ("S",)

# pg_default_acl.defaclobjtype -> the word ALTER DEFAULT PRIVILEGES uses.
DEFAULT_ACL_OBJTYPES = {"r": "tables", "S": "sequences"}

# A privilege held WITH GRANT OPTION is written with this suffix in privilege sets.
GRANTABLE = "*"

# What a preset is applied to: the database, the preset, the schemas it covers and the owner role
# whose future objects the default privileges cover (None for the ``none`` preset).
PrivilegeTarget = collections.namedtuple("PrivilegeTarget", "database preset schemas owner")


def privilege_target(params) -> PrivilegeTarget | None:
    """The target the module options name, or None when privileges are not managed."""
    if params.get("privileges") is None:
        return None
    preset = params["privileges"]
    return PrivilegeTarget(params["database"], preset, list(dict.fromkeys(params.get("schemas") or [])),
                           params.get("owner") if preset != "none" else None)


def sorted_privileges(privileges):
    return sorted(privileges, key=lambda p: (ORDER.get(p.rstrip(GRANTABLE), 99), p))


def privilege_list(privileges):
    """``SELECT, INSERT`` as SQL; only known privilege keywords ever reach SQL text."""
    words = []
    for priv in sorted_privileges(privileges):
        if priv not in ORDER:
            raise ValueError("unknown privilege %r" % priv)
        words.append(sql.SQL(priv))
    return sql.SQL(", ").join(words)


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

    ``state`` comes from read.read_privilege_state(). Schemas that do not exist are an
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
