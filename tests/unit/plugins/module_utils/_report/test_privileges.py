"""_report/privileges: grants grouped per role, the roles table and PUBLIC on schema public."""

from ansible_collections.frende.db.plugins.module_utils._report import privileges


def grant(grantee, kind, obj, privs):
    return dict(grantee=grantee, kind=kind, object=obj, privileges=privs)


def test_grants_are_grouped_per_role_privileges_and_kind():
    rows = [grant("app", "table", "public.t%d" % n, "DELETE, INSERT, SELECT, UPDATE") for n in range(5)]
    rows += [grant("app", "database", "frende", "CONNECT"), grant("app", "table", "public.log", "SELECT")]
    found = privileges.summarize_grants(rows)
    assert found["app"] == ["CONNECT on database frende",
                            "DELETE, INSERT, SELECT, UPDATE on 5 tables (public.t0, public.t1, public.t2, ...)",
                            "SELECT on table public.log"]


def test_the_roles_table_marks_what_frende_db_does_not_manage():
    rows = [dict(rolname="frende_app", rolcanlogin=True, rolconnlimit=50, member_of=["frende_owner"]),
            dict(rolname="stranger", rolcanlogin=True, rolsuper=True, rolcreatedb=True, rolconnlimit=-1),
            dict(rolname="frende_owner", rolcanlogin=False, rolconnlimit=10)]
    table = privileges.roles_table(rows, {"frende_app": ["CONNECT on database frende"]}, ["frende_app", "frende_owner"])
    by_name = {r["name"]: r for r in table}
    assert by_name["stranger"]["managed"] is False
    assert by_name["stranger"]["attributes"] == ["LOGIN", "SUPERUSER", "CREATEDB"]
    assert by_name["frende_app"]["privileges"] == ["CONNECT on database frende"]
    assert by_name["frende_owner"]["login"] is False and by_name["frende_owner"]["attributes"] == []


def test_public_usage_on_schema_public_is_found_and_only_that():
    assert privileges.public_schema_usage([grant("PUBLIC", "schema", "public", "USAGE")])
    assert privileges.public_schema_usage([grant("PUBLIC", "schema", "public", "CREATE, USAGE")])
    assert not privileges.public_schema_usage([grant("PUBLIC", "schema", "public", "CREATE")])
    assert not privileges.public_schema_usage([grant("PUBLIC", "schema", "other", "USAGE"),
                                               grant("app", "schema", "public", "USAGE"),
                                               grant("PUBLIC", "database", "public", "USAGE")])
