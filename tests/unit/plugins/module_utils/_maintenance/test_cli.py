"""frende-db-maintenance: config file + command line + libpq environment, and bad values."""

import json

import pytest

from ansible_collections.frende.db.plugins.module_utils import _command as command
from ansible_collections.frende.db.plugins.module_utils._maintenance import cli
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.tests.support.log_lines import parse


@pytest.fixture()
def settings(tmp_path):
    """Typed settings from flags, a config file of the test's own (empty: [maintenance] only) and ``env``."""
    def _settings(argv=(), config_text="[maintenance]\n", env=None):
        path = tmp_path / "maintenance.conf"
        path.write_text(config_text)
        args = cli.build_parser().parse_args(["--action", "health", "--config", str(path), *argv])
        return cli.validate(cli.merged_settings(vars(args), env or {}))
    return _settings


def test_defaults_with_database_from_environment(settings):
    s = settings(env={"PGDATABASE": "frende"})
    assert s["database"] == "frende"
    assert s["log_file"] == "/var/log/frende/maintenance.log"
    assert s["reindex_bloat_threshold_pct"] == 30.0 and s["reindex_min_size_mb"] == 10.0
    assert s["monitor_role"] == "pg_monitor"
    assert s["login_port"] is None and s["ssl_mode"] is None  # libpq decides
    assert s["health"]["connections_warn_pct"] == 80
    assert s["health"]["expected"]["authentication_timeout"] == 60
    assert s["health"]["database"] == "frende"


def test_command_line_over_file_over_environment(settings):
    conf = """[maintenance]
database = frende
login_port = 5433
log_file = /tmp/from-file.log
reindex-bloat-threshold-pct = 40
expected_max_connections = 300
expected_log_connections = off
connections_warn_pct = 70
monitor_role = frende_monitor
"""
    s = settings(["--login-port", "6000", "--reindex-bloat-threshold-pct", "25"], conf,
                 {"PGPORT": "7000", "PGDATABASE": "envdb", "PGUSER": "envuser"})
    assert s["database"] == "frende"          # file over environment
    assert s["login_port"] == 6000            # command line over file
    assert s["login_user"] == "envuser"       # environment when neither sets it
    assert s["reindex_bloat_threshold_pct"] == 25.0
    assert s["log_file"] == "/tmp/from-file.log"
    assert s["monitor_role"] == "frende_monitor"
    assert s["health"]["expected"]["max_connections"] == 300
    assert s["health"]["expected"]["log_connections"] is False
    assert s["health"]["connections_warn_pct"] == 70


@pytest.mark.parametrize("pghost,key", [("localhost", "login_host"), ("/var/run/postgresql", "login_unix_socket")])
def test_pghost_is_host_or_socket(settings, pghost, key):
    s = settings(env={"PGHOST": pghost, "PGDATABASE": "d"})
    assert s[key] == pghost
    other = "login_unix_socket" if key == "login_host" else "login_host"
    assert s[other] is None


def test_socket_in_the_file_wins_over_pghost_and_a_flag_over_both(settings):
    conf = "[maintenance]\ndatabase = d\nlogin_unix_socket = /var/run/postgresql\n"
    s = settings(config_text=conf, env={"PGHOST": "db.example"})
    assert s["login_unix_socket"] == "/var/run/postgresql" and s["login_host"] is None
    s = settings(["--login-host", "db2"], conf, {"PGHOST": "db.example"})
    assert s["login_host"] == "db2" and s["login_unix_socket"] is None
    with pytest.raises(FrendeDbError, match="mutually exclusive"):
        settings(["--database", "d", "--login-host", "db2", "--login-unix-socket", "/run/pg"])


def test_every_key_is_an_option():
    parser = cli.build_parser()
    options = {a.dest for a in parser._actions}
    assert set(cli.KEYS) <= options


@pytest.mark.parametrize("argv,words", [
    (["--reindex-bloat-threshold-pct", "-5"], "--reindex-bloat-threshold-pct must be between 0 and 100"),
    (["--reindex-bloat-threshold-pct", "lots"], "--reindex-bloat-threshold-pct must be a number"),
    (["--reindex-bloat-threshold-pct", "nan"], "--reindex-bloat-threshold-pct must be a number"),
    (["--reindex-min-size-mb", "-1"], "--reindex-min-size-mb must be at least 0"),
    (["--login-port", "0"], "--login-port must be between 1 and 65535"),
    (["--login-port", "http"], "--login-port must be a whole number"),
    (["--connect-timeout", "0"], "--connect-timeout must be at least 1"),
    (["--ssl-mode", "sometimes"], "--ssl-mode must be one of"),
    (["--database", 'x"; DROP TABLE t; --'], "database (--database)"),
    (["--monitor-role", "bad role"], "monitor_role (--monitor-role)"),
    (["--log-file", ""], "--log-file must be a file system path"),
    (["--server-log", " "], "--server-log must be a file system path"),
    (["--ssl-rootcert", ""], "--ssl-rootcert must be a file system path"),
    (["--login-unix-socket", "a\x00b"], "--login-unix-socket must be a file system path"),
    (["--connections-warn-pct", "-10"], "connections_warn_pct must be between 1 and 100"),
    (["--connections-warn-pct", "95"], "must be lower than connections_crit_pct"),
    (["--long-transaction-warn", "a while"], "long_transaction_warn must be a duration"),
    (["--max-backup-age", "0s"], "max_backup_age must be longer than zero"),
    (["--failed-auth-warn", "many"], "failed_auth_warn must be a whole number"),
    (["--expected-log-connections", "maybe"], "expected.log_connections must be true or false"),
    (["--expected-authentication-timeout", "1 fortnight"], "expected.authentication_timeout must be a duration"),
])
def test_bad_values_name_the_option(settings, argv, words):
    with pytest.raises(FrendeDbError) as err:
        settings(["--database", "frende", *argv])
    assert words in str(err.value)


def test_bad_value_in_file_or_environment_names_file_key_or_variable(settings, tmp_path):
    with pytest.raises(FrendeDbError) as err:
        settings(config_text="[maintenance]\ndatabase = frende\nreindex_min_size_mb = big\n")
    assert "%s [maintenance] reindex_min_size_mb must be a number, got 'big'." % (tmp_path / "maintenance.conf") \
        == str(err.value)
    with pytest.raises(FrendeDbError) as err:
        settings(env={"PGDATABASE": "frende", "PGCONNECT_TIMEOUT": "0"})
    assert str(err.value) == "PGCONNECT_TIMEOUT must be at least 1, got 0."


def test_health_error_names_where_values_came_from(settings):
    with pytest.raises(FrendeDbError) as err:
        settings(config_text="[maintenance]\ndatabase = frende\nconnections_crit_pct = 50\n")
    assert "connections_crit_pct from" in str(err.value) and "maintenance.conf" in str(err.value)


@pytest.mark.parametrize("text,words", [
    ("[maintenance]\ndatabse = x\n", "unknown key 'databse' in [maintenance]"),
    ("[other]\ndatabase = x\n", "has no [maintenance] section"),
    ("database = x\n", "is not valid INI"),
    ("[maintenance]\npassword = hunter2\n", "[maintenance] password is refused: passwords are never read from a "
                                            "config file. The password comes only from ~/.pgpass (mode 0600) or "
                                            "PGPASSWORD of the user running frende-db-maintenance."),
    ("[maintenance]\nlogin_password = hunter2\n", "[maintenance] login_password is refused"),
    ("[maintenance]\naction = all\n", "action is chosen on the command line (--action)"),
])
def test_bad_config_files(settings, text, words):
    with pytest.raises(FrendeDbError) as err:
        settings(config_text=text)
    assert words in str(err.value)
    assert "hunter2" not in str(err.value)


def test_missing_config(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "DEFAULT_CONFIG", str(tmp_path / "absent.conf"))
    args = cli.build_parser().parse_args(["--action", "health", "--database", "d"])
    merged = cli.merged_settings(vars(args), {})  # the default file may be missing
    assert merged["database"].origin == "flag" and merged["log_file"].origin == "default"
    args = cli.build_parser().parse_args(["--action", "health", "--config", str(tmp_path / "absent.conf")])
    with pytest.raises(FrendeDbError) as err:
        cli.merged_settings(vars(args), {})
    assert "does not exist" in str(err.value)


def test_no_database_anywhere(settings):
    with pytest.raises(FrendeDbError) as err:
        settings()
    assert "no database given" in str(err.value)


def test_main_usage_errors_exit_2_and_leave_one_error_line_in_the_log(tmp_path, capsys):
    """A refused configuration changes nothing, but it is a failure: cron loses stderr, the log keeps it."""
    log = tmp_path / "m.log"
    conf = tmp_path / "m.conf"
    conf.write_text("[maintenance]\n")
    code = cli.main(["--action", "vacuum", "--database", "frende", "--log-file", str(log),
                     "--reindex-min-size-mb", "-3", "--config", str(conf)])
    assert code == 2
    assert "--reindex-min-size-mb must be at least 0" in capsys.readouterr().err
    lines = [parse(line) for line in log.read_text().splitlines()]
    assert [(e["level"], e["action"], e["event"]) for e in lines] == [("ERROR", "vacuum", "failed")]
    assert "--reindex-min-size-mb must be at least 0" in lines[0]["fields"]["msg"] and lines[0]["fields"]["exit"] == "2"
    code = cli.main(["--action", "vacuum", "--database", "frende", "--log-file", str(log),
                     "--config", str(tmp_path / "none.conf")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert "does not exist" in parse(log.read_text().splitlines()[-1])["fields"]["msg"]
    # The config file's own log_file is used when the config is what is wrong.
    elsewhere = tmp_path / "from-config.log"
    conf.write_text("[maintenance]\ndatabase = frende\nlog_file = %s\nconnections_warn_pct = lots\n" % elsewhere)
    assert cli.main(["--action", "health", "--config", str(conf)]) == 2
    assert "connections_warn_pct" in parse(elsewhere.read_text().splitlines()[-1])["fields"]["msg"]
    assert cli.main(["--action", "sweep"]) == 2
    assert cli.main(["--action", "vacuum", "--password", "x"]) == 2  # no such option, by design


def test_main_json_usage_error(tmp_path, capsys):
    code = cli.main(["--action", "health", "--json", "--config", str(tmp_path / "none.conf"),
                     "--log-file", str(tmp_path / "m.log")])
    assert code == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["failed"] is True and doc["exit_code"] == 2


def test_check_mode_writes_no_log_even_for_a_refused_configuration(tmp_path):
    log = tmp_path / "m.log"
    assert cli.main(["--action", "vacuum", "--check", "--database", "frende", "--log-file", str(log),
                     "--reindex-min-size-mb", "-3", "--config", str(tmp_path / "none.conf")]) == 2
    assert not log.exists()


def test_unwritable_log_file_is_a_usage_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    conf = tmp_path / "m.conf"
    conf.write_text("[maintenance]\n")
    code = cli.main(["--action", "vacuum", "--database", "frende", "--config", str(conf),
                     "--log-file", str(blocker / "sub" / "m.log")])
    assert code == 2
    assert "frende-db-maintenance: Cannot write the log file %s: " % (blocker / "sub" / "m.log") \
        in capsys.readouterr().err


def test_event_log_lines_in_the_one_format(tmp_path):
    path = tmp_path / "logs" / "m.log"
    log = command.EventLog(str(path), cli.PROG)
    log.info("vacuum", "done", database="frende", msg="done\nin two lines")
    log.warning("health", "check", check="ssl", status="degraded", msg="ssl is degraded")
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert " frende-db-maintenance[" in lines[0]
    assert '] INFO action=vacuum event=done database=frende msg="done in two lines"' in lines[0]
    assert '] WARNING action=health event=check check=ssl status=degraded msg="ssl is degraded"' in lines[1]
    assert [parse(line)["prog"] for line in lines] == ["frende-db-maintenance"] * 2


def test_help_lists_every_option(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for key in cli.KEYS:
        assert command.flag_name(key) in text
    assert "--action {all,vacuum,reindex,functions,health,report}" in text
    assert "above this %" in text
