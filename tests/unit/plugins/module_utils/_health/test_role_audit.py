"""The roles audit: powers, unmanaged login roles, the application role beyond its preset."""

from ansible_collections.frende.db.plugins.module_utils._health.role_audit import evaluate_roles


def role(name, login=True, limit=-1, **powers):
    row = dict(rolname=name, rolsuper=False, rolcreaterole=False, rolcreatedb=False, rolreplication=False,
               rolbypassrls=False, rolcanlogin=login, rolconnlimit=limit)
    row.update(powers)
    return row


MANAGED = ["frende_app", "frende_monitor"]
CLEAN = [role("postgres", rolsuper=True, rolreplication=True, rolbypassrls=True, rolcreatedb=True, rolcreaterole=True),
         role("frende_app", limit=150), role("frende_monitor", limit=5), role("frende_owner", login=False, limit=10)]


def test_the_policy_s_roles_are_healthy():
    check = evaluate_roles(CLEAN, MANAGED, "frende_app", [])
    assert check["status"] == "healthy", check
    assert check["value"]["without_connection_limit"] == ["postgres"]


def test_a_second_superuser_and_other_powers_are_named():
    extra = [role("eve", rolsuper=True), role("ops", login=False, rolcreaterole=True, rolbypassrls=True)]
    check = evaluate_roles(CLEAN + extra, MANAGED)
    assert check["status"] == "degraded"
    assert "eve has SUPERUSER" in check["message"] and "ops has CREATEROLE, BYPASSRLS" in check["message"]


def test_a_login_role_nobody_manages_is_named_unless_the_managed_list_is_not_given():
    rows = CLEAN + [role("backdoor", limit=3)]
    check = evaluate_roles(rows, MANAGED)
    assert check["status"] == "degraded" and "backdoor can log in and is not managed" in check["message"]
    assert evaluate_roles(rows, [])["status"] == "healthy"


def test_privileges_beyond_the_app_preset_are_listed():
    extra = [{"what": "TRUNCATE on table public.users"}, {"what": "CREATE on schema public"}]
    check = evaluate_roles(CLEAN, MANAGED, "frende_app", extra)
    assert check["status"] == "degraded"
    assert "frende_app has more than its preset: TRUNCATE on table public.users; CREATE on schema public" \
        in check["message"]
