# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Everything frende_db_role reads from the server, as plain data for the planner.

Private to frende.db. Only reads: nothing here changes the server, so check
mode can call all of it.

Privileges: only those granted to the role itself count (aclexplode of the
object's ACL), never has_*_privilege(). That also answers true through PUBLIC,
through role membership and for superusers, and a module that compared it
would revoke in vain on every run and never settle.
"""

from __future__ import annotations

try:
    import psycopg2
except ImportError:  # reported by require_psycopg2()
    psycopg2 = None

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._role.privileges import (
    DEFAULT_ACL_OBJTYPES,
    SEQUENCE_RELKINDS,
    TABLE_RELKINDS,
)

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

_DATABASE_ACL = """
SELECT a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END AS priv
FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
WHERE d.datname = %(database)s AND a.grantee = %(role_oid)s
"""

_SCHEMAS = """
SELECT n.nspname AS schema, n.nspowner = %(role_oid)s AS owned,
       COALESCE(array_agg(a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END)
                FILTER (WHERE a.grantee = %(role_oid)s), '{}') AS privs,
       COALESCE(bool_or(a.grantee = 0 AND a.privilege_type = 'CREATE'), false) AS public_create
FROM pg_catalog.pg_namespace n
LEFT JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a ON true
WHERE n.nspname = ANY(%(schemas)s)
GROUP BY n.nspname, n.nspowner
"""

_RELATIONS = """
SELECT n.nspname AS schema, c.relname AS name,
       CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END AS kind,
       c.relowner = %(role_oid)s AS owned,
       (SELECT e.extname FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
        WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
          AND d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
        LIMIT 1) AS extension,
       COALESCE(array_agg(a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END)
                FILTER (WHERE a.grantee = %(role_oid)s), '{}') AS privs
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL pg_catalog.aclexplode(c.relacl) a ON true
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind = ANY(%(relkinds)s)
GROUP BY n.nspname, c.relname, c.relkind, c.relowner, c.oid
ORDER BY 1, 2
"""

_DEFAULT_ACLS = """
SELECT g.rolname AS grantor, n.nspname AS schema, d.defaclobjtype AS objtype,
       array_agg(a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END) AS privs
FROM pg_catalog.pg_default_acl d
JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
JOIN pg_catalog.pg_roles g ON g.oid = d.defaclrole,
     pg_catalog.aclexplode(d.defaclacl) a
WHERE a.grantee = %(role_oid)s AND n.nspname = ANY(%(schemas)s) AND d.defaclobjtype = ANY(%(objtypes)s)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""

_OWNER = """
SELECT has_database_privilege(%(owner)s, %(database)s, 'CONNECT') AS connect,
       COALESCE(json_object_agg(n.nspname, json_build_object(
           'USAGE', has_schema_privilege(%(owner)s, n.oid, 'USAGE'),
           'CREATE', has_schema_privilege(%(owner)s, n.oid, 'CREATE')))
         FILTER (WHERE n.oid IS NOT NULL), '{}') AS schemas
FROM (SELECT 1) one
LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = ANY(%(schemas)s)
"""


def pg_message(exc) -> str:
    """The server's one-line reason (no statement context, which could quote values)."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _norm_ts(text):
    return text.replace(".000000+00:00", "+00:00") if text else text


def read_role(db, name: str, login_user: str | None):
    """The role's pg_authid row with its direct memberships, or None when it does not exist."""
    try:
        row = db.query_one(_ROLE, (name,))
    except psycopg2.errors.InsufficientPrivilege:
        raise FrendeDbError(
            "login_user %r may not read pg_authid, which frende_db_role needs to compare passwords "
            "and role attributes. Run the module as a superuser, for example as postgres over the "
            "local socket (become_user: postgres, login_unix_socket: /var/run/postgresql)."
            % (login_user or "postgres"))
    if row is None:
        return None
    role = dict(row)
    role["valid_until"] = _norm_ts(role["valid_until"])
    role["member_of"] = [r["rolname"] for r in db.query(_MEMBER_OF, (role["oid"],))]
    return role


def normalize_valid_until(db, value) -> str | None:
    """``value`` as the server stores and shows it (UTC ISO 8601 or 'infinity'); None stays None."""
    if value is None:
        return None
    try:
        row = db.query_one("SELECT " + _TS_TEXT.format("%(v)s::timestamptz") + " AS v", dict(v=str(value)))
    except psycopg2.DataError as exc:
        raise FrendeDbError(
            "valid_until %r is not a timestamp PostgreSQL understands (%s). Use for example "
            "'2030-12-31', '2030-12-31 23:59:59+00' or 'infinity'." % (value, pg_message(exc)))
    return _norm_ts(row["v"])


def require_roles(db, params) -> None:
    """Fail, naming them, when roles that ``owner``, ``reassign_owned_to`` or ``member_of`` name are missing."""
    wanted = {}
    for key in ("owner", "reassign_owned_to"):
        if params.get(key) is not None:
            wanted.setdefault(params[key], key)
    for group in params.get("member_of") or []:
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


def require_database(db, database: str) -> None:
    """Fail when the database whose privileges are managed is missing or closed to connections."""
    row = db.query_one("SELECT datallowconn FROM pg_catalog.pg_database WHERE datname = %s", (database,))
    if row is None:
        raise FrendeDbError(
            "database %r does not exist. Create it first (privileges are granted inside it); "
            "nothing was changed." % database)
    if not row["datallowconn"]:
        raise FrendeDbError("database %r does not allow connections (datallowconn is false)." % database)


def read_dependencies(db, oid: int):
    """``{database or None (shared): {owned_count, total, allowconn}}`` from pg_shdepend."""
    return dict(((None if row["shared"] else row["database"]),
                 dict(owned_count=row["owned_count"], total=row["total"], allowconn=row["allowconn"]))
                for row in db.query(_DEPENDENCIES, dict(oid=oid)))


def read_owned(db, oid: int, shared: bool, limit: int | None = OWNED_DESCRIBED):
    """Descriptions of what the role owns in the connection's database (or shared objects)."""
    query = _OWNED_HERE + (" LIMIT %d" % limit if limit else "")
    return [r["what"] for r in db.query(query, dict(oid=oid, shared=shared))]


def read_privilege_state(db, database, role_oid, schemas, owner=None):
    """What ``role_oid`` holds in ``database`` (the connection's database), as plain data.

    ``role_oid`` is None for a role that does not exist yet: it holds nothing. The
    owner's privileges are effective ones (has_*_privilege): the owner only ever
    gets privileges added, so counting what it holds through ownership is right.
    """
    args = dict(
        database=database,
        role_oid=role_oid if role_oid is not None else -1,
        schemas=list(schemas),
        relkinds=list(TABLE_RELKINDS + SEQUENCE_RELKINDS),
        objtypes=list(DEFAULT_ACL_OBJTYPES),
        owner=owner,
    )
    state = dict(
        database=database,
        database_privs=set(r["priv"] for r in db.query(_DATABASE_ACL, args)),
        schemas={
            r["schema"]: dict(privs=set(r["privs"]), public_create=r["public_create"], owned=r["owned"])
            for r in db.query(_SCHEMAS, args)
        },
        relations=[
            dict(schema=r["schema"], name=r["name"], kind=r["kind"], privs=set(r["privs"]), owned=r["owned"],
                 extension=r["extension"])
            for r in db.query(_RELATIONS, args)
        ],
        default_acls=[
            dict(grantor=r["grantor"], schema=r["schema"], objtype=DEFAULT_ACL_OBJTYPES[r["objtype"]],
                 privs=set(r["privs"]))
            for r in db.query(_DEFAULT_ACLS, args)
        ],
        owner=None,
    )
    if owner is not None:
        row = db.query_one(_OWNER, args)
        state["owner"] = dict(
            name=owner,
            connect=bool(row["connect"]),
            schemas={
                schema: set(p for p, held in privs.items() if held)
                for schema, privs in (row["schemas"] or {}).items()
            },
        )
    return state


def can_create_in(db, role: str, schema: str) -> bool:
    """Effective CREATE on ``schema`` (through memberships too), for the after-check's warning."""
    return bool(db.query_one("SELECT has_schema_privilege(%s, %s, 'CREATE') AS c", (role, schema))["c"])
