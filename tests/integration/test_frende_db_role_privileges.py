"""Privilege presets end to end: the app role really can do its job, and nothing more.

The owner role creates a table AFTER the module ran; the app role, logging in
with its own password over verified TLS, can use it (default privileges) but
cannot create anything, create roles or databases, or read pg_authid.
"""

import psycopg2
import psycopg2.errors
import pytest
from test_frende_db_role import assert_ok, drop_role, role, value

DB = "rt_appdb"
OWNER, OWNER_PW = "rt_owner", "owner-pw-7Qx2"
APP, APP_PW = "rt_app", "app-pw-Vn83"
READER, READER_PW = "rt_reader", "reader-pw-Lm51"


def app_args(**overrides):
    args = dict(name=APP, password=APP_PW, database=DB, privileges="app", schemas=["public", "app"],
                owner=OWNER)
    args.update(overrides)
    return args


def direct_privs(pg, acl_column, catalog, where, grantee, params=()):
    rows = pg.sql(
        "SELECT a.privilege_type FROM %s o, aclexplode(o.%s) a WHERE %s AND a.grantee = %%s::regrole ORDER BY 1"
        % (catalog, acl_column, where), tuple(params) + (grantee,), dbname=DB)
    return [r[0] for r in rows]


def default_acls(pg, grantee):
    return pg.sql(
        "SELECT d.defaclrole::regrole::text, d.defaclnamespace::regnamespace::text, d.defaclobjtype,"
        " array_agg(a.privilege_type::text ORDER BY a.privilege_type)"
        " FROM pg_default_acl d, aclexplode(d.defaclacl) a WHERE a.grantee = %s::regrole"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", (grantee,), dbname=DB)


@pytest.fixture(scope="module")
def appdb(pg):
    pg.sql("DROP DATABASE IF EXISTS %s" % DB)
    for name in (APP, READER, OWNER):
        drop_role(pg, name)
    # The owner role is made with the module too: its password never reaches the server log.
    assert_ok(role(pg, name=OWNER, password=OWNER_PW), True)
    pg.sql("CREATE DATABASE %s" % DB)
    pg.sql("CREATE SCHEMA app AUTHORIZATION %s" % OWNER, dbname=DB)
    owner = pg.connect(DB, OWNER, OWNER_PW)
    with owner.cursor() as cur:
        cur.execute("CREATE TABLE app.before_run (id bigserial PRIMARY KEY, note text)")
    owner.close()
    return DB


def test_app_preset_check_mode_apply_idempotent(pg, appdb):
    checked = role(pg, check=True, diff=True, **app_args())
    assert_ok(checked, True)
    assert value(pg, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (APP,)) == 0
    assert default_acls(pg, OWNER) == []
    assert value(pg, "SELECT count(*) FROM pg_default_acl", dbname=DB) == 0
    assert not value(pg, "SELECT has_schema_privilege(%s, 'public', 'CREATE')", (OWNER,), dbname=DB)
    after = checked["diff"]["after"]["privileges"]
    assert after["table app.before_run"] == ["SELECT", "INSERT", "UPDATE", "DELETE"]
    assert after["owner %s: schema public" % OWNER] == ["CREATE", "USAGE"]

    applied = role(pg, diff=True, **app_args())
    assert_ok(applied, True)
    assert applied["queries"] == checked["queries"]
    assert applied["diff"] == checked["diff"]
    assert not applied.get("warnings")

    again = role(pg, diff=True, **app_args())
    assert_ok(again, False)
    assert again["queries"] == []
    assert again["diff"]["before"] == again["diff"]["after"]

    # The real state, read with SQL.
    assert direct_privs(pg, "datacl", "pg_database", "datname = %s", APP, (DB,)) == ["CONNECT"]
    for schema in ("public", "app"):
        assert direct_privs(pg, "nspacl", "pg_namespace", "nspname = %s", APP, (schema,)) == ["USAGE"]
        assert not value(pg, "SELECT has_schema_privilege(%s, %s, 'CREATE')", (APP, schema), dbname=DB)
        assert value(pg, "SELECT has_schema_privilege(%s, %s, 'CREATE')", (OWNER, schema), dbname=DB)
    assert value(pg, "SELECT has_table_privilege(%s, 'app.before_run', 'SELECT,INSERT,UPDATE,DELETE')",
                 (APP,), dbname=DB)
    assert not value(pg, "SELECT has_table_privilege(%s, 'app.before_run', 'TRUNCATE')", (APP,), dbname=DB)
    assert value(pg, "SELECT has_sequence_privilege(%s, 'app.before_run_id_seq', 'USAGE')", (APP,), dbname=DB)
    assert default_acls(pg, APP) == [
        (OWNER, "app", "S", ["SELECT", "USAGE"]),
        (OWNER, "app", "r", ["DELETE", "INSERT", "SELECT", "UPDATE"]),
        (OWNER, "public", "S", ["SELECT", "USAGE"]),
        (OWNER, "public", "r", ["DELETE", "INSERT", "SELECT", "UPDATE"]),
    ]


def test_app_role_can_use_tables_the_owner_creates_later_and_nothing_more(pg, appdb):
    assert_ok(role(pg, **app_args()), False)
    owner = pg.connect(DB, OWNER, OWNER_PW)
    with owner.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS app.created_later (id serial PRIMARY KEY, v text)")
        cur.execute("CREATE TABLE IF NOT EXISTS public.also_later (id serial PRIMARY KEY, v text)")
    owner.close()

    app = pg.connect(DB, APP, APP_PW)
    with app.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone()[0] is True
        for table in ("app.created_later", "public.also_later", "app.before_run"):
            column = "note" if table == "app.before_run" else "v"
            cur.execute("INSERT INTO %s (%s) VALUES ('a') RETURNING id" % (table, column))
            row_id = cur.fetchone()[0]
            cur.execute("UPDATE %s SET %s = 'b' WHERE id = %%s" % (table, column), (row_id,))
            cur.execute("SELECT %s FROM %s WHERE id = %%s" % (column, table), (row_id,))
            assert cur.fetchone()[0] == "b"
            cur.execute("DELETE FROM %s WHERE id = %%s" % table, (row_id,))
            assert cur.rowcount == 1
        forbidden = [
            "CREATE TABLE app.sneaky (id int)",
            "CREATE TABLE public.sneaky (id int)",
            "CREATE ROLE sneaky",
            "CREATE DATABASE sneaky",
            "SELECT rolpassword FROM pg_authid",
            "TRUNCATE app.created_later",
            "DROP TABLE app.created_later",
        ]
        for statement in forbidden:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(statement)
    app.close()
    log = pg.server_log()
    assert 'identity="%s" method=scram-sha-256' % APP in log


def test_drifted_privileges_are_corrected_and_reported(pg, appdb):
    assert_ok(role(pg, **app_args()), False)
    pg.sql("GRANT CREATE ON SCHEMA app TO %s" % APP, dbname=DB)
    pg.sql("GRANT TRUNCATE ON app.before_run TO %s" % APP, dbname=DB)
    pg.sql("GRANT SELECT ON app.before_run TO %s WITH GRANT OPTION" % APP, dbname=DB)
    pg.sql("GRANT TEMPORARY ON DATABASE %s TO %s" % (DB, APP))

    checked = role(pg, check=True, diff=True, **app_args())
    assert_ok(checked, True)
    assert value(pg, "SELECT has_schema_privilege(%s, 'app', 'CREATE')", (APP,), dbname=DB)

    applied = role(pg, diff=True, **app_args())
    assert_ok(applied, True)
    assert applied["queries"] == checked["queries"]
    before, after = applied["diff"]["before"]["privileges"], applied["diff"]["after"]["privileges"]
    assert before["schema app"] == ["CREATE", "USAGE"] and after["schema app"] == ["USAGE"]
    assert "SELECT WITH GRANT OPTION" in before["table app.before_run"]
    assert "TRUNCATE" in before["table app.before_run"]
    assert after["table app.before_run"] == ["SELECT", "INSERT", "UPDATE", "DELETE"]
    assert before["database %s" % DB] == ["CONNECT", "TEMPORARY"]
    assert 'REVOKE CREATE ON SCHEMA "app" FROM "rt_app"' in applied["queries"]
    # Tables that did not drift are not listed.
    assert "table app.created_later" not in before

    assert not value(pg, "SELECT has_schema_privilege(%s, 'app', 'CREATE')", (APP,), dbname=DB)
    assert not value(pg, "SELECT has_table_privilege(%s, 'app.before_run', 'TRUNCATE')", (APP,), dbname=DB)
    assert not value(pg, "SELECT has_table_privilege(%s, 'app.before_run', 'SELECT WITH GRANT OPTION')",
                     (APP,), dbname=DB)
    assert direct_privs(pg, "datacl", "pg_database", "datname = %s", APP, (DB,)) == ["CONNECT"]
    assert_ok(role(pg, **app_args()), False)


def test_readonly_then_none(pg, appdb):
    args = dict(name=READER, password=READER_PW, database=DB, privileges="readonly", schemas=["app"], owner=OWNER)
    checked = role(pg, check=True, **args)
    assert_ok(checked, True)
    assert value(pg, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (READER,)) == 0
    assert_ok(role(pg, **args), True)
    assert_ok(role(pg, **args), False)

    owner = pg.connect(DB, OWNER, OWNER_PW)
    with owner.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS app.report_later (id int)")
        cur.execute("INSERT INTO app.report_later VALUES (1)")
    owner.close()
    reader = pg.connect(DB, READER, READER_PW)
    with reader.cursor() as cur:
        cur.execute("SELECT count(*) FROM app.report_later")
        assert cur.fetchone()[0] >= 1
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("INSERT INTO app.report_later VALUES (2)")
    reader.close()
    assert [r[2] for r in default_acls(pg, READER)] == ["r"]

    none_args = dict(name=READER, password=READER_PW, database=DB, privileges="none", schemas=["app"])
    checked = role(pg, check=True, diff=True, **none_args)
    assert_ok(checked, True)
    assert value(pg, "SELECT has_table_privilege(%s, 'app.report_later', 'SELECT')", (READER,), dbname=DB)
    applied = role(pg, **none_args)
    assert_ok(applied, True)
    assert applied["queries"] == checked["queries"]
    assert_ok(role(pg, **none_args), False)
    assert not value(pg, "SELECT has_table_privilege(%s, 'app.report_later', 'SELECT')", (READER,), dbname=DB)
    assert not value(pg, "SELECT has_schema_privilege(%s, 'app', 'USAGE')", (READER,), dbname=DB)
    assert direct_privs(pg, "datacl", "pg_database", "datname = %s", READER, (DB,)) == []
    assert default_acls(pg, READER) == []
    reader = pg.connect(DB, READER, READER_PW)  # CONNECT still comes from PUBLIC, by design
    with reader.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SELECT count(*) FROM app.report_later")
    reader.close()


def test_privileges_with_login_db_elsewhere(pg, appdb):
    """Role DDL on one connection (postgres), grants on another (the database)."""
    drop_role(pg, "rt_split")
    args = dict(name="rt_split", database=DB, login_db="postgres", privileges="readonly", schemas=["app"],
                owner=OWNER)
    assert_ok(role(pg, **args), True)
    assert value(pg, "SELECT has_table_privilege('rt_split', 'app.before_run', 'SELECT')", dbname=DB)
    assert_ok(role(pg, **args), False)
    pg.sql("DROP OWNED BY rt_split", dbname=DB)
    drop_role(pg, "rt_split")


def test_objects_the_role_owns_are_left_alone_and_warned_about(pg, appdb):
    assert_ok(role(pg, **app_args()), False)
    pg.sql("CREATE TABLE app.owned_by_app (id int)", dbname=DB)
    pg.sql("ALTER TABLE app.owned_by_app OWNER TO %s" % APP, dbname=DB)
    result = role(pg, **app_args())
    assert_ok(result, False)
    assert any("owns app.owned_by_app" in w for w in result.get("warnings", [])), result.get("warnings")
    assert value(pg, "SELECT has_table_privilege(%s, 'app.owned_by_app', 'TRUNCATE')", (APP,), dbname=DB)
    pg.sql("DROP TABLE app.owned_by_app", dbname=DB)


EXT_DB = "rt_extdb"
EXT_VIEWS = ("pg_stat_statements", "pg_stat_statements_info")


def ext_direct_privs(pg, name):
    rows = pg.sql("SELECT a.privilege_type FROM pg_class c, aclexplode(c.relacl) a"
                  " WHERE c.oid = %s::regclass AND a.grantee = %s::regrole ORDER BY 1",
                  ("public." + name, APP), dbname=EXT_DB)
    return [r[0] for r in rows]


def test_extension_objects_are_not_granted_and_old_grants_are_revoked(pg, appdb):
    """pg_stat_statements in public (as `frende-db-maintenance --action functions` makes it) is the
    extension's, not the application's: the app role gets nothing on it, and what an earlier preset run
    granted there is taken back."""
    pg.sql("DROP DATABASE IF EXISTS %s" % EXT_DB)
    pg.sql("CREATE DATABASE %s" % EXT_DB)
    pg.sql("CREATE EXTENSION pg_stat_statements SCHEMA public", dbname=EXT_DB)
    pg.sql("CREATE TABLE public.orders (id bigserial PRIMARY KEY)", dbname=EXT_DB)
    pg.sql("ALTER TABLE public.orders OWNER TO %s" % OWNER, dbname=EXT_DB)
    args = app_args(database=EXT_DB, schemas=["public"])
    try:
        first = role(pg, diff=True, **args)
        assert_ok(first, True)
        assert not any("pg_stat_statements" in q for q in first["queries"]), first["queries"]
        for name in EXT_VIEWS:
            assert ext_direct_privs(pg, name) == [], name
            assert "table public.%s" % name not in first["diff"]["after"]["privileges"]
        assert ext_direct_privs(pg, "orders") == ["DELETE", "INSERT", "SELECT", "UPDATE"]
        assert_ok(role(pg, **args), False)

        # What the preset granted before it knew about extensions (ON ALL TABLES IN SCHEMA).
        pg.sql("GRANT SELECT, INSERT, UPDATE, DELETE ON public.pg_stat_statements, public.pg_stat_statements_info"
               " TO %s" % APP, dbname=EXT_DB)
        checked = role(pg, check=True, diff=True, **args)
        assert_ok(checked, True)
        assert ext_direct_privs(pg, "pg_stat_statements") == ["DELETE", "INSERT", "SELECT", "UPDATE"]
        cleaned = role(pg, diff=True, **args)
        assert_ok(cleaned, True)
        assert cleaned["queries"] == checked["queries"]
        before, after = cleaned["diff"]["before"]["privileges"], cleaned["diff"]["after"]["privileges"]
        for name in EXT_VIEWS:
            assert before["table public.%s" % name] == ["SELECT", "INSERT", "UPDATE", "DELETE"]
            assert after["table public.%s" % name] == []
            assert ext_direct_privs(pg, name) == [], name
        assert "table public.orders" not in before
        assert ext_direct_privs(pg, "orders") == ["DELETE", "INSERT", "SELECT", "UPDATE"]
        assert_ok(role(pg, **args), False)
        # The extension's own grant to PUBLIC is not the preset's business and stays.
        assert value(pg, "SELECT has_table_privilege('public', 'public.pg_stat_statements', 'SELECT')",
                     dbname=EXT_DB)
    finally:
        pg.sql("DROP DATABASE %s" % EXT_DB)
