"""Role attributes, passwords, memberships and dropping: plans and statements, no server."""

import pytest

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._postgres import Secret
from ansible_collections.frende.db.plugins.module_utils._role.plan import (
    alter_role_statement,
    attribute_changes,
    check_password_input,
    create_role_statement,
    drop_plan,
    membership_changes,
    membership_statements,
    password_plan,
    password_statement,
    plan_drop,
    plan_role,
    verifier_to_send,
)
from ansible_collections.frende.db.plugins.module_utils._role.privileges import PrivilegeTarget
from ansible_collections.frende.db.plugins.module_utils._role.scram import scram_verifier
from ansible_collections.frende.db.tests.unit.plugins.module_utils._role.sql_text import render, render_all

PLAIN = dict(login=True, superuser=False, createdb=False, createrole=False, replication=False,
             bypassrls=False, connection_limit=None, valid_until=None)


def existing(**overrides):
    role = dict(PLAIN, connection_limit=-1, valid_until=None, member_of=[], rolpassword=None)
    role.update(overrides)
    return role


# --- attributes ---------------------------------------------------------------------

def test_new_role_spells_out_every_attribute():
    statement = create_role_statement("frende_app", PLAIN)
    assert render(statement) == (
        'CREATE ROLE "frende_app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS')


def test_new_role_with_limit_expiry_and_password_sends_values_as_parameters():
    verifier = scram_verifier("s3cret")
    query, params = create_role_statement(
        "frende_app", dict(PLAIN, connection_limit=20, valid_until="infinity"), verifier)
    assert render((query, params)) == (
        'CREATE ROLE "frende_app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
        "CONNECTION LIMIT 20 VALID UNTIL 'infinity' PASSWORD <secret>")
    assert params[0] == 20 and params[1] == "infinity"
    assert isinstance(params[2], Secret) and params[2].value == verifier
    assert "s3cret" not in repr(params) and "s3cret" not in render((query, ()))


def test_existing_role_with_createdb_and_superuser_is_corrected():
    current = existing(createdb=True, superuser=True)
    changes = attribute_changes(current, PLAIN)
    assert changes == {"superuser": (True, False), "createdb": (True, False)}
    assert render(alter_role_statement("frende_app", changes)) == (
        'ALTER ROLE "frende_app" WITH NOSUPERUSER NOCREATEDB')


def test_asked_for_attributes_are_granted():
    changes = attribute_changes(existing(), dict(PLAIN, replication=True, login=False))
    assert changes == {"replication": (False, True), "login": (True, False)}
    assert render(alter_role_statement("r", changes)) == 'ALTER ROLE "r" WITH NOLOGIN REPLICATION'


def test_unmanaged_limit_and_expiry_are_left_alone():
    current = existing(connection_limit=7, valid_until="2030-01-01T00:00:00+00:00")
    assert attribute_changes(current, PLAIN) == {}
    assert alter_role_statement("r", {}) is None


def test_limit_and_expiry_change_when_given():
    current = existing(connection_limit=7, valid_until="2030-01-01T00:00:00+00:00")
    wanted = dict(PLAIN, connection_limit=7, valid_until="infinity")
    changes = attribute_changes(current, wanted)
    assert changes == {"valid_until": ("2030-01-01T00:00:00+00:00", "infinity")}
    assert render(alter_role_statement("r", changes)) == "ALTER ROLE \"r\" WITH VALID UNTIL 'infinity'"


def test_new_role_reports_every_attribute_as_change():
    changes = attribute_changes(None, dict(PLAIN, connection_limit=3))
    assert changes["login"] == (None, True)
    assert changes["superuser"] == (None, False)
    assert changes["connection_limit"] == (None, 3)


# --- passwords ----------------------------------------------------------------------

def test_password_of_new_role_is_set():
    assert password_plan(False, None, "pw", "always") == (True, None, "scram-sha-256 (set)")
    assert password_plan(False, None, "pw", "on_create") == (True, None, "scram-sha-256 (set)")


def test_same_password_is_no_change():
    stored = scram_verifier("pw")
    assert password_plan(True, stored, "pw", "always") == (False, "scram-sha-256", "scram-sha-256")


def test_other_password_is_a_change():
    stored = scram_verifier("pw")
    assert password_plan(True, stored, "pw2", "always") == (True, "scram-sha-256", "scram-sha-256 (changed)")


def test_on_create_leaves_existing_password_alone():
    assert password_plan(True, scram_verifier("old"), "new", "on_create")[0] is False
    assert password_plan(True, "md5" + "0" * 32, "new", "on_create") == (False, "md5", "md5")


@pytest.mark.parametrize("stored, kind", [("md5" + "ab" * 16, "md5"), (None, "none"), ("plain", "plaintext")])
def test_md5_plaintext_or_missing_password_is_replaced_by_scram(stored, kind):
    assert password_plan(True, stored, "pw", "always") == (True, kind, "scram-sha-256 (set)")


def test_omitted_password_is_not_managed():
    assert password_plan(True, "md5" + "0" * 32, None, "always") == (False, "md5", "md5")


# A verifier given as the password (community.postgresql issue 301: hashed again, the role could never log in).
GIVEN = scram_verifier("the-plaintext", salt=b"0123456789abcdef")


def test_a_given_verifier_is_sent_as_it_is_never_hashed_again():
    assert verifier_to_send(GIVEN) == GIVEN
    assert verifier_to_send("the-plaintext", make_verifier=lambda pw: "made from " + pw) == "made from the-plaintext"


def test_a_given_verifier_is_unchanged_only_when_the_stored_one_is_the_same_string():
    assert password_plan(True, GIVEN, GIVEN, "always") == (False, "scram-sha-256", "scram-sha-256")
    # the same plaintext with another salt is another verifier: the given one replaces it
    other = scram_verifier("the-plaintext")
    assert password_plan(True, other, GIVEN, "always") == (True, "scram-sha-256", "scram-sha-256 (changed)")
    assert password_plan(True, "md5" + "0" * 32, GIVEN, "always") == (True, "md5", "scram-sha-256 (set)")


@pytest.mark.parametrize("password, words", [
    ("SCRAM-SHA-256$4096:bm90LWJhc2U2NA$x:y", "not a valid SCRAM-SHA-256 verifier"),
    ("SCRAM-SHA-256$", "not a valid SCRAM-SHA-256 verifier"),
    ("md5" + "ab" * 16, "md5 hash"),
])
def test_hashes_that_would_be_stored_as_something_else_are_refused(password, words):
    with pytest.raises(FrendeDbError, match=words):
        check_password_input(password)


@pytest.mark.parametrize("password", ["plain-pw", GIVEN, "md5 but a sentence", "SCRAM-SHA-256 is the method"])
def test_passwords_and_verifiers_pass_the_input_check(password):
    check_password_input(password)


def test_password_statement_redacts_the_verifier():
    verifier = scram_verifier("pw")
    query, params = password_statement("frende_app", verifier)
    assert render((query, params)) == 'ALTER ROLE "frende_app" WITH PASSWORD <secret>'
    assert params[0].value == verifier


# --- memberships ----------------------------------------------------------------------

def test_membership_is_made_exact():
    join, leave = membership_changes(["pg_read_all_data", "pg_monitor"], ["pg_monitor", "pg_signal_backend"])
    assert (join, leave) == (["pg_signal_backend"], ["pg_read_all_data"])
    assert render_all(membership_statements("mon", join, leave)) == [
        'GRANT "pg_signal_backend" TO "mon"',
        'REVOKE "pg_read_all_data" FROM "mon"',
    ]


def test_membership_not_given_is_untouched():
    assert membership_changes(["pg_monitor"], None) == ([], [])


def test_empty_membership_list_leaves_all():
    assert membership_changes(["b", "a"], []) == ([], ["a", "b"])


# --- dropping -------------------------------------------------------------------------

def test_owned_objects_without_reassign_are_refused_and_named():
    deps = {
        "appdb": dict(owned_count=12, owned=["table app.orders", "sequence app.orders_id_seq"]),
        None: dict(owned_count=1, owned=["database appdb"]),
    }
    steps, refusal = drop_plan("frende_old", deps, None, "postgres")
    assert steps == []
    assert "frende_old" in refusal
    assert "12 object(s) in database appdb (table app.orders, sequence app.orders_id_seq and 10 more)" in refusal
    assert "1 shared object(s) (database appdb)" in refusal
    assert "reassign_owned_to" in refusal


def test_owned_objects_with_reassign_are_reassigned_then_dropped_owned_then_role_dropped():
    deps = {
        "appdb": dict(owned_count=2, owned=[]),
        "otherdb": dict(owned_count=0, owned=[]),
        None: dict(owned_count=1, owned=[]),
    }
    steps, refusal = drop_plan("old", deps, "frende_owner", "postgres")
    assert refusal is None
    assert [(db, render_all(s)) for db, s in steps] == [
        ("appdb", ['REASSIGN OWNED BY "old" TO "frende_owner"', 'DROP OWNED BY "old"']),
        ("otherdb", ['DROP OWNED BY "old"']),
        ("postgres", ['REASSIGN OWNED BY "old" TO "frende_owner"', 'DROP OWNED BY "old"', 'DROP ROLE "old"']),
    ]


def test_mere_privileges_are_dropped_without_reassign():
    steps, refusal = drop_plan("old", {"appdb": dict(owned_count=0, owned=[])}, None, "appdb")
    assert refusal is None
    assert [(db, render_all(s)) for db, s in steps] == [("appdb", ['DROP OWNED BY "old"', 'DROP ROLE "old"'])]


def test_role_without_dependencies_is_just_dropped():
    steps, refusal = drop_plan("old", {}, None, "postgres")
    assert [(db, render_all(s)) for db, s in steps] == [("postgres", ['DROP ROLE "old"'])]


# --- identifiers ----------------------------------------------------------------------

EVIL = 'x"; DROP TABLE t; --'


def test_statements_refuse_bad_names():
    with pytest.raises(FrendeDbError, match="name"):
        create_role_statement(EVIL, PLAIN)
    with pytest.raises(FrendeDbError, match="name"):
        alter_role_statement(EVIL, {"createdb": (True, False)})
    with pytest.raises(FrendeDbError, match="member_of"):
        membership_statements("ok", [EVIL], [])
    with pytest.raises(FrendeDbError, match="reassign_owned_to"):
        drop_plan("ok", {"db": dict(owned_count=1, owned=[])}, EVIL, "postgres")


# --- the one plan -----------------------------------------------------------------------

def role_params(**overrides):
    p = dict(name="frende_app", password=None, update_password="always", member_of=None,
             privileges=None, database=None, schemas=["public"], owner=None)
    p.update(overrides)
    return p


WANTED = dict(PLAIN, login=True)


def test_plan_for_a_new_role_creates_it_in_one_step_with_the_verifier_made_once():
    made = []
    plan = plan_role(role_params(password="pw"), None, WANTED, make_verifier=lambda pw: made.append(pw) or "V")
    assert made == ["pw"]
    assert plan.changed and [step[0] for step in plan.steps] == ["postgres"]
    assert render_all(plan.steps[0][1]) == [
        'CREATE ROLE "frende_app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
        'PASSWORD <secret>']
    assert plan.steps[0][1][0][1][0].value == "V"
    assert plan.before == dict(exists=False, name="frende_app")
    assert plan.after["password"] == "scram-sha-256 (set)" and plan.after["exists"] is True
    assert plan.role["password_set"] is True and plan.privileges is None


def test_plan_for_a_settled_role_has_no_step_and_makes_no_verifier():
    current = existing(oid=10, rolpassword=scram_verifier("pw"))
    plan = plan_role(role_params(password="pw"), current, WANTED, make_verifier=lambda pw: pytest.fail("made"))
    assert not plan.changed and plan.steps == []
    assert plan.before == dict(plan.after) and plan.role["exists"] is True


def test_plan_puts_privileges_in_the_same_transaction_when_they_live_in_the_login_database():
    state = dict(database="app", database_privs=set(), schemas={"public": dict(privs=set(), public_create=False)},
                 relations=[], default_acls=[], owner=dict(name="own", connect=True,
                                                           schemas={"public": {"CREATE", "USAGE"}}))
    target = PrivilegeTarget("app", "app", ["public"], "own")
    together = plan_role(role_params(privileges="app", database="app", owner="own"), existing(oid=10), WANTED,
                         target, state, login_db="app")
    assert [step[0] for step in together.steps] == ["app"]
    apart = plan_role(role_params(privileges="app", database="app", owner="own", member_of=["pg_monitor"]),
                      existing(oid=10), WANTED, target, state, login_db="postgres")
    assert [step[0] for step in apart.steps] == ["postgres", "app"]
    assert render_all(apart.steps[0][1]) == ['GRANT "pg_monitor" TO "frende_app"']
    assert 'GRANT CONNECT ON DATABASE "app" TO "frende_app"' in render_all(apart.steps[1][1])
    assert apart.after["privileges"]["database app"] == ["CONNECT"] and apart.before["privileges"]["database app"] == []
    assert apart.privileges is target


def test_plan_drop_of_a_missing_role_is_no_change_and_of_an_owner_without_heir_a_refusal():
    gone = plan_drop("old", None, {}, None, "postgres")
    assert not gone.changed and gone.role == dict(name="old", exists=False)
    with pytest.raises(FrendeDbError, match="still owns objects") as err:
        plan_drop("old", existing(oid=5), {"app": dict(owned_count=2, owned=["table t", "table u"], total=2)},
                  None, "postgres")
    assert err.value.details["owned"] == {"app": 2}
    dropped = plan_drop("old", existing(oid=5), {}, None, "postgres")
    assert dropped.changed and render_all(dropped.steps[-1][1]) == ['DROP ROLE "old"']
    assert dropped.before["owned_objects"] == {} and "password" not in dropped.before
