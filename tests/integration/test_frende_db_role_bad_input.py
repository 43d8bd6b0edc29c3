"""Bad input: every case fails with a clear msg and changes nothing (checked with SQL)."""

import pytest
from test_frende_db_role import drop_role, role, role_state, value

from tests.support.pgserver import free_port

DB = "rt_baddb"
EVIL = 'x"; DROP TABLE t; --'


@pytest.fixture(scope="module")
def baddb(pg):
    pg.sql("DROP DATABASE IF EXISTS %s" % DB)
    pg.sql("CREATE DATABASE %s" % DB)
    pg.sql("CREATE TABLE t (id int)", dbname=DB)
    pg.sql("INSERT INTO t VALUES (42)", dbname=DB)
    for name in ("rt_bad", "rt_bad_owner", "rt_existing"):
        drop_role(pg, name)
    pg.sql("CREATE ROLE rt_bad_owner")
    pg.sql("CREATE ROLE rt_existing LOGIN CREATEDB CONNECTION LIMIT 4")
    pg.sql("GRANT pg_monitor TO rt_existing")
    return DB


def unchanged(pg):
    """A fingerprint of everything a bad call could have touched."""
    return dict(
        roles=pg.sql("SELECT rolname, rolsuper, rolcreatedb, rolconnlimit, rolpassword FROM pg_authid "
                     "WHERE rolname LIKE 'rt\\_%%' OR rolname LIKE 'x%%' ORDER BY 1"),
        members=pg.sql("SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members "
                       "WHERE member::regrole::text LIKE 'rt\\_%%' ORDER BY 1, 2"),
        t=pg.sql("SELECT id FROM t", dbname=DB),
        default_acl=pg.sql("SELECT count(*) FROM pg_default_acl", dbname=DB),
        nspacl=pg.sql("SELECT nspname, nspacl::text FROM pg_namespace ORDER BY 1", dbname=DB),
        datacl=pg.sql("SELECT datacl::text FROM pg_database WHERE datname = %s", (DB,)),
    )


CASES = [
    # (id, module args, words the msg must contain)
    ("evil name", dict(name=EVIL, database=DB), ["name", "not an accepted name"]),
    ("evil member_of", dict(name="rt_bad", member_of=[EVIL], database=DB), ["member_of entry"]),
    ("evil schema", dict(name="rt_bad", database=DB, privileges="app", owner="rt_bad_owner", schemas=[EVIL]),
     ["schemas entry"]),
    ("evil owner", dict(name="rt_bad", database=DB, privileges="app", owner=EVIL), ["owner"]),
    ("evil database", dict(name="rt_bad", database=EVIL, privileges="readonly", owner="rt_bad_owner",
                           login_db="postgres"), ["database"]),
    ("evil reassign_owned_to", dict(name="rt_existing", state="absent", reassign_owned_to=EVIL),
     ["reassign_owned_to"]),
    ("unknown preset", dict(name="rt_bad", database=DB, privileges="admin", owner="rt_bad_owner"),
     ["privileges", "app, none, readonly"]),
    ("privileges without database", dict(name="rt_bad", privileges="app", owner="rt_bad_owner"),
     ["database", "privileges"]),
    ("app without owner", dict(name="rt_bad", database=DB, privileges="app"), ["owner"]),
    ("connection_limit not a number", dict(name="rt_existing", connection_limit="many"),
     ["connection_limit", "int"]),
    ("connection_limit below -1", dict(name="rt_existing", connection_limit=-5), ["connection_limit", "-5"]),
    ("login_port not a number", dict(name="rt_existing", login_port="fivefour"), ["login_port"]),
    ("member_of not a list of names", dict(name="rt_existing", member_of=[["pg_monitor"]]), ["member_of"]),
    ("state unknown", dict(name="rt_existing", state="gone"), ["state", "present, absent"]),
    ("valid_until not a time", dict(name="rt_existing", valid_until="next tuesday-ish"),
     ["valid_until", "next tuesday-ish"]),
    ("empty password", dict(name="rt_existing", password=""), ["password is empty"]),
    ("missing owner", dict(name="rt_bad", database=DB, privileges="app", owner="rt_no_such_owner"),
     ["rt_no_such_owner", "owner", "do not exist"]),
    ("missing member_of role", dict(name="rt_existing", member_of=["pg_monitor", "rt_no_such_group"]),
     ["rt_no_such_group", "member_of", "do not exist"]),
    ("missing schema", dict(name="rt_bad", database=DB, privileges="app", owner="rt_bad_owner",
                            schemas=["public", "no_such_schema"]), ["no_such_schema", "do not exist"]),
    ("missing database", dict(name="rt_bad", database="rt_no_such_db", privileges="app", owner="rt_bad_owner",
                              login_db="postgres"), ["rt_no_such_db", "does not exist"]),
    ("missing database as login_db", dict(name="rt_bad", database="rt_no_such_db", privileges="app",
                                          owner="rt_bad_owner"), ["rt_no_such_db", "does not exist"]),
    ("reserved name", dict(name="pg_sneaky"), ["reserved"]),
    ("own login role", dict(name="postgres", superuser=False), ["login_user"]),
]


@pytest.mark.parametrize("args, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_clearly_and_changes_nothing(pg, baddb, args, words):
    before = unchanged(pg)
    for check in (True, False):
        result = role(pg, check=check, **args)
        assert result.failed, result.result
        assert not result.changed
        for word in words:
            assert word in result["msg"], result["msg"]
        assert not result.get("queries")
        assert unchanged(pg) == before
    assert value(pg, "SELECT count(*) FROM t", dbname=DB) == 1


def test_unreachable_server(pg, baddb):
    before = unchanged(pg)
    result = role(pg, name="rt_bad", login_port=free_port(), connect_timeout=3)
    assert result.failed
    assert "Could not connect" in result["msg"] and "login_port" in result["msg"]
    assert unchanged(pg) == before


def test_wrong_login_password(pg, baddb):
    before = unchanged(pg)
    result = role(pg, name="rt_bad", login_password="not-the-password")
    assert result.failed
    assert "password authentication failed" in result["msg"]
    assert "not-the-password" not in result["msg"] and "not-the-password" not in result.output
    assert unchanged(pg) == before


def test_verify_full_against_a_name_not_in_the_certificate(pg, baddb):
    before = unchanged(pg)
    result = role(pg, name="rt_bad", login_host="127.0.0.1", ssl_mode="verify-full")
    assert result.failed
    assert "Could not connect" in result["msg"]
    assert "does not match host name" in result["msg"] or "127.0.0.1" in result["msg"]
    assert unchanged(pg) == before


def test_non_superuser_login_gets_a_clear_error(pg, baddb):
    drop_role(pg, "rt_not_super")
    assert not role(pg, name="rt_not_super", password="not-super-pw-1", createrole=True).failed
    before = unchanged(pg)
    result = role(pg, name="rt_bad", login_user="rt_not_super", login_password="not-super-pw-1")
    assert result.failed
    assert "pg_authid" in result["msg"] and "superuser" in result["msg"]
    assert unchanged(pg) == before
    assert role_state(pg, "rt_bad") is None
    drop_role(pg, "rt_not_super")


def test_evil_name_left_table_t_in_place(pg, baddb):
    role(pg, name=EVIL, database=DB)
    role(pg, name="rt_bad", member_of=[EVIL], database=DB)
    assert value(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 't'", dbname=DB) == 1
    assert value(pg, "SELECT id FROM t", dbname=DB) == 42
