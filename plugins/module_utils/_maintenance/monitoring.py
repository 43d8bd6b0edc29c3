# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The monitoring functions of the security document, and their idempotent install.

Private to frende.db. ``SELECT * FROM get_database_stats();`` and
``SELECT * FROM get_slow_queries();`` live in schema public of the application
database. They are SECURITY INVOKER (never DEFINER): they show the caller only
what the caller may see, so the monitoring role (a pg_monitor member) gets the
full picture and nobody gains rights through them. EXECUTE is revoked from
PUBLIC and granted to the monitoring role.

Each function body carries a ``definition sha256`` line computed over the whole
CREATE statement; the installer compares the body stored in pg_proc.prosrc
(kept verbatim by PostgreSQL) with the desired one and replaces a function only
when they differ, so ``changed`` is true only when something changed.
Standard library + psycopg2 only.
"""

from __future__ import annotations

import hashlib

try:
    import psycopg2
    from psycopg2 import errors as pg_errors
    from psycopg2 import sql
except ImportError:  # reported by _postgres.require_psycopg2() when connecting
    psycopg2 = None
    pg_errors = None
    sql = None

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._postgres import ident, validate_identifier

SCHEMA = "public"
MARKER = "-- frende.db monitoring function; definition sha256:"
EXTENSION = "pg_stat_statements"

_DATABASE_STATS = """\
CREATE OR REPLACE FUNCTION public.get_database_stats()
RETURNS TABLE (
    database name,
    size_bytes bigint,
    size text,
    connections integer,
    active_connections integer,
    idle_in_transaction integer,
    max_connections integer,
    xact_commit bigint,
    xact_rollback bigint,
    cache_hit_ratio numeric,
    deadlocks bigint,
    conflicts bigint,
    temp_files bigint,
    temp_bytes bigint,
    tup_returned bigint,
    tup_fetched bigint,
    tup_inserted bigint,
    tup_updated bigint,
    tup_deleted bigint,
    stats_reset timestamptz
)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $frende$
@MARKER@
-- One row per database; sizes only where the caller may measure them
-- (CONNECT on the database, or pg_read_all_stats as pg_monitor members have).
WITH sessions AS (
    SELECT datid,
           count(*)::integer AS connections,
           (count(*) FILTER (WHERE state = 'active'))::integer AS active,
           (count(*) FILTER (WHERE state LIKE 'idle in transaction%'))::integer AS idle_in_xact
    FROM pg_stat_activity
    WHERE backend_type = 'client backend'
    GROUP BY datid
), sized AS (
    SELECT d.datid,
           CASE WHEN has_database_privilege(d.datid, 'CONNECT')
                     OR pg_has_role('pg_read_all_stats', 'USAGE')
                THEN pg_database_size(d.datid) END AS bytes
    FROM pg_stat_database d
    WHERE d.datname IS NOT NULL
)
SELECT d.datname,
       z.bytes,
       pg_size_pretty(z.bytes),
       coalesce(s.connections, 0),
       coalesce(s.active, 0),
       coalesce(s.idle_in_xact, 0),
       current_setting('max_connections')::integer,
       d.xact_commit,
       d.xact_rollback,
       round(d.blks_hit::numeric / nullif(d.blks_hit + d.blks_read, 0), 4),
       d.deadlocks,
       d.conflicts,
       d.temp_files,
       d.temp_bytes,
       d.tup_returned,
       d.tup_fetched,
       d.tup_inserted,
       d.tup_updated,
       d.tup_deleted,
       d.stats_reset
FROM pg_stat_database d
JOIN sized z ON z.datid = d.datid
LEFT JOIN sessions s ON s.datid = d.datid
WHERE d.datname IS NOT NULL
ORDER BY d.datname
$frende$"""

_SLOW_QUERIES = """\
CREATE OR REPLACE FUNCTION public.get_slow_queries(
    max_rows integer DEFAULT 20,
    min_mean_ms double precision DEFAULT 100
)
RETURNS TABLE (
    queryid bigint,
    username name,
    database name,
    calls bigint,
    total_ms double precision,
    mean_ms double precision,
    max_ms double precision,
    stddev_ms double precision,
    rows bigint,
    cache_hit_ratio numeric,
    query text
)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $frende$
@MARKER@
-- The slowest statements by mean execution time, from pg_stat_statements.
-- The view is found at call time, so installing this never depends on the extension.
DECLARE
    ext_schema name;
BEGIN
    IF max_rows IS NULL OR max_rows < 1 THEN
        RAISE EXCEPTION 'get_slow_queries(): max_rows must be 1 or more, got %', max_rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF min_mean_ms IS NULL OR min_mean_ms < 0 THEN
        RAISE EXCEPTION 'get_slow_queries(): min_mean_ms must be 0 or more, got %', min_mean_ms
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT n.nspname INTO ext_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements';
    IF ext_schema IS NULL THEN
        RAISE EXCEPTION 'get_slow_queries() needs the pg_stat_statements extension, which is not installed in database %',
                current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_stat_statements to shared_preload_libraries, restart PostgreSQL, '
                         'then run frende-db-maintenance --action functions (it creates the extension).';
    END IF;
    BEGIN
        RETURN QUERY EXECUTE format(
            'SELECT s.queryid, r.rolname, d.datname, s.calls, s.total_exec_time, s.mean_exec_time,'
            '       s.max_exec_time, s.stddev_exec_time, s.rows,'
            '       round(s.shared_blks_hit::numeric / nullif(s.shared_blks_hit + s.shared_blks_read, 0), 4),'
            '       s.query'
            '  FROM %I.pg_stat_statements s'
            '  LEFT JOIN pg_roles r ON r.oid = s.userid'
            '  LEFT JOIN pg_database d ON d.oid = s.dbid'
            ' WHERE s.mean_exec_time >= $1'
            ' ORDER BY s.mean_exec_time DESC'
            ' LIMIT $2', ext_schema)
            USING min_mean_ms, max_rows;
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        RAISE EXCEPTION 'get_slow_queries() cannot read pg_stat_statements: %', SQLERRM
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_stat_statements to shared_preload_libraries and restart PostgreSQL.';
    END;
END
$frende$"""


class MonitoringFunction:
    """One desired function: its identity signature and its full CREATE statement."""

    def __init__(self, name, identity_args, template):
        self.name = name
        self.signature = "%s.%s(%s)" % (SCHEMA, name, identity_args)
        unmarked = template.replace("@MARKER@\n", "")
        self.digest = hashlib.sha256(unmarked.encode("utf-8")).hexdigest()
        self.statement = template.replace("@MARKER@", MARKER + self.digest)
        start = self.statement.index("$frende$") + len("$frende$")
        self.body = self.statement[start:self.statement.rindex("$frende$")]


FUNCTIONS = (
    MonitoringFunction("get_database_stats", "", _DATABASE_STATS),
    MonitoringFunction("get_slow_queries", "integer, double precision", _SLOW_QUERIES),
)

_EXISTING_SQL = """
SELECT p.oid::regprocedure::text AS signature,
       p.oid = to_regprocedure(%(target)s)::oid AS is_target,
       p.prosrc, p.prosecdef, p.proconfig,
       EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
               WHERE a.grantee = 0) AS public_execute,
       EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
               JOIN pg_roles r ON r.oid = a.grantee
               WHERE r.rolname = %(role)s AND a.privilege_type = 'EXECUTE') AS role_execute
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s AND p.proname = %(name)s
ORDER BY 1
"""
DESIRED_CONFIG = ["search_path=pg_catalog, pg_temp"]

# What the monitoring role needs in the application database besides the functions: to connect, and
# to read the access rules (the health check's hba audit; PostgreSQL 15 grants them to superusers only).
# Only privileges granted to the role itself count (aclexplode), as for frende_db_role.
ACCESS = (
    ("connect", "CONNECT ON DATABASE {database}"),
    ("hba_view", "SELECT ON TABLE pg_catalog.pg_hba_file_rules"),
    ("hba_function", "EXECUTE ON FUNCTION pg_catalog.pg_hba_file_rules()"),
)
_ACCESS_SQL = """
SELECT
  EXISTS (SELECT 1 FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
          WHERE d.datname = current_database() AND a.grantee = r.oid AND a.privilege_type = 'CONNECT') AS connect,
  EXISTS (SELECT 1 FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
          WHERE c.oid = 'pg_catalog.pg_hba_file_rules'::regclass AND a.grantee = r.oid
            AND a.privilege_type = 'SELECT') AS hba_view,
  EXISTS (SELECT 1 FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
          WHERE p.oid = 'pg_catalog.pg_hba_file_rules()'::regprocedure AND a.grantee = r.oid
            AND a.privilege_type = 'EXECUTE') AS hba_function
FROM pg_roles r WHERE r.rolname = %(role)s
"""


def plan_access(held):
    """The ACCESS entries the role lacks (pure; ``held`` maps each key to True/False)."""
    return [key for key, _what in ACCESS if not held.get(key)]


def preloaded_libraries(text):
    """shared_preload_libraries as a list of names ('a, "b"' -> ['a', 'b'])."""
    return [part.strip().strip('"').strip() for part in (text or "").split(",") if part.strip()]


def plan_function(function, rows):
    """Actions for one desired function from its pg_proc rows (pure; unit-tested).

    Returns dict(signature, action: create|replace|none, drop: [other signatures],
    grants: bool (EXECUTE must be fixed)).
    """
    target = [r for r in rows if r["is_target"]]
    drop = [other_signature(r["signature"]) for r in rows if not r["is_target"]]
    if not target:
        return dict(signature=function.signature, action="create", drop=drop, grants=True)
    row = target[0]
    same = (row["prosrc"] == function.body and not row["prosecdef"]
            and list(row["proconfig"] or []) == DESIRED_CONFIG)
    grants = row["public_execute"] or not row["role_execute"]
    return dict(signature=function.signature, action="none" if same else "replace", drop=drop, grants=grants)


class MonitoringInstaller:
    """Bring the monitoring functions of one database to the desired state.

    ``db`` is a _postgres.Db on the application database (autocommit off is not
    required: the installer runs its changes in one transaction).
    """

    def __init__(self, db, monitor_role="pg_monitor", check_mode=False, access=False):
        self.db = db
        self.monitor_role = validate_identifier(monitor_role, "monitor_role")
        self.check_mode = check_mode
        self.access = access

    def _extension_state(self):
        installed = self.db.query_one("SELECT extversion FROM pg_extension WHERE extname = %s", (EXTENSION,))
        try:
            libraries = self.db.query_one("SELECT current_setting('shared_preload_libraries') AS v")["v"]
            preloaded = EXTENSION in preloaded_libraries(libraries)
        except pg_errors.InsufficientPrivilege:
            preloaded = None
        return dict(name=EXTENSION, installed=installed is not None, preloaded=preloaded)

    def plan(self):
        role = self.db.query_one("SELECT rolname FROM pg_roles WHERE rolname = %s", (self.monitor_role,))
        if role is None:
            raise FrendeDbError(
                "monitor_role %r does not exist in the server. Create the monitoring role first "
                "(frende.db.frende_db_role) or use pg_monitor." % self.monitor_role)
        functions = []
        for function in FUNCTIONS:
            rows = self.db.query(_EXISTING_SQL, dict(target=function.signature, role=self.monitor_role,
                                                     schema=SCHEMA, name=function.name))
            functions.append(plan_function(function, rows))
        extension = self._extension_state()
        extension["action"] = ("create" if extension["preloaded"] and not extension["installed"] else "none")
        grants = plan_access(self.db.query_one(_ACCESS_SQL, dict(role=self.monitor_role))) if self.access else []
        return dict(functions=functions, extension=extension, access=grants)

    def run(self):
        """Returns the result document (``changed``, ``extension``, ``functions``, ``queries``)."""
        plan = self.plan()
        changed = (plan["extension"]["action"] == "create" or bool(plan["access"])
                   or any(f["action"] != "none" or f["drop"] or f["grants"] for f in plan["functions"]))
        if changed and not self.check_mode:
            self._apply(plan)
        return self._result(plan, changed)

    def _apply(self, plan):
        conn = self.db.conn
        autocommit = conn.autocommit
        conn.autocommit = False
        try:
            if plan["extension"]["action"] == "create":
                self.db.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}").format(
                    sql.Identifier(EXTENSION), sql.Identifier(SCHEMA)))
            by_sig = {f.signature: f for f in FUNCTIONS}
            for item in plan["functions"]:
                function = by_sig[item["signature"]]
                for other in item["drop"]:
                    # An older overload of the same name would make the documented call ambiguous.
                    self.db.execute(sql.SQL("DROP FUNCTION {}").format(sql.SQL(other)))
                if item["action"] != "none":
                    self._create(function)
                if item["grants"] or item["action"] == "create":
                    self.db.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(
                        sql.SQL(function.signature)))
                    self.db.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
                        sql.SQL(function.signature), ident(self.monitor_role, "monitor_role")))
            what = dict(ACCESS)
            for key in plan["access"]:
                database = self.db.query_one("SELECT current_database() AS d")["d"]
                self.db.execute(sql.SQL("GRANT " + what[key] + " TO {role}").format(
                    database=ident(database, "database"), role=ident(self.monitor_role, "monitor_role")))
            conn.commit()
        except psycopg2.Error as exc:
            conn.rollback()
            raise FrendeDbError("Installing the monitoring functions failed, nothing was changed: %s"
                                % str(exc).strip().splitlines()[0])
        finally:
            conn.autocommit = autocommit

    def _create(self, function):
        with self.db.conn.cursor() as cur:
            cur.execute("SAVEPOINT frende_replace")
        try:
            self.db.execute(function.statement)
        except pg_errors.InvalidFunctionDefinition:
            # The result columns changed: CREATE OR REPLACE cannot do that, so drop and create.
            with self.db.conn.cursor() as cur:
                cur.execute("ROLLBACK TO SAVEPOINT frende_replace")
            self.db.queries.pop()
            self.db.execute(sql.SQL("DROP FUNCTION {}").format(sql.SQL(function.signature)))
            self.db.execute(function.statement)

    def _result(self, plan, changed):
        verbs = dict(create="created", replace="replaced", none="unchanged")
        return dict(
            changed=changed,
            check_mode=self.check_mode,
            monitor_role=self.monitor_role,
            extension=dict(plan["extension"], action=dict(create="created", none="unchanged")
                           [plan["extension"]["action"]]),
            functions=[dict(name=f["signature"], action=verbs[f["action"]],
                            grants="fixed" if f["grants"] else "unchanged", dropped=f["drop"])
                       for f in plan["functions"]],
            access_granted=list(plan["access"]),
            queries=list(self.db.queries),
        )


def other_signature(signature):
    """A regprocedure text from pg_proc as a schema-qualified signature for DROP."""
    return signature if signature.startswith(SCHEMA + ".") else "%s.%s" % (SCHEMA, signature)
