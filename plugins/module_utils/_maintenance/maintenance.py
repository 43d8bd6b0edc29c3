# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The weekly maintenance of the security document: vacuum, index optimization,
monitoring function updates and security settings verification.

Private to frende.db. Used by ``frende-db-maintenance`` (_maintenance/cli.py).
Standard library + psycopg2 only (it runs on the database host without Ansible).
"""

from __future__ import annotations

import datetime
import math
import os
import socket
import time

try:
    import psycopg2
    from psycopg2 import sql
except ImportError:  # reported by _postgres.require_psycopg2() when connecting
    psycopg2 = None
    sql = None

from ansible_collections.frende.db.plugins.module_utils._health import checks as hc
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._health.report import HealthCollector
from ansible_collections.frende.db.plugins.module_utils._backup.files import write_json
from ansible_collections.frende.db.plugins.module_utils._maintenance.monitoring import MonitoringInstaller
from ansible_collections.frende.db.plugins.module_utils._postgres import Db, connect
from ansible_collections.frende.db.plugins.module_utils._report import options as report_options
from ansible_collections.frende.db.plugins.module_utils._report.gather import HostGatherer

ACTIONS = ("vacuum", "reindex", "functions", "health", "report")
# Actions that open their own connection (the health check and the report measure the connection too).
OWN_CONNECTION = ("health", "report")
REPORT_PREFIX = "frende-db-report-"
ALL = "all"

# -- btree bloat estimate ------------------------------------------------------
# Page layout constants of PostgreSQL: page header, btree special space, item
# pointer (line pointer) and the index tuple header; MAXALIGN is 8 on 64-bit hosts.
PAGE_HEADER = 24
BTREE_SPECIAL = 16
ITEM_POINTER = 4
INDEX_TUPLE_HEADER = 8
MAXALIGN = 8
DEFAULT_BTREE_FILLFACTOR = 90

# Valid, ready, permanent btree indexes outside the system schemas, with the
# planner statistics (pg_stats) of their columns: table columns for plain keys,
# the index's own statistics for expression keys.
BTREE_INDEXES_SQL = """
WITH idx AS (
    SELECT i.indexrelid, i.indrelid, i.indkey, n.nspname AS schema, c.relname AS name,
           t.relname AS table_name, c.reltuples::float8 AS reltuples,
           pg_relation_size(c.oid) AS bytes, i.indisvalid AS valid,
           coalesce((SELECT substring(o FROM '^fillfactor=([0-9]+)$')::int
                     FROM unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%%'), %(default_ff)s) AS fillfactor
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_am am ON am.oid = c.relam
    WHERE am.amname = 'btree' AND c.relkind = 'i' AND c.relpersistence = 'p'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
      -- REINDEX CONCURRENTLY cannot rebuild the index of an exclusion constraint
      AND NOT EXISTS (SELECT 1 FROM pg_constraint x WHERE x.conindid = i.indexrelid AND x.contype = 'x')
), cols AS (
    SELECT idx.indexrelid,
           coalesce(ts.avg_width, xs.avg_width) AS width,
           coalesce(ts.null_frac, xs.null_frac, 0) AS null_frac
    FROM idx
    JOIN pg_attribute a ON a.attrelid = idx.indexrelid AND a.attnum > 0
    LEFT JOIN pg_attribute ta ON ta.attrelid = idx.indrelid AND ta.attnum = idx.indkey[a.attnum - 1]
    LEFT JOIN pg_stats ts ON ts.schemaname = idx.schema AND ts.tablename = idx.table_name
                         AND ts.attname = ta.attname
    LEFT JOIN pg_stats xs ON xs.schemaname = idx.schema AND xs.tablename = idx.name
                         AND xs.attname = a.attname
)
SELECT idx.indexrelid::int8 AS oid, idx.schema, idx.name, idx.table_name, idx.reltuples, idx.bytes,
       idx.valid, idx.fillfactor, current_setting('block_size')::int AS block_size,
       sum(cols.width)::float8 AS data_width, bool_or(cols.width IS NULL) AS missing_stats,
       bool_or(cols.null_frac > 0) AS has_nulls
FROM idx JOIN cols ON cols.indexrelid = idx.indexrelid
GROUP BY idx.indexrelid, idx.schema, idx.name, idx.table_name, idx.reltuples, idx.bytes,
         idx.valid, idx.fillfactor
ORDER BY idx.schema, idx.name
"""

PGSTATINDEX_SQL = """
SELECT index_size, internal_pages, leaf_pages, avg_leaf_density
FROM {schema}.pgstatindex(%s::regclass)
"""


def _maxalign(size):
    return int(math.ceil(size / float(MAXALIGN)) * MAXALIGN)


def estimate_bloat_from_statistics(index):
    """Estimated bloat percentage of a btree index from planner statistics, or None.

    Expected size: the index's tuples (reltuples) of average width packed into
    leaf pages at the fillfactor, plus the metapage and internal pages. None
    when the index was never analyzed or a column has no statistics.
    """
    if index.get("missing_stats") or index.get("data_width") is None or index.get("reltuples") is None:
        return None
    if index["reltuples"] < 0:
        return None
    block = index["block_size"]
    pages = index["bytes"] // block
    if pages <= 1:
        return 0.0
    null_bitmap = MAXALIGN if index.get("has_nulls") else 0
    tuple_size = _maxalign(INDEX_TUPLE_HEADER + null_bitmap + index["data_width"]) + ITEM_POINTER
    usable = block - PAGE_HEADER - BTREE_SPECIAL
    per_leaf = max(1, int(usable * index["fillfactor"] / 100.0 // tuple_size))
    leaf = int(math.ceil(index["reltuples"] / per_leaf)) or 1
    per_internal = max(2, int(usable * 0.7 // tuple_size))
    internal, level = 0, leaf
    while level > 1:
        level = int(math.ceil(level / float(per_internal)))
        internal += level
    expected = 1 + leaf + internal
    return round(max(0.0, 100.0 * (pages - expected) / pages), 1)


def estimate_bloat_from_pgstatindex(stats, block_size, fillfactor):
    """Bloat percentage from pgstattuple's pgstatindex() (a measurement, not an estimate)."""
    pages = stats["index_size"] // block_size
    density = stats["avg_leaf_density"]
    if pages <= 1 or density is None or (isinstance(density, float) and math.isnan(density)):
        return 0.0
    live_leaf = stats["leaf_pages"] * float(density) / 100.0
    expected = 1 + stats["internal_pages"] + int(math.ceil(live_leaf / (fillfactor / 100.0)))
    return round(max(0.0, 100.0 * (pages - expected) / pages), 1)


def select_for_reindex(indexes, threshold_pct, min_size_bytes):
    """Split indexes into (to reindex, left alone); pure, unit-tested.

    An index is rebuilt when it is valid, at least ``min_size_bytes`` large and its
    bloat is above ``threshold_pct``. Each left-alone entry says why.
    """
    chosen, skipped = [], []
    for index in indexes:
        reason = None
        if not index.get("valid", True):
            reason = "invalid index (left over from a failed concurrent build? drop it with DROP INDEX CONCURRENTLY)"
        elif index["bytes"] < min_size_bytes:
            reason = "smaller than the minimum size"
        elif index.get("bloat_pct") is None:
            reason = "no statistics yet (run VACUUM ANALYZE)"
        elif index["bloat_pct"] <= threshold_pct:
            reason = "bloat %.1f%% is not above %g%%" % (index["bloat_pct"], threshold_pct)
        if reason:
            skipped.append(dict(index, reason=reason))
        else:
            chosen.append(index)
    return chosen, skipped


def qualified(index):
    return "%s.%s" % (index["schema"], index["name"])


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Maintenance:
    """Runs the maintenance actions on one database and logs one line per event.

    ``settings``: validated command settings (_maintenance/cli.validate),
    ``log``: the event log (_command.EventLog).
    """

    def __init__(self, settings, log, check_mode=False):
        self.settings = settings
        self.log = log
        self.check_mode = check_mode
        self.db = None

    def connection_params(self):
        s = self.settings
        return dict(login_host=s.get("login_host"), login_unix_socket=s.get("login_unix_socket"),
                    login_port=s.get("login_port"), login_user=s.get("login_user"),
                    login_db=s["database"], ssl_mode=s.get("ssl_mode"), ssl_rootcert=s.get("ssl_rootcert"),
                    connect_timeout=s.get("connect_timeout"))

    def run(self, actions):
        results = {}
        needs_db = [a for a in actions if a not in OWN_CONNECTION]
        if needs_db:
            try:
                self.db = Db(connect(self.connection_params(), self.settings["database"]))
            except FrendeDbError as exc:
                self.log.error("connect", "failed", database=self.settings["database"], msg=exc.msg)
                for action in actions:
                    results[action] = dict(changed=False, failed=True, msg="Not run: " + exc.msg)
                return results
        try:
            for action in actions:
                started = time.monotonic()
                try:
                    result = getattr(self, action)()
                except FrendeDbError as exc:
                    self.log.error(action, "failed", msg=exc.msg)
                    result = dict(changed=False, failed=True, msg=exc.msg)
                except Exception as exc:
                    if psycopg2 is None or not isinstance(exc, psycopg2.Error):
                        raise
                    msg = "%s failed: %s" % (action, _first_line(exc))
                    self.log.error(action, "failed", msg=msg)
                    result = dict(changed=False, failed=True, msg=msg)
                result.setdefault("failed", False)
                result["seconds"] = round(time.monotonic() - started, 2)
                results[action] = result
        finally:
            if self.db is not None:
                self.db.close()
        return results

    # -- vacuum -----------------------------------------------------------------
    def vacuum(self):
        database = self.settings["database"]
        if self.check_mode:
            self.log.info("vacuum", "planned", database=database, msg="would run VACUUM (ANALYZE) (check mode)")
            return dict(changed=False, msg="VACUUM (ANALYZE) would run.")
        started = time.monotonic()
        self.db.execute("VACUUM (ANALYZE)")
        seconds = time.monotonic() - started
        self.log.info("vacuum", "done", database=database, seconds=seconds, msg="VACUUM (ANALYZE) done")
        return dict(changed=True, msg="VACUUM (ANALYZE) done.")

    # -- reindex ----------------------------------------------------------------
    def _pgstattuple_schema(self):
        row = self.db.query_one(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pgstattuple'")
        return row["nspname"] if row else None

    def measure_indexes(self):
        """Every candidate btree index with ``bloat_pct`` and the ``method`` that measured it."""
        indexes = self.db.query(BTREE_INDEXES_SQL, dict(default_ff=DEFAULT_BTREE_FILLFACTOR))
        ext_schema = self._pgstattuple_schema()
        min_bytes = self.settings["reindex_min_size_mb"] * 1024 * 1024
        for index in indexes:
            index["method"] = "statistics"
            index["bloat_pct"] = estimate_bloat_from_statistics(index)
            # pgstatindex reads the whole index: only for the ones big enough to matter.
            if ext_schema and index["valid"] and index["bytes"] >= min_bytes:
                stats = self.db.query_one(sql.SQL(PGSTATINDEX_SQL).format(schema=sql.Identifier(ext_schema)),
                                          (index["oid"],))
                index["bloat_pct"] = estimate_bloat_from_pgstatindex(stats, index["block_size"], index["fillfactor"])
                index["method"] = "pgstatindex"
        return indexes

    def _size(self, index):
        row = self.db.query_one("SELECT pg_relation_size(to_regclass(%s)) AS b",
                                (sql.SQL("{}.{}").format(sql.Identifier(index["schema"]),
                                                         sql.Identifier(index["name"])).as_string(self.db.conn),))
        return row["b"]

    def reindex(self):
        threshold = self.settings["reindex_bloat_threshold_pct"]
        min_bytes = self.settings["reindex_min_size_mb"] * 1024 * 1024
        chosen, skipped = select_for_reindex(self.measure_indexes(), threshold, min_bytes)
        for index in skipped:
            if not index.get("valid", True):
                self.log.warning("reindex", "invalid-index", index=qualified(index), msg=index["reason"])
        done, failed = [], []
        for index in chosen:
            before = index["bytes"]
            fields = dict(index=qualified(index), table=index["table_name"], bloat_pct=index["bloat_pct"],
                          method=index["method"], before_bytes=before)
            if self.check_mode:
                self.log.info("reindex", "planned", msg="would REINDEX CONCURRENTLY (check mode)", **fields)
                done.append(dict(index=qualified(index), before_bytes=before, after_bytes=None,
                                 bloat_pct=index["bloat_pct"], method=index["method"]))
                continue
            try:
                self.db.execute(sql.SQL("REINDEX INDEX CONCURRENTLY {}.{}").format(
                    sql.Identifier(index["schema"]), sql.Identifier(index["name"])))
            except psycopg2.Error as exc:
                what = "index %s on %s (%s, bloat %.1f%% by %s)" % (
                    qualified(index), index["table_name"], hc.human_bytes(before), index["bloat_pct"], index["method"])
                msg = ("REINDEX CONCURRENTLY of %s failed: %s. A leftover invalid index named %s_ccnew "
                       "may remain; drop it with DROP INDEX CONCURRENTLY." % (what, _first_line(exc), index["name"]))
                self.log.error("reindex", "failed", msg=msg, **fields)
                failed.append(dict(index=qualified(index), msg=msg))
                continue
            after = self._size(index)
            self.log.info("reindex", "done", after_bytes=after,
                          msg="%s -> %s" % (hc.human_bytes(before), hc.human_bytes(after)), **fields)
            done.append(dict(index=qualified(index), before_bytes=before, after_bytes=after,
                             bloat_pct=index["bloat_pct"], method=index["method"]))
        if not chosen:
            self.log.info("reindex", "nothing-to-do", msg="no btree index above %g%% bloat and %g MB" % (
                threshold, self.settings["reindex_min_size_mb"]))
        result = dict(changed=bool(done) and not self.check_mode, failed=bool(failed),
                      reindexed=done, errors=failed,
                      left_alone=[dict(index=qualified(i), bytes=i["bytes"], bloat_pct=i.get("bloat_pct"),
                                       reason=i["reason"]) for i in skipped],
                      msg="%d index(es) %s, %d left alone%s." % (
                          len(done), "would be reindexed" if self.check_mode else "reindexed", len(skipped),
                          ", %d failed" % len(failed) if failed else ""))
        return result

    # -- functions --------------------------------------------------------------
    def functions(self):
        installer = MonitoringInstaller(self.db, self.settings["monitor_role"], check_mode=self.check_mode,
                                        access=self.settings.get("monitor_access", False))
        result = installer.run()
        # Check mode logs what would change as "planned", a real run as "changed".
        event = "planned" if self.check_mode else "changed"
        for grant in result["access_granted"]:
            self.log.info("functions", event, access=grant, monitor_role=result["monitor_role"],
                          msg="the monitoring role may connect and read the access rules")
        for item in result["functions"]:
            for other in item["dropped"]:
                self.log.info("functions", event, function=other, change="dropped", msg="older overload of the same name")
            if item["action"] != "unchanged" or item["grants"] != "unchanged":
                self.log.info("functions", event, function=item["name"], change=item["action"], grants=item["grants"],
                              monitor_role=result["monitor_role"])
        if result["extension"]["action"] == "created":
            self.log.info("functions", event, extension="pg_stat_statements", change="created")
        elif result["extension"]["preloaded"] is False and not result["extension"]["installed"]:
            self.log.warning("functions", "not-preloaded", extension="pg_stat_statements",
                             msg="pg_stat_statements is not in shared_preload_libraries: get_slow_queries() will "
                                 "fail until it is preloaded")
        if not result["changed"]:
            self.log.info("functions", "unchanged", msg="monitoring functions are up to date")
        result["msg"] = "Monitoring functions %s." % (
            ("would change" if self.check_mode else "changed") if result["changed"] else "unchanged")
        return result

    # -- health -----------------------------------------------------------------
    def health(self):
        options = self.settings["health"]
        report = HealthCollector(self.connection_params(), options).collect()
        for check in report["checks"]:
            if check["status"] in (hc.DEGRADED, hc.UNHEALTHY):
                self.log.warning("health", "check", check=check["name"], status=check["status"], msg=check["message"])
            elif check["status"] == hc.UNKNOWN:
                self.log.info("health", "check", check=check["name"], status=check["status"], msg=check["message"])
        # The connections in use every 5 minutes: the security report's peak of the last 30 days.
        used = next((c["value"] for c in report["checks"] if c["name"] == "connections" and
                     isinstance(c["value"], dict)), {})
        self.log.write("INFO" if report["status"] == hc.HEALTHY else "WARNING", "health", "done",
                       status=report["status"], connections_used=used.get("used"), max_connections=used.get("max"))
        failed = report["status"] == hc.UNHEALTHY
        return dict(changed=False, failed=failed, status=report["status"], checks=report["checks"],
                    msg="Health is %s." % report["status"])

    # -- report -----------------------------------------------------------------
    def report(self):
        """This host's part of the security report as JSON in report_dir: history that survives without AWX."""
        directory = self.settings.get("report_dir")
        if directory is None:
            return dict(changed=False, msg="No report written (report_dir = none).")
        params = dict(self.connection_params(), kinds=["database"], database=self.settings["database"],
                      window_days=report_options.DEFAULTS["window_days"], backup_dir=self.settings["health"]["backup_dir"],
                      repository_stanza=self.settings["health"]["repository_stanza"],
                      server_log=self.settings["health"]["server_log"], audit_log=self.settings["audit_log"],
                      health_log=self.settings["health_log"], firewall=None,
                      repository_report_dir=report_options.DEFAULTS["repository_report_dir"],
                      app_env_file=report_options.DEFAULTS["app_env_file"], firewall_metrics=None,
                      nologin_roles=self.settings["report_nologin_roles"])
        now = datetime.datetime.now(datetime.timezone.utc)
        facts = HostGatherer(params, self.settings["health"], now=now).gather()
        # The firewall table is root's to read; this job runs as the database's OS user.
        facts["notes"].append("The firewall is not in this part (it runs as the database's OS user); "
                              "playbooks/report.yml reads it as root.")
        facts.update(host=socket.gethostname(), groups=["frende_db"], reachable=True)
        name = "%s%s.json" % (REPORT_PREFIX, now.strftime("%Y%m%dT%H%M%SZ"))
        if self.check_mode:
            self.log.info("report", "planned", file=os.path.join(directory, name), msg="would write (check mode)")
            return dict(changed=False, msg="The report's host part would be written to %s." % directory)
        os.makedirs(directory, mode=0o750, exist_ok=True)
        path = write_json(directory, name, facts, None)
        attention = [c["id"] for c in facts["checks"] if c["status"] in ("fail", "warn")]
        self.log.write("WARNING" if attention else "INFO", "report", "written", file=path,
                       attention=",".join(attention) or None)
        return dict(changed=True, report_file=path, attention=attention,
                    msg="The report's host part is in %s." % path)
