"""frende.db.frende_db_settings against a real Debian cluster: ALTER SYSTEM and later files cannot quietly
override the managed conf.d file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.playbook import run_module

MODULE = "frende.db.frende_db_settings"


@pytest.fixture
def cluster(debian_cluster):
    conf_d = debian_cluster.conf_dir / "conf.d"
    ours, local = conf_d / "frende.conf", conf_d / "zz-local.conf"
    ours.write_text("# managed\nlog_connections = on\nlog_disconnections = on\nauthentication_timeout = 60s\n")
    debian_cluster.psql("ALTER SYSTEM RESET ALL")
    debian_cluster.reload()
    yield debian_cluster, ours, local
    for path in (ours, local):
        path.unlink(missing_ok=True)
    debian_cluster.psql("ALTER SYSTEM RESET ALL")
    debian_cluster.reload()


def settings(cluster, conf, check=False, **extra):
    return run_module(MODULE, cluster.params(conf_file=str(conf), **extra), check=check, diff=True)


def test_nothing_to_do_when_the_managed_file_has_the_last_word(cluster):
    server, ours, _local = cluster
    result = settings(server, ours)
    assert not result.failed and result.changed is False and result["overridden"] == []


def test_alter_system_drift_is_reported_in_check_mode_and_put_back(cluster):
    server, ours, _local = cluster
    server.psql("ALTER SYSTEM SET log_connections = off")
    server.reload()
    assert server.psql("SHOW log_connections") == "off\n"
    checked = settings(server, ours, check=True)
    assert checked.changed is True, checked
    assert [o["name"] for o in checked["overridden"]] == ["log_connections"]
    assert "postgresql.auto.conf" in checked["diff"]["before"]["log_connections"]
    assert str(ours) in checked["diff"]["after"]["log_connections"]
    assert checked["queries"] == ["ALTER SYSTEM RESET log_connections"]
    assert "log_connections" in server.psql("SELECT name FROM pg_file_settings WHERE sourcefile LIKE "
                                            "'%postgresql.auto.conf'"), "check mode changed the file"
    done = settings(server, ours)
    assert done.changed is True and done["queries"] == ["ALTER SYSTEM RESET log_connections"]
    server.reload()
    assert server.psql("SHOW log_connections") == "on\n"
    again = settings(server, ours)
    assert again.changed is False and again["overridden"] == []


def test_a_later_file_is_left_alone_and_the_policy_wins_through_alter_system(cluster):
    server, ours, local = cluster
    local.write_text("authentication_timeout = 5s\n")
    server.reload()
    done = settings(server, ours)
    assert done.changed is True
    item, = done["overridden"]
    assert (item["name"], item["fix"], item["effective"]) == ("authentication_timeout", "set", "5s")
    assert item["effective_from"].startswith(str(local))
    server.reload()
    assert server.psql("SHOW authentication_timeout") == "1min\n"
    assert local.read_text() == "authentication_timeout = 5s\n"
    assert settings(server, ours).changed is False


def test_only_superusers_may_read_the_files_and_the_error_says_so(cluster):
    server, ours, _local = cluster
    server.psql("DROP ROLE IF EXISTS settings_reader; CREATE ROLE settings_reader LOGIN PASSWORD 'reader-pw-1'")
    result = run_module(MODULE, dict(server.params(conf_file=str(ours)), login_user="settings_reader",
                                     login_password="reader-pw-1"))
    assert result.failed and "must connect as a superuser" in result["msg"]


def test_a_conf_file_the_server_does_not_read_is_no_change_and_says_so(cluster, tmp_path):
    server, _ours, _local = cluster
    result = settings(server, Path(tmp_path) / "elsewhere.conf")
    assert not result.failed and result.changed is False and "sets nothing the server reads" in result["msg"]
