from ansible_collections.frende.db.plugins.module_utils._backup.globals import (
    plan_globals, read_identifier, split_statements)

GLOBALS = """--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE "frende-app";
ALTER ROLE "frende-app" WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:abc;def';
CREATE ROLE frende_owner;
ALTER ROLE frende_owner WITH NOSUPERUSER NOLOGIN;
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:zzz';
COMMENT ON ROLE frende_owner IS 'owns; the schema';
ALTER ROLE "frende-app" SET statement_timeout TO '5s';
ALTER ROLE "frende-app" IN DATABASE frende SET search_path TO 'app';

--
-- Role memberships
--

GRANT frende_owner TO "frende-app" GRANTED BY postgres;

CREATE TABLESPACE fast OWNER postgres LOCATION '/srv/fast';

--
-- PostgreSQL database cluster dump complete
--
"""


def test_split_statements_honours_quotes_and_comments():
    stmts = split_statements("SELECT ';' ; -- a; comment\nSELECT \"a;b\";COMMENT ON ROLE x IS 'it''s; ok';")
    assert stmts == ["SELECT ';'", 'SELECT "a;b"', "COMMENT ON ROLE x IS 'it''s; ok'"]


def test_read_identifier():
    assert read_identifier('"frende-app" WITH') == ("frende-app", " WITH")
    assert read_identifier('"a""b";') == ('a"b', ";")
    assert read_identifier("Frende_Owner;") == ("frende_owner", ";")


def test_auto_creates_missing_roles_only_and_never_touches_the_bootstrap_superuser():
    plan = plan_globals(GLOBALS, existing_roles={"postgres", "frende_owner"}, bootstrap="postgres", mode="auto")
    text = "\n".join(plan["statements"])
    assert plan["created"] == ["frende-app"]
    assert 'CREATE ROLE "frende-app"' in text and "PASSWORD 'SCRAM-SHA-256$4096:abc;def'" in text
    assert "postgres WITH" not in text and "CREATE ROLE postgres" not in text
    assert "frende_owner WITH" not in text and "COMMENT ON ROLE frende_owner" not in text
    assert "IN DATABASE" not in text
    assert 'GRANT frende_owner TO "frende-app"' in text and "GRANTED BY" not in text
    assert "TABLESPACE" not in text and plan["skipped"] == ["tablespace statement"]


def test_always_updates_existing_roles_but_still_not_the_bootstrap_superuser():
    plan = plan_globals(GLOBALS, existing_roles={"postgres", "frende_owner", "frende-app"}, bootstrap="postgres",
                        mode="always")
    text = "\n".join(plan["statements"])
    assert plan["created"] == [] and sorted(plan["updated"]) == ["frende-app", "frende_owner"]
    assert "ALTER ROLE frende_owner WITH NOSUPERUSER NOLOGIN" in text
    assert "CREATE ROLE" not in text and "ALTER ROLE postgres" not in text


def test_nothing_but_session_settings_when_all_roles_exist_in_auto_mode():
    plan = plan_globals(GLOBALS, existing_roles={"postgres", "frende_owner", "frende-app"}, bootstrap="postgres",
                        mode="auto")
    assert all(s.startswith("SET ") for s in plan["statements"])
