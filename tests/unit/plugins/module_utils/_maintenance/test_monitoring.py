"""Planning the install of the monitoring functions (pure parts)."""

import pytest

from ansible_collections.frende.db.plugins.module_utils._maintenance import monitoring as mon

STATS, SLOW = mon.FUNCTIONS


def row(function=STATS, **over):
    base = dict(signature="get_database_stats()", is_target=True, prosrc=function.body, prosecdef=False,
                proconfig=list(mon.DESIRED_CONFIG), public_execute=False, role_execute=True)
    base.update(over)
    return base


def test_definitions_carry_their_hash_and_are_invoker():
    for function in mon.FUNCTIONS:
        assert mon.MARKER + function.digest in function.body
        assert "SECURITY INVOKER" in function.statement
        assert "SECURITY DEFINER" not in function.statement
        assert function.statement.startswith("CREATE OR REPLACE FUNCTION " + function.signature.split("(")[0])
    assert SLOW.signature == "public.get_slow_queries(integer, double precision)"
    assert STATS.digest != SLOW.digest


def test_hash_changes_with_the_statement():
    changed = mon.MonitoringFunction("get_database_stats", "", mon._DATABASE_STATS.replace("STABLE", "VOLATILE"))
    assert changed.digest != STATS.digest and changed.body != STATS.body


def test_absent_function_is_created_with_grants():
    plan = mon.plan_function(STATS, [])
    assert plan == dict(signature=STATS.signature, action="create", drop=[], grants=True)


def test_same_function_needs_nothing():
    assert mon.plan_function(STATS, [row()]) == dict(signature=STATS.signature, action="none", drop=[],
                                                     grants=False)


@pytest.mark.parametrize("over", [
    dict(prosrc="SELECT 1"),                      # someone edited the body
    dict(prosecdef=True),                         # ALTER FUNCTION ... SECURITY DEFINER
    dict(proconfig=None),                         # search_path pin removed
    dict(prosrc=STATS.body.replace(STATS.digest, "0" * 64)),  # older definition
])
def test_drift_is_replaced(over):
    assert mon.plan_function(STATS, [row(**over)])["action"] == "replace"


@pytest.mark.parametrize("over", [dict(public_execute=True), dict(role_execute=False)])
def test_grant_drift(over):
    plan = mon.plan_function(STATS, [row(**over)])
    assert plan["action"] == "none" and plan["grants"] is True


def test_other_overloads_are_dropped():
    rows = [row(SLOW, signature="get_slow_queries()", is_target=False, prosrc="x"),
            row(SLOW, signature="get_slow_queries(integer, double precision)")]
    plan = mon.plan_function(SLOW, rows)
    assert plan["drop"] == ["public.get_slow_queries()"] and plan["action"] == "none"
    assert mon.other_signature("get_slow_queries()") == "public.get_slow_queries()"
    assert mon.other_signature("public.get_slow_queries()") == "public.get_slow_queries()"


@pytest.mark.parametrize("text,names", [
    ("pg_stat_statements", ["pg_stat_statements"]),
    ("auto_explain, \"pg_stat_statements\"", ["auto_explain", "pg_stat_statements"]),
    ("", []), (None, []),
])
def test_preloaded_libraries(text, names):
    assert mon.preloaded_libraries(text) == names


def test_access_the_monitoring_role_lacks_is_planned_and_nothing_else():
    assert mon.plan_access(dict(connect=True, hba_view=True, hba_function=True)) == []
    assert mon.plan_access(dict(connect=False, hba_view=True, hba_function=False)) == ["connect", "hba_function"]
    assert [key for key, _what in mon.ACCESS] == ["connect", "hba_view", "hba_function"]
