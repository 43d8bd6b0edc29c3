# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role and what it may do in the application database, as the report's table shows it.

Private to frende.db. The SQL reads catalogs only (any role may, the monitoring role included);
the pure functions group the grants per role, so a role with SELECT on 300 tables is one line.
"""

from __future__ import annotations

from ansible_collections.frende.db.plugins.module_utils._health.role_audit import POWERS

ROLES_SQL = """
SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
       r.rolcanlogin, r.rolconnlimit,
       coalesce((SELECT array_agg(g.rolname::text ORDER BY g.rolname) FROM pg_auth_members m
                 JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '{}') AS member_of
FROM pg_roles r WHERE r.rolname !~ '^pg_' ORDER BY r.rolname
"""
# Databases and schemas with their defaults (PUBLIC's USAGE on public is one); tables and sequences
# with their explicit grants only, so an owner's implicit rights do not fill the table.
GRANTS_SQL = """
WITH acl AS (
  SELECT 'database' AS kind, quote_ident(d.datname) AS object, a.grantee, a.privilege_type
  FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
  WHERE d.datname = current_database()
  UNION ALL
  SELECT 'schema', quote_ident(n.nspname), a.grantee, a.privilege_type
  FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
  WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  UNION ALL
  SELECT CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END, c.oid::regclass::text, a.grantee,
         a.privilege_type
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
)
SELECT CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(grantee)::text END AS grantee, kind, object,
       string_agg(privilege_type, ', ' ORDER BY privilege_type) AS privileges
FROM acl GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
SHOWN_OBJECTS = 3


def _plural(kind, count):
    return kind if count == 1 else kind + "s"


def summarize_grants(rows) -> dict:
    """{grantee: ["SELECT, INSERT on 2 tables (public.a, public.b)", ...]} from GRANTS_SQL's rows."""
    grouped = {}
    for row in rows:
        key = (row["grantee"], row["privileges"], row["kind"])
        grouped.setdefault(key, []).append(row["object"])
    found = {}
    for (grantee, privileges, kind), objects in sorted(grouped.items()):
        shown = ", ".join(objects[:SHOWN_OBJECTS]) + (", ..." if len(objects) > SHOWN_OBJECTS else "")
        text = ("%s on %s %s" % (privileges, kind, shown) if len(objects) == 1
                else "%s on %d %s (%s)" % (privileges, len(objects), _plural(kind, len(objects)), shown))
        found.setdefault(grantee, []).append(text)
    return found


def roles_table(role_rows, grants: dict, managed: list) -> list:
    """The report's roles: attributes, limit, memberships, privileges; ``managed`` False for the others."""
    table = []
    for row in role_rows:
        attributes = [label for column, label in POWERS if row.get(column)]
        if row.get("rolcanlogin"):
            attributes.insert(0, "LOGIN")
        table.append(dict(name=row["rolname"], managed=row["rolname"] in managed, login=bool(row.get("rolcanlogin")),
                          attributes=attributes, connection_limit=row.get("rolconnlimit"),
                          member_of=list(row.get("member_of") or []), privileges=grants.get(row["rolname"], [])))
    return table


def public_schema_usage(rows) -> bool:
    """True when PUBLIC may use the schema public (GRANTS_SQL's rows): CIS wants it revoked."""
    return any(row["grantee"] == "PUBLIC" and row["kind"] == "schema" and row["object"] == "public"
               and "USAGE" in row["privileges"].split(", ") for row in rows)
