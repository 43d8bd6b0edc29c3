# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit of the server's roles (the check ``roles``): pure functions over rows the collector reads.

Private to frende.db. The security document says "Regularly audit user permissions": this names
every role with a power beyond a login (SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS)
other than the bootstrap superuser, every LOGIN role the collection does not manage, and every
privilege of the application role beyond its preset (app: CONNECT; USAGE on its schemas;
SELECT, INSERT, UPDATE, DELETE on tables; USAGE, SELECT on sequences). Any of them: degraded.
"""

from __future__ import annotations

from ansible_collections.frende.db.plugins.module_utils._health.checks import DEGRADED, HEALTHY, make_check

BOOTSTRAP = "postgres"
POWERS = (("rolsuper", "SUPERUSER"), ("rolcreaterole", "CREATEROLE"), ("rolcreatedb", "CREATEDB"),
          ("rolreplication", "REPLICATION"), ("rolbypassrls", "BYPASSRLS"))

# Rows: every role (pg_roles without the pg_* ones); the application role's privileges beyond its
# preset in the application database (what, on); both read as the connected (super)user.
ROLES_SQL = """
SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin, rolconnlimit
FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY rolname
"""
APP_EXTRA_SQL = """
WITH app AS (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
SELECT format('%%s on %%s %%s', a.privilege_type,
              CASE WHEN c.relkind = 'S' THEN 'sequence' ELSE 'table' END, c.oid::regclass) AS what
FROM pg_class c, aclexplode(c.relacl) a, app
WHERE a.grantee = app.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND a.privilege_type <> ALL (CASE WHEN c.relkind = 'S' THEN ARRAY['USAGE', 'SELECT']
                                    ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] END)
UNION ALL
SELECT format('CREATE on database %%s', current_database())
WHERE has_database_privilege(%(role)s, current_database(), 'CREATE')
UNION ALL
SELECT format('CREATE on schema %%s', nspname) FROM pg_namespace
WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' AND has_schema_privilege(%(role)s, oid, 'CREATE')
UNION ALL
SELECT format('owner of %%s', c.oid::regclass) FROM pg_class c, app WHERE c.relowner = app.oid
UNION ALL
SELECT format('member of %%s', g.rolname) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid, app
WHERE m.member = app.oid
ORDER BY 1
"""


def evaluate_roles(roles, managed, app_role=None, app_extra=None):
    """``roles``: rows of ROLES_SQL; ``managed``: the LOGIN roles the collection manages (empty: not checked);
    ``app_extra``: rows of APP_EXTRA_SQL for ``app_role`` (None: not checked)."""
    findings = []
    for row in roles:
        name = row["rolname"]
        powers = [label for column, label in POWERS if row.get(column)]
        if powers and name != BOOTSTRAP:
            findings.append("%s has %s" % (name, ", ".join(powers)))
        if managed and row.get("rolcanlogin") and name != BOOTSTRAP and name not in managed:
            findings.append("%s can log in and is not managed by frende.db" % name)
    if app_role and app_extra:
        findings.append("%s has more than its preset: %s" % (app_role, "; ".join(r["what"] for r in app_extra)))
    value = dict(roles=[r["rolname"] for r in roles], findings=findings,
                 login_roles=[r["rolname"] for r in roles if r.get("rolcanlogin")],
                 without_connection_limit=[r["rolname"] for r in roles
                                           if r.get("rolcanlogin") and r.get("rolconnlimit") == -1])
    threshold = dict(powers_allowed=[BOOTSTRAP], managed_login_roles=sorted(managed or []), app_role=app_role)
    if findings:
        return make_check("roles", DEGRADED, value, threshold,
                          "%d finding(s): %s. Remove what nobody asked for (DROP ROLE, ALTER ROLE ... "
                          "NOSUPERUSER, REVOKE) or let the setup playbook put the roles back as the policy says."
                          % (len(findings), "; ".join(findings)))
    return make_check("roles", HEALTHY, value, threshold,
                      "%d roles; no power beyond the bootstrap superuser, no unmanaged login role%s." % (
                          len(roles), ", and %s has exactly its preset" % app_role if app_role else ""))
