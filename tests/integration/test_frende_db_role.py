"""frende.db.frende_db_role against a real PostgreSQL (15 or 17): attributes, limits, expiry, memberships.

Every change is tried in check mode first (and proven not to have happened), then
applied, then re-run to prove it settled, and the real state is read back with SQL.
The helpers here are shared by the other test_frende_db_role_*.py files.
"""

import pytest

from tests.support.playbook import run_module


def role(pg, check=False, diff=False, **args):
    """One frende_db_role call through ansible-playbook as the superuser over verified TLS."""
    return run_module("frende.db.frende_db_role", dict(pg.params(), **args), check=check, diff=diff)


def value(pg, query, params=None, dbname="postgres"):
    rows = pg.sql(query, params, dbname)
    return rows[0][0] if rows else None


def role_state(pg, name):
    """What the server holds for a role (None when it does not exist): the truth tests compare."""
    rows = pg.sql(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin, rolconnlimit,"
        " rolvaliduntil, rolpassword,"
        " ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
        "       WHERE m.member = a.oid ORDER BY 1)"
        " FROM pg_authid a WHERE rolname = %s", (name,))
    if not rows:
        return None
    keys = ("superuser", "createdb", "createrole", "replication", "bypassrls", "login", "connection_limit",
            "valid_until", "rolpassword", "member_of")
    return dict(zip(keys, rows[0]))


def drop_role(pg, name):
    pg.sql("DROP ROLE IF EXISTS %s" % name)


def assert_ok(result, changed):
    assert not result.failed, result.get("msg")
    assert result.changed is changed, result.result


# --- create, check mode first --------------------------------------------------------

def test_create_role_check_mode_apply_idempotent(pg):
    drop_role(pg, "rt_plain")
    checked = role(pg, check=True, diff=True, name="rt_plain", connection_limit=3)
    assert_ok(checked, True)
    assert role_state(pg, "rt_plain") is None
    assert checked["queries"] == [
        'CREATE ROLE "rt_plain" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
        "CONNECTION LIMIT 3"]
    assert checked["diff"]["before"]["exists"] is False
    assert checked["diff"]["after"]["connection_limit"] == 3

    applied = role(pg, name="rt_plain", connection_limit=3)
    assert_ok(applied, True)
    assert applied["queries"] == checked["queries"]
    state = role_state(pg, "rt_plain")
    assert state["login"] and not state["superuser"] and not state["createdb"]
    assert state["connection_limit"] == 3 and state["rolpassword"] is None
    assert applied["role"] == dict(
        name="rt_plain", exists=True, login=True, connection_limit=3, valid_until=None, member_of=[],
        password_set=False,
        attributes=dict(superuser=False, createdb=False, createrole=False, replication=False, bypassrls=False))

    again = role(pg, name="rt_plain", connection_limit=3)
    assert_ok(again, False)
    assert again["queries"] == []
    again_check = role(pg, check=True, name="rt_plain", connection_limit=3)
    assert_ok(again_check, False)


def test_existing_superuser_createdb_role_is_corrected_and_diff_shows_it(pg):
    drop_role(pg, "rt_powerful")
    pg.sql("CREATE ROLE rt_powerful LOGIN SUPERUSER CREATEDB CREATEROLE BYPASSRLS")
    checked = role(pg, check=True, diff=True, name="rt_powerful")
    assert_ok(checked, True)
    assert role_state(pg, "rt_powerful")["superuser"] is True
    assert role_state(pg, "rt_powerful")["createdb"] is True

    applied = role(pg, diff=True, name="rt_powerful")
    assert_ok(applied, True)
    before, after = applied["diff"]["before"], applied["diff"]["after"]
    for attr in ("superuser", "createdb", "createrole", "bypassrls"):
        assert before[attr] is True and after[attr] is False
    assert applied["queries"] == [
        'ALTER ROLE "rt_powerful" WITH NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS']
    state = role_state(pg, "rt_powerful")
    assert not any(state[a] for a in ("superuser", "createdb", "createrole", "replication", "bypassrls"))
    assert_ok(role(pg, name="rt_powerful"), False)


def test_attributes_asked_for_are_given_and_login_can_be_turned_off(pg):
    drop_role(pg, "rt_repl")
    assert_ok(role(pg, name="rt_repl", replication=True, login=False), True)
    state = role_state(pg, "rt_repl")
    assert state["replication"] is True and state["login"] is False
    assert_ok(role(pg, name="rt_repl", replication=True, login=False), False)
    assert_ok(role(pg, name="rt_repl"), True)
    state = role_state(pg, "rt_repl")
    assert state["replication"] is False and state["login"] is True


def test_connection_limit_and_valid_until(pg):
    drop_role(pg, "rt_expiry")
    args = dict(name="rt_expiry", connection_limit=10, valid_until="2031-01-01T00:00:00Z")
    assert_ok(role(pg, **args), True)
    assert value(pg, "SELECT rolvaliduntil = '2031-01-01 00:00:00+00' FROM pg_roles WHERE rolname = 'rt_expiry'")
    # Same instant, written differently: normalised by the server, so no change.
    same = role(pg, name="rt_expiry", connection_limit=10, valid_until="2031-01-01 01:00:00+01")
    assert_ok(same, False)
    assert same["role"]["valid_until"] == "2031-01-01T00:00:00+00:00"

    checked = role(pg, check=True, diff=True, name="rt_expiry", connection_limit=-1, valid_until="infinity")
    assert_ok(checked, True)
    assert checked["diff"]["before"]["valid_until"] == "2031-01-01T00:00:00+00:00"
    assert checked["diff"]["after"]["valid_until"] == "infinity"
    assert role_state(pg, "rt_expiry")["connection_limit"] == 10

    assert_ok(role(pg, name="rt_expiry", connection_limit=-1, valid_until="infinity"), True)
    assert role_state(pg, "rt_expiry")["connection_limit"] == -1
    assert value(pg, "SELECT rolvaliduntil = 'infinity' FROM pg_roles WHERE rolname = 'rt_expiry'")
    assert_ok(role(pg, name="rt_expiry", connection_limit=-1, valid_until="infinity"), False)
    # Omitted: left as they are.
    assert_ok(role(pg, name="rt_expiry"), False)


def test_member_of_is_made_exact_and_untouched_when_omitted(pg):
    drop_role(pg, "rt_monitor")
    pg.sql("CREATE ROLE rt_monitor LOGIN")
    pg.sql("GRANT pg_read_all_data TO rt_monitor")
    checked = role(pg, check=True, diff=True, name="rt_monitor", member_of=["pg_monitor", "pg_read_all_stats"])
    assert_ok(checked, True)
    assert role_state(pg, "rt_monitor")["member_of"] == ["pg_read_all_data"]
    assert checked["diff"]["after"]["member_of"] == ["pg_monitor", "pg_read_all_stats"]

    applied = role(pg, diff=True, name="rt_monitor", member_of=["pg_monitor", "pg_read_all_stats"])
    assert_ok(applied, True)
    assert sorted(applied["queries"]) == sorted([
        'GRANT "pg_monitor" TO "rt_monitor"',
        'GRANT "pg_read_all_stats" TO "rt_monitor"',
        'REVOKE "pg_read_all_data" FROM "rt_monitor"'])
    assert applied["diff"]["before"]["member_of"] == ["pg_read_all_data"]
    assert role_state(pg, "rt_monitor")["member_of"] == ["pg_monitor", "pg_read_all_stats"]
    assert_ok(role(pg, name="rt_monitor", member_of=["pg_read_all_stats", "pg_monitor"]), False)

    assert_ok(role(pg, name="rt_monitor"), False)
    assert role_state(pg, "rt_monitor")["member_of"] == ["pg_monitor", "pg_read_all_stats"]

    assert_ok(role(pg, name="rt_monitor", member_of=["pg_monitor"]), True)
    assert role_state(pg, "rt_monitor")["member_of"] == ["pg_monitor"]
    assert_ok(role(pg, name="rt_monitor", member_of=[]), True)
    assert role_state(pg, "rt_monitor")["member_of"] == []


@pytest.mark.parametrize("login_db", [None, "template1"])
def test_role_is_cluster_wide_whatever_login_db(pg, login_db):
    drop_role(pg, "rt_anydb")
    args = dict(name="rt_anydb")
    if login_db:
        args["login_db"] = login_db
    assert_ok(role(pg, **args), True)
    assert role_state(pg, "rt_anydb") is not None
    assert_ok(role(pg, **args), False)
