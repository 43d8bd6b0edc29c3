# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Privilege presets of frende_db_role and how to read what a role really holds.

Private to frende.db. A preset is the exact set of privileges a role holds on
the objects it covers: what is missing is granted, what is more is revoked.

Objects that belong to an extension (pg_depend deptype 'e', for example the
pg_stat_statements views that CREATE EXTENSION puts into public) are the
extension's, not the application's: a preset wants no privilege of its own
there, so it grants none and revokes what the role was granted on them. Access
to them is whatever the extension grants (pg_stat_statements: SELECT to PUBLIC).

Only privileges granted to the role itself count (aclexplode of the object's
ACL), never has_*_privilege(): that also answers true through PUBLIC, through
role membership and for superusers, and a module that compared it would
revoke in vain on every run and never settle.
"""

from __future__ import annotations

try:
    from psycopg2 import sql
except ImportError:  # reported by require_psycopg2()
    sql = None

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


# --- reading the current state (one database connection) -------------------------

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
