"""state: absent: owned objects block the drop (named), reassign_owned_to hands them over."""

from test_frende_db_role import assert_ok, drop_role, role, role_state, value

DB = "rt_absdb"
SHARED_DB = "rt_absdb_owned"


def reset(pg, *roles):
    for database in (DB, SHARED_DB):
        pg.sql("DROP DATABASE IF EXISTS %s" % database)
    for name in roles:
        drop_role(pg, name)


def owner_of(pg, relation):
    return value(pg, "SELECT relowner::regrole::text FROM pg_class WHERE oid = %s::regclass", (relation,), dbname=DB)


def test_absent_and_already_gone_is_no_change(pg):
    drop_role(pg, "rt_never")
    for check in (True, False):
        result = role(pg, check=check, name="rt_never", state="absent")
        assert_ok(result, False)
        assert result["queries"] == []
        assert result["role"] == dict(name="rt_never", exists=False)


def test_role_owning_objects_is_not_dropped_and_the_objects_are_named(pg):
    reset(pg, "rt_leaving", "rt_heir")
    pg.sql("CREATE ROLE rt_leaving LOGIN")
    pg.sql("CREATE ROLE rt_heir NOLOGIN")
    pg.sql("CREATE DATABASE %s" % DB)
    pg.sql("CREATE DATABASE %s OWNER rt_leaving" % SHARED_DB)
    pg.sql("CREATE SCHEMA leaving AUTHORIZATION rt_leaving", dbname=DB)
    pg.sql("CREATE TABLE leaving.orders (id int)", dbname=DB)
    pg.sql("ALTER TABLE leaving.orders OWNER TO rt_leaving", dbname=DB)
    pg.sql("INSERT INTO leaving.orders VALUES (1), (2)", dbname=DB)
    pg.sql("GRANT CONNECT ON DATABASE %s TO rt_leaving" % DB)

    for check in (True, False):
        refused = role(pg, check=check, name="rt_leaving", state="absent")
        assert refused.failed
        msg = refused["msg"]
        assert "rt_leaving still owns objects" in msg
        assert "2 object(s) in database %s" % DB in msg
        assert "schema leaving" in msg and "table leaving.orders" in msg
        assert "database %s" % SHARED_DB in msg
        assert "reassign_owned_to" in msg
        assert refused["queries"] == []
        assert role_state(pg, "rt_leaving") is not None
        assert owner_of(pg, "leaving.orders") == "rt_leaving"
        assert value(pg, "SELECT count(*) FROM leaving.orders", dbname=DB) == 2

    checked = role(pg, check=True, diff=True, name="rt_leaving", state="absent", reassign_owned_to="rt_heir")
    assert_ok(checked, True)
    assert 'REASSIGN OWNED BY "rt_leaving" TO "rt_heir"' in checked["queries"]
    assert checked["queries"][-1] == 'DROP ROLE "rt_leaving"'
    assert checked["diff"]["before"]["owned_objects"][DB] == 2
    assert checked["diff"]["after"] == dict(name="rt_leaving", exists=False)
    assert role_state(pg, "rt_leaving") is not None
    assert owner_of(pg, "leaving.orders") == "rt_leaving"

    dropped = role(pg, name="rt_leaving", state="absent", reassign_owned_to="rt_heir")
    assert_ok(dropped, True)
    assert dropped["queries"] == checked["queries"]
    assert role_state(pg, "rt_leaving") is None
    assert owner_of(pg, "leaving.orders") == "rt_heir"
    assert value(pg, "SELECT count(*) FROM leaving.orders", dbname=DB) == 2
    assert value(pg, "SELECT datdba::regrole::text FROM pg_database WHERE datname = %s", (SHARED_DB,)) == "rt_heir"

    assert_ok(role(pg, name="rt_leaving", state="absent", reassign_owned_to="rt_heir"), False)
    reset(pg, "rt_heir")


def test_role_holding_only_privileges_is_dropped_after_drop_owned(pg):
    reset(pg, "rt_grantee")
    pg.sql("CREATE ROLE rt_grantee LOGIN")
    pg.sql("CREATE DATABASE %s" % DB)
    pg.sql("CREATE TABLE public.kept (id int)", dbname=DB)
    pg.sql("GRANT SELECT ON public.kept TO rt_grantee", dbname=DB)
    pg.sql("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO rt_grantee", dbname=DB)
    pg.sql("GRANT CONNECT ON DATABASE %s TO rt_grantee" % DB)

    checked = role(pg, check=True, name="rt_grantee", state="absent")
    assert_ok(checked, True)
    assert checked["queries"] == ['DROP OWNED BY "rt_grantee"', 'DROP OWNED BY "rt_grantee"', 'DROP ROLE "rt_grantee"']
    assert role_state(pg, "rt_grantee") is not None

    dropped = role(pg, name="rt_grantee", state="absent")
    assert_ok(dropped, True)
    assert role_state(pg, "rt_grantee") is None
    assert value(pg, "SELECT count(*) FROM public.kept", dbname=DB) == 0  # the table is still there
    assert_ok(role(pg, name="rt_grantee", state="absent"), False)
    reset(pg)


def test_reassign_to_a_missing_role_changes_nothing(pg):
    drop_role(pg, "rt_orphan")
    pg.sql("CREATE ROLE rt_orphan")
    result = role(pg, name="rt_orphan", state="absent", reassign_owned_to="rt_nobody_here")
    assert result.failed
    assert "rt_nobody_here" in result["msg"] and "reassign_owned_to" in result["msg"]
    assert role_state(pg, "rt_orphan") is not None
    drop_role(pg, "rt_orphan")
