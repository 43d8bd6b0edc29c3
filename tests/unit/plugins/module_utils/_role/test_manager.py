"""frende_db_role input checks that need no server: names, numbers, passwords."""

import pytest

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._role.manager import RoleManager

EVIL = 'x"; DROP TABLE t; --'


def params(**overrides):
    p = dict(name="frende_app", state="present", password=None, update_password="always", login=True,
             superuser=False, createdb=False, createrole=False, replication=False, bypassrls=False,
             connection_limit=None, valid_until=None, database=None, privileges=None, schemas=["public"],
             owner=None, member_of=None, reassign_owned_to=None, login_user="postgres", login_db=None)
    p.update(overrides)
    return p


def test_good_input_passes():
    RoleManager(params(database="appdb", privileges="app", owner="own", member_of=["pg_monitor"],
                       password="pw", connection_limit=-1, valid_until="infinity")).validate()


@pytest.mark.parametrize("key, value, words", [
    ("name", EVIL, "name"),
    ("name", "", "name"),
    ("name", "a" * 64, "63 bytes"),
    ("database", EVIL, "database"),
    ("schemas", ["public", EVIL], "schemas entry"),
    ("owner", EVIL, "owner"),
    ("member_of", ["pg_monitor", EVIL], "member_of entry"),
    ("reassign_owned_to", EVIL, "reassign_owned_to"),
    ("name", "pg_app", "reserved"),
    ("name", "public", "reserved"),
    ("name", "postgres", "login_user"),
    ("owner", "frende_app", "another role"),
    ("reassign_owned_to", "frende_app", "another role"),
    ("member_of", ["frende_app"], "itself"),
    ("password", "", "empty"),
    ("password", "a\x00b", "NUL"),
    ("connection_limit", -5, "connection_limit"),
    ("connection_limit", -2, "connection_limit"),
    ("valid_until", "  ", "valid_until"),
])
def test_bad_input_is_refused_with_a_clear_message(key, value, words):
    with pytest.raises(FrendeDbError) as err:
        RoleManager(params(**{key: value})).validate()
    assert words in str(err.value)


def test_password_never_appears_in_messages():
    with pytest.raises(FrendeDbError) as err:
        RoleManager(params(password="pw\x00secret-value")).validate()
    assert "secret-value" not in str(err.value)


@pytest.mark.parametrize("login_db, database, expected", [
    (None, None, "postgres"),
    (None, "appdb", "appdb"),
    ("other", "appdb", "other"),
])
def test_login_db_defaults_to_database(login_db, database, expected):
    assert RoleManager(params(login_db=login_db, database=database)).login_db == expected
