# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of pgaudit's object audit (frende_db_audit_tables) on the converged hosts: a listed table's reads and
writes reach the server log, a wrong list stops setup with its reason, and a table taken off the list is no longer
audited. The hosts end as the converge left them (the auditor role holds nothing)."""

from __future__ import annotations

import json

from frende_hosts import PG_LOG, app_psql, playbook, psql_postgres, sh, task_results

DB = "frende-db"
TABLE = "public.audited_orders"
GRANT = "Audit the reads and writes of frende_db_audit_tables object by object"
REVOKE = "Stop the object audit of the tables taken off frende_db_audit_tables"


def object_lines():
    """The server log's object audit lines of TABLE."""
    log = sh(DB, "cat " + PG_LOG).stdout
    return [l for l in log.splitlines() if "AUDIT: OBJECT," in l and TABLE in l]


def auditor_grants():
    """How many privileges the auditor role holds on tables of the application database."""
    return psql_postgres("SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a "
                         "WHERE a.grantee = 'frende_auditor'::regrole;").stdout.strip()


def use_the_table(n):
    proc = app_psql("INSERT INTO audited_orders VALUES (%d, 'order %d'); SELECT count(*) FROM audited_orders;" % (n, n))
    assert proc.returncode == 0, proc.stderr


def setup_with(tables):
    """setup.yml with ``tables``: (return code, the JSON callback's output)."""
    run = playbook("setup.yml", "-e", json.dumps({"frende_db_audit_tables": tables}), json_output=True)
    return run.returncode, run.stdout


def changed_items(text, task):
    """The items ``task`` changed on the database host."""
    result = task_results(text, task).get(DB, {})
    return [r["item"] for r in result.get("results", []) if r.get("changed")]


def test_a_listed_table_is_audited_object_by_object_and_not_after_it_leaves_the_list():
    psql_postgres("SET ROLE frende_owner; CREATE TABLE IF NOT EXISTS audited_orders (id int PRIMARY KEY, note text);")
    use_the_table(1)
    assert object_lines() == []  # the session audit (ddl, role) alone does not log a read or a write

    rc, text = setup_with([TABLE])
    assert rc == 0, text[-4000:]
    assert changed_items(text, GRANT) == [TABLE]
    use_the_table(2)
    lines = object_lines()
    assert any(",WRITE,INSERT,TABLE,%s," % TABLE in l for l in lines), lines
    assert any(",READ,SELECT,TABLE,%s," % TABLE in l for l in lines), lines

    rc, text = setup_with([])
    assert rc == 0, text[-4000:]
    assert changed_items(text, REVOKE) == [TABLE]
    assert auditor_grants() == "0"
    before = len(object_lines())
    use_the_table(3)
    assert len(object_lines()) == before


def test_a_wrong_table_list_stops_setup_with_its_reason_and_changes_nothing():
    cases = [
        (["orders"], "give each table as schema.table"),
        (["public.orders; DROP TABLE audited_orders"], "give each table as schema.table"),
        (['"Public"."Orders"'], "give each table as schema.table"),
        (["public.no_such_table", TABLE], "does not have: public.no_such_table. Create them first"),
    ]
    for tables, words in cases:
        rc, text = setup_with(tables)
        assert rc != 0, tables
        assert words in text, (tables, text[-3000:])
        stats = json.loads(text[text.find("{"):])["stats"]
        assert stats[DB]["changed"] == 0, (tables, stats)
    assert auditor_grants() == "0"
