"""Passwords: SCRAM verifiers computed by the module, idempotent, md5 upgraded, never leaked."""

import secrets

import psycopg2
import pytest
from test_frende_db_role import assert_ok, drop_role, role, role_state

from ansible_collections.frende.db.plugins.module_utils._role.scram import parse_verifier, scram_verifier, verifier_matches
from tests.support.playbook import run_module_verbose


def can_login(pg, name, password):
    """Log in over TLS (verify-full) with SCRAM, as the application would."""
    try:
        conn = pg.connect("postgres", name, password)
    except psycopg2.OperationalError as exc:
        assert "password authentication failed" in str(exc)
        return False
    with conn.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone()[0] is True
    conn.close()
    return True


def test_password_set_as_verifier_logs_in_changes_and_settles(pg):
    drop_role(pg, "rt_pw")
    checked = role(pg, check=True, diff=True, name="rt_pw", password="first-pw-4Tq")
    assert_ok(checked, True)
    assert role_state(pg, "rt_pw") is None

    created = role(pg, diff=True, name="rt_pw", password="first-pw-4Tq")
    assert_ok(created, True)
    stored = role_state(pg, "rt_pw")["rolpassword"]
    iterations, salt, _stored_key, _server_key = parse_verifier(stored)
    assert iterations == 4096 and len(salt) == 16
    assert verifier_matches("first-pw-4Tq", stored)
    assert created["role"]["password_set"] is True
    assert created["diff"]["after"]["password"] == "scram-sha-256 (set)"
    assert can_login(pg, "rt_pw", "first-pw-4Tq")
    assert 'identity="rt_pw" method=scram-sha-256' in pg.server_log()

    same = role(pg, diff=True, name="rt_pw", password="first-pw-4Tq")
    assert_ok(same, False)
    assert role_state(pg, "rt_pw")["rolpassword"] == stored  # not even re-salted

    checked = role(pg, check=True, diff=True, name="rt_pw", password="second-pw-8Zr")
    assert_ok(checked, True)
    assert checked["diff"]["before"]["password"] == "scram-sha-256"
    assert checked["diff"]["after"]["password"] == "scram-sha-256 (changed)"
    assert role_state(pg, "rt_pw")["rolpassword"] == stored

    changed = role(pg, name="rt_pw", password="second-pw-8Zr")
    assert_ok(changed, True)
    assert changed["queries"] == ['ALTER ROLE "rt_pw" WITH PASSWORD \'********\'']
    assert can_login(pg, "rt_pw", "second-pw-8Zr")
    assert not can_login(pg, "rt_pw", "first-pw-4Tq")
    assert_ok(role(pg, name="rt_pw", password="second-pw-8Zr"), False)


def test_on_create_leaves_an_existing_password_alone(pg):
    drop_role(pg, "rt_oncreate")
    assert_ok(role(pg, name="rt_oncreate", password="initial-pw-2Wd", update_password="on_create"), True)
    stored = role_state(pg, "rt_oncreate")["rolpassword"]
    result = role(pg, name="rt_oncreate", password="other-pw-9Pk", update_password="on_create")
    assert_ok(result, False)
    assert role_state(pg, "rt_oncreate")["rolpassword"] == stored
    assert can_login(pg, "rt_oncreate", "initial-pw-2Wd")


def test_md5_hash_is_upgraded_to_scram(pg):
    drop_role(pg, "rt_md5")
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("SET password_encryption = 'md5'")
        cur.execute("CREATE ROLE rt_md5 LOGIN PASSWORD 'legacy-md5-pw'")
    conn.close()
    assert role_state(pg, "rt_md5")["rolpassword"].startswith("md5")

    checked = role(pg, check=True, diff=True, name="rt_md5", password="legacy-md5-pw")
    assert_ok(checked, True)
    assert checked["diff"]["before"]["password"] == "md5"
    assert checked["diff"]["after"]["password"] == "scram-sha-256 (set)"
    assert role_state(pg, "rt_md5")["rolpassword"].startswith("md5")

    upgraded = role(pg, name="rt_md5", password="legacy-md5-pw")
    assert_ok(upgraded, True)
    stored = role_state(pg, "rt_md5")["rolpassword"]
    assert stored.startswith("SCRAM-SHA-256$4096:")
    assert can_login(pg, "rt_md5", "legacy-md5-pw")
    assert_ok(role(pg, name="rt_md5", password="legacy-md5-pw"), False)


@pytest.mark.parametrize("password", ["plain-ascii-pw", "p\u00e4ss\u3000w\u00f6rd\u2168", "I\u00adX-\u00aa"])
def test_a_verifier_the_server_made_is_recognised(pg, password):
    """The server hashes a plaintext itself (its own SASLprep); the module must see 'unchanged'."""
    drop_role(pg, "rt_server_hash")
    pg.sql("CREATE ROLE rt_server_hash LOGIN PASSWORD %s", (password,))
    stored = role_state(pg, "rt_server_hash")["rolpassword"]
    assert verifier_matches(password, stored)
    result = role(pg, name="rt_server_hash", password=password)
    assert_ok(result, False)
    assert role_state(pg, "rt_server_hash")["rolpassword"] == stored
    assert can_login(pg, "rt_server_hash", password)


def test_module_made_verifier_for_non_ascii_password_logs_in(pg):
    drop_role(pg, "rt_unicode")
    password = "\u2168-gr\u00fc\u00dfe\u3000\u00ad-" + secrets.token_hex(4)
    assert_ok(role(pg, name="rt_unicode", password=password), True)
    assert can_login(pg, "rt_unicode", password)
    assert_ok(role(pg, name="rt_unicode", password=password), False)


def test_password_never_leaks(pg):
    drop_role(pg, "rt_leak")
    password = "Leak-" + secrets.token_hex(12) + "-Canary"
    args = dict(pg.params(), name="rt_leak", password=password, connection_limit=2)
    outputs = [
        run_module_verbose("frende.db.frende_db_role", args, check=True, diff=True),
        run_module_verbose("frende.db.frende_db_role", args, check=False, diff=True),
        run_module_verbose("frende.db.frende_db_role", args, check=False, diff=True),  # unchanged
        run_module_verbose("frende.db.frende_db_role", dict(args, password=password + "2"), diff=True),
        run_module_verbose("frende.db.frende_db_role", dict(args, password=password), check=True, diff=True),
    ]
    assert "CREATE ROLE" in outputs[1] and "changed" in outputs[1]  # the output is the real thing
    for text in outputs:
        assert password not in text
    result = role(pg, diff=True, **dict(args, password=password))
    assert_ok(result, True)
    assert result["queries"] == ['ALTER ROLE "rt_leak" WITH PASSWORD \'********\'']
    assert password not in repr(result.result) and password not in result.output
    assert can_login(pg, "rt_leak", password)
    log = pg.server_log()
    assert 'ALTER ROLE "rt_leak" WITH PASSWORD \'SCRAM-SHA-256$' in log  # statements are logged...
    assert password not in log                                            # ...the password never


def test_a_precomputed_verifier_is_stored_as_given_and_settles(pg):
    """password: 'SCRAM-SHA-256$...' is a verifier, not a plaintext to hash again (community.postgresql #301)."""
    drop_role(pg, "rt_given")
    plaintext = "given-" + secrets.token_hex(6)
    given = scram_verifier(plaintext)
    checked = role(pg, check=True, diff=True, name="rt_given", password=given)
    assert_ok(checked, True)
    assert role_state(pg, "rt_given") is None

    created = role(pg, diff=True, name="rt_given", password=given)
    assert_ok(created, True)
    assert role_state(pg, "rt_given")["rolpassword"] == given
    assert can_login(pg, "rt_given", plaintext)
    assert_ok(role(pg, name="rt_given", password=given), False)
    assert role_state(pg, "rt_given")["rolpassword"] == given

    # The plaintext itself also settles (it matches the stored verifier); a new verifier of the
    # same plaintext (another salt) is another value, and replaces the stored one.
    assert_ok(role(pg, name="rt_given", password=plaintext), False)
    other = scram_verifier(plaintext)
    assert_ok(role(pg, name="rt_given", password=other), True)
    assert role_state(pg, "rt_given")["rolpassword"] == other
    assert can_login(pg, "rt_given", plaintext)
    assert plaintext not in pg.server_log()


def test_an_md5_hash_or_a_broken_verifier_as_password_is_refused_and_changes_nothing(pg):
    drop_role(pg, "rt_badhash")
    for password, words in (("md5" + "ab" * 16, "md5 hash"),
                            ("SCRAM-SHA-256$4096:c2FsdA==$broken", "not a valid SCRAM-SHA-256 verifier")):
        result = role(pg, name="rt_badhash", password=password)
        assert result.failed and words in result.result["msg"], result.result
        assert role_state(pg, "rt_badhash") is None
