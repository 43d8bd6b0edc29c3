"""Privilege presets: what is held vs what a preset wants -> exactly the statements needed."""

import pytest

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._role.privileges import acl_changes, plan_privileges
from ansible_collections.frende.db.tests.unit.plugins.module_utils._role.sql_text import render_all


def state(database_privs=(), schemas=None, relations=(), default_acls=(), owner=None):
    return dict(
        database="appdb",
        database_privs=set(database_privs),
        schemas=schemas if schemas is not None else {"public": dict(privs=set(), public_create=False)},
        relations=list(relations),
        default_acls=list(default_acls),
        owner=owner,
    )


def owner_state(connect=True, **schemas):
    return dict(name="app_owner", connect=connect,
                schemas={s: set(p) for s, p in (schemas or {"public": ("CREATE", "USAGE")}).items()})


def rel(name, kind="table", *privs, schema="public"):
    return dict(schema=schema, name=name, kind=kind, privs=set(privs))


APP_TABLE = ("SELECT", "INSERT", "UPDATE", "DELETE")


def settled_app_state():
    return state(
        database_privs={"CONNECT"},
        schemas={"public": dict(privs={"USAGE"}, public_create=False)},
        relations=[rel("orders", "table", *APP_TABLE), rel("orders_id_seq", "sequence", "USAGE", "SELECT")],
        default_acls=[
            dict(grantor="app_owner", schema="public", objtype="tables", privs=set(APP_TABLE)),
            dict(grantor="app_owner", schema="public", objtype="sequences", privs={"USAGE", "SELECT"}),
        ],
        owner=owner_state(),
    )


# --- acl_changes ------------------------------------------------------------------

def test_acl_changes_grant_missing_revoke_extra():
    assert acl_changes({"SELECT", "TRUNCATE"}, {"SELECT", "INSERT"}) == ({"INSERT"}, {"TRUNCATE"}, set())


def test_acl_changes_strip_grant_option_but_keep_privilege():
    assert acl_changes({"SELECT*"}, {"SELECT"}) == (set(), set(), {"SELECT"})


def test_acl_changes_revoke_extra_grantable_privilege():
    assert acl_changes({"SELECT", "DELETE*"}, {"SELECT"}) == (set(), {"DELETE"}, set())


def test_acl_changes_settled():
    assert acl_changes({"CONNECT"}, {"CONNECT"}) == (set(), set(), set())


# --- app preset ---------------------------------------------------------------------

def test_app_on_a_fresh_database_grants_everything_the_preset_names():
    fresh = state(relations=[rel("orders"), rel("orders_id_seq", "sequence")], owner=owner_state())
    plan = plan_privileges("app", "app", ["public"], fresh, owner="app_owner")
    assert render_all(plan.statements) == [
        'GRANT CONNECT ON DATABASE "appdb" TO "app"',
        'GRANT USAGE ON SCHEMA "public" TO "app"',
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."orders" TO "app"',
        'GRANT USAGE, SELECT ON SEQUENCE "public"."orders_id_seq" TO "app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "public" GRANT USAGE, SELECT ON SEQUENCES TO "app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "public" '
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "app"',
    ]
    assert plan.changed
    assert plan.before["table public.orders"] == []
    assert plan.after["table public.orders"] == list(APP_TABLE)
    assert plan.after["schema public"] == ["USAGE"]


def test_app_already_settled_plans_nothing():
    plan = plan_privileges("app", "app", ["public"], settled_app_state(), owner="app_owner")
    assert plan.statements == []
    assert not plan.changed
    assert plan.before == plan.after


def test_app_role_with_create_on_schema_loses_it_and_the_diff_says_so():
    current = settled_app_state()
    current["schemas"]["public"]["privs"] = {"USAGE", "CREATE"}
    plan = plan_privileges("app", "app", ["public"], current, owner="app_owner")
    assert render_all(plan.statements) == ['REVOKE CREATE ON SCHEMA "public" FROM "app"']
    assert plan.before["schema public"] == ["CREATE", "USAGE"]
    assert plan.after["schema public"] == ["USAGE"]


def test_only_tables_that_differ_are_named_and_the_same_change_is_one_statement():
    current = settled_app_state()
    current["relations"] += [rel("new_a"), rel("new_b", "table", "SELECT", "TRUNCATE"), rel("new_c")]
    plan = plan_privileges("app", "app", ["public"], current, owner="app_owner")
    assert render_all(plan.statements) == [
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."new_a", "public"."new_c" TO "app"',
        'GRANT INSERT, UPDATE, DELETE ON TABLE "public"."new_b" TO "app"',
        'REVOKE TRUNCATE ON TABLE "public"."new_b" FROM "app"',
    ]
    assert "table public.orders" not in plan.before
    assert plan.before["table public.new_b"] == ["SELECT", "TRUNCATE"]
    assert plan.after["table public.new_b"] == list(APP_TABLE)


def test_grant_option_is_taken_back():
    current = settled_app_state()
    current["database_privs"] = {"CONNECT*"}
    plan = plan_privileges("app", "app", ["public"], current, owner="app_owner")
    assert render_all(plan.statements) == ['REVOKE GRANT OPTION FOR CONNECT ON DATABASE "appdb" FROM "app"']
    assert plan.before["database appdb"] == ["CONNECT WITH GRANT OPTION"]


def test_owner_gets_connect_create_and_usage_it_lacks():
    current = settled_app_state()
    current["owner"] = owner_state(connect=False, public=("USAGE",))
    plan = plan_privileges("app", "app", ["public"], current, owner="app_owner")
    assert render_all(plan.statements) == [
        'GRANT CONNECT ON DATABASE "appdb" TO "app_owner"',
        'GRANT CREATE ON SCHEMA "public" TO "app_owner"',
    ]
    assert plan.after["owner app_owner: schema public"] == ["CREATE", "USAGE"]


def test_public_create_is_warned_about():
    current = settled_app_state()
    current["schemas"]["public"]["public_create"] = True
    plan = plan_privileges("app", "app", ["public"], current, owner="app_owner")
    assert plan.statements == []
    assert any("PUBLIC holds CREATE on schema public" in w for w in plan.warnings)


def test_several_schemas():
    current = state(schemas={"a": dict(privs=set(), public_create=False),
                             "b": dict(privs={"USAGE"}, public_create=False)},
                    owner=owner_state(a=("CREATE", "USAGE"), b=("CREATE", "USAGE")))
    plan = plan_privileges("app", "readonly", ["a", "b"], current, owner="app_owner")
    assert 'GRANT USAGE ON SCHEMA "a" TO "app"' in render_all(plan.statements)
    assert not any('SCHEMA "b" TO' in s for s in render_all(plan.statements))


# --- readonly -------------------------------------------------------------------------

def test_readonly_revokes_writes_and_sequence_privileges():
    current = settled_app_state()
    plan = plan_privileges("app", "readonly", ["public"], current, owner="app_owner")
    assert render_all(plan.statements) == [
        'REVOKE INSERT, UPDATE, DELETE ON TABLE "public"."orders" FROM "app"',
        'REVOKE USAGE, SELECT ON SEQUENCE "public"."orders_id_seq" FROM "app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "public" REVOKE USAGE, SELECT ON SEQUENCES FROM "app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "public" '
        'REVOKE INSERT, UPDATE, DELETE ON TABLES FROM "app"',
    ]


# --- extension members ----------------------------------------------------------------

def ext(name, *privs, kind="table"):
    return dict(rel(name, kind, *privs), extension="pg_stat_statements")


def test_extension_members_get_nothing_from_a_preset():
    current = settled_app_state()
    current["relations"] += [ext("pg_stat_statements"), ext("pg_stat_statements_info")]
    for preset in ("app", "readonly", "none"):
        plan = plan_privileges("app", preset, ["public"], current, owner="app_owner" if preset != "none" else None)
        assert not any("pg_stat_statements" in s for s in render_all(plan.statements)), preset
        assert "table public.pg_stat_statements" not in plan.before


def test_what_a_role_holds_on_extension_members_is_revoked_and_shown():
    current = settled_app_state()
    current["relations"] += [ext("pg_stat_statements", *APP_TABLE), ext("pg_stat_statements_info", *APP_TABLE),
                             ext("ext_seq", "USAGE", kind="sequence")]
    plan = plan_privileges("app", "app", ["public"], current, owner="app_owner")
    assert render_all(plan.statements) == [
        'REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."pg_stat_statements", '
        '"public"."pg_stat_statements_info" FROM "app"',
        'REVOKE USAGE ON SEQUENCE "public"."ext_seq" FROM "app"',
    ]
    assert plan.before["table public.pg_stat_statements"] == list(APP_TABLE)
    assert plan.after["table public.pg_stat_statements"] == []
    assert plan.after["sequence public.ext_seq"] == []


def test_relation_names_from_the_catalog_are_quoted_not_refused():
    current = settled_app_state()
    current["relations"].append(rel('Odd "name"; x'))
    plan = plan_privileges("app", "readonly", ["public"], current, owner="app_owner")
    assert 'GRANT SELECT ON TABLE "public"."Odd ""name""; x" TO "app"' in render_all(plan.statements)


# --- none -----------------------------------------------------------------------------

def test_none_revokes_everything_a_preset_grants_including_other_grantors_defaults():
    current = settled_app_state()
    current["default_acls"].append(dict(grantor="someone", schema="public", objtype="tables", privs={"SELECT"}))
    current["owner"] = None
    plan = plan_privileges("app", "none", ["public"], current, owner=None)
    assert render_all(plan.statements) == [
        'REVOKE CONNECT ON DATABASE "appdb" FROM "app"',
        'REVOKE USAGE ON SCHEMA "public" FROM "app"',
        'REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLE "public"."orders" FROM "app"',
        'REVOKE USAGE, SELECT ON SEQUENCE "public"."orders_id_seq" FROM "app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "public" REVOKE USAGE, SELECT ON SEQUENCES FROM "app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "public" '
        'REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM "app"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "someone" IN SCHEMA "public" REVOKE SELECT ON TABLES FROM "app"',
    ]


def test_none_for_a_role_holding_nothing_plans_nothing():
    plan = plan_privileges("app", "none", ["public", "missing"], state(relations=[rel("t")]))
    assert plan.statements == []


# --- names ------------------------------------------------------------------------------

def test_bad_schema_name_is_refused_before_any_sql():
    bad = 'x"; DROP TABLE t; --'
    current = state(schemas={bad: dict(privs=set(), public_create=False)}, owner=owner_state())
    with pytest.raises(FrendeDbError, match="schema"):
        plan_privileges("app", "app", [bad], current, owner="app_owner")


def test_objects_the_role_owns_are_left_alone_with_a_warning():
    current = settled_app_state()
    current["relations"].append(dict(rel("mine", "table", "SELECT", "TRUNCATE"), owned=True))
    current["schemas"]["own_schema"] = dict(privs={"USAGE", "CREATE"}, public_create=False, owned=True)
    current["owner"]["schemas"]["own_schema"] = {"CREATE", "USAGE"}
    current["default_acls"] += [
        dict(grantor="app_owner", schema="own_schema", objtype="tables", privs=set(APP_TABLE)),
        dict(grantor="app_owner", schema="own_schema", objtype="sequences", privs={"USAGE", "SELECT"}),
    ]
    plan = plan_privileges("app", "app", ["public", "own_schema"], current, owner="app_owner")
    assert plan.statements == []
    assert "table public.mine" not in plan.before
    assert any("owns own_schema, public.mine in database appdb" in w for w in plan.warnings)
