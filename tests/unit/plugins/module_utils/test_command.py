"""_command: what frende-db-backup and frende-db-maintenance share (settings, value checks, the event log)."""

import datetime
import io
import os
import pwd
import re
import stat
from pathlib import Path

import pytest

from ansible_collections.frende.db.plugins.module_utils import _command as command
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.tests.support.log_lines import parse

KNOWN = ("database", "login_host", "login_unix_socket", "login_port", "jobs")


def config(tmp_path, text, section="demo", explicit=True):
    path = tmp_path / "demo.conf"
    path.write_text(text)
    return command.read_config(str(path), section, KNOWN, explicit, "frende-db-demo")


# -- config file ---------------------------------------------------------------

def test_config_values_keep_their_text_and_say_where_they_came_from(tmp_path):
    layer = config(tmp_path, "[demo]\ndatabase = frende \nlogin-port = 5433\n")
    assert layer["database"] == command.Setting("frende", "config", "%s [demo] database" % (tmp_path / "demo.conf"))
    assert layer["login_port"].value == "5433"  # converted by the command, which knows the type
    assert layer["login_port"].where.endswith("[demo] login-port")  # as the operator wrote it


@pytest.mark.parametrize("key", ["password", "login_password", "PGPASSWORD", "login-password", "app_password",
                                 "passwd"])
def test_a_password_key_is_refused_without_echoing_it(tmp_path, key):
    with pytest.raises(FrendeDbError) as err:
        config(tmp_path, "[demo]\n%s = hunter2\n" % key)
    text = str(err.value)
    assert "passwords are never read from a config file" in text
    assert "~/.pgpass (mode 0600) or PGPASSWORD of the user running frende-db-demo" in text
    assert "[demo] %s is refused" % key.lower() in text  # configparser folds key case
    assert "hunter2" not in text


def test_a_known_setting_about_passwords_is_not_taken_for_a_password(tmp_path):
    path = tmp_path / "demo.conf"
    path.write_text("[demo]\nexpected_password_encryption = scram-sha-256\n")
    layer = command.read_config(str(path), "demo", KNOWN + ("expected_password_encryption",), True, "frende-db-demo")
    assert layer["expected_password_encryption"].value == "scram-sha-256"


@pytest.mark.parametrize("text,words", [
    ("[demo]\ndatabse = x\n", "unknown key 'databse' in [demo]; known keys: database, jobs, login_host, "
                              "login_port, login_unix_socket."),
    ("[demo]\naction = backup\n", "action is chosen on the command line (--action), not in the config file."),
    ("[other]\ndatabase = x\n", "has no [demo] section."),
    ("database = x\n", "is not valid INI: File contains no section headers."),
    ("[demo]\ndatabase = a\ndatabase = b\n", "is not valid INI"),
])
def test_bad_config_files_say_what_is_wrong(tmp_path, text, words):
    with pytest.raises(FrendeDbError) as err:
        config(tmp_path, text)
    assert words in str(err.value)
    assert str(tmp_path / "demo.conf") in str(err.value)


def test_unreadable_config_files(tmp_path):
    (tmp_path / "demo.conf").write_bytes(b"[demo]\ndatabase = \xff\xfe\n")
    with pytest.raises(FrendeDbError, match="Cannot read the config file .*demo.conf"):
        command.read_config(str(tmp_path / "demo.conf"), "demo", KNOWN, True, "p")
    with pytest.raises(FrendeDbError, match="Cannot read the config file"):
        command.read_config(str(tmp_path), "demo", KNOWN, True, "p")  # a directory


def test_missing_config_file_is_an_error_only_when_named(tmp_path):
    assert command.read_config(str(tmp_path / "none.conf"), "demo", KNOWN, False, "p") == {}
    with pytest.raises(FrendeDbError) as err:
        command.read_config(str(tmp_path / "none.conf"), "demo", KNOWN, True, "p")
    assert "The config file %s does not exist (given with --config)." % (tmp_path / "none.conf") == str(err.value)


# -- libpq environment -----------------------------------------------------------

@pytest.mark.parametrize("pghost,key,other", [
    ("db.example.org", "login_host", "login_unix_socket"),
    ("10.0.0.5", "login_host", "login_unix_socket"),
    ("/var/run/postgresql", "login_unix_socket", "login_host"),
])
def test_pghost_is_a_socket_directory_or_a_host(pghost, key, other):
    layer = command.environment(dict(PGHOST=pghost), database_key="login_db")
    assert layer[key] == command.Setting(pghost, "environment", "PGHOST")
    assert other not in layer


def test_every_pg_variable_and_the_database_key():
    env = dict(PGPORT="6432", PGUSER="backup", PGSSLMODE="verify-full", PGSSLROOTCERT="/etc/ca.crt",
               PGCONNECT_TIMEOUT="4", PGDATABASE="frende", PGPASSWORD="hunter2", PGHOST="")
    layer = command.environment(env, database_key="database")
    assert dict((k, s.value) for k, s in layer.items()) == dict(
        login_port="6432", login_user="backup", ssl_mode="verify-full", ssl_rootcert="/etc/ca.crt",
        connect_timeout="4", database="frende")
    assert layer["login_port"].where == "PGPORT" and layer["database"].where == "PGDATABASE"
    assert "hunter2" not in repr(layer)  # libpq reads PGPASSWORD itself; it is never a setting
    assert command.environment(env, database_key="login_db")["login_db"].value == "frende"


# -- merge -----------------------------------------------------------------------

def test_priority_defaults_environment_config_flags(tmp_path):
    layers = [command.defaults(dict(login_port=5432, jobs=1, database=None)),
              command.environment(dict(PGPORT="6000", PGDATABASE="envdb"), "database"),
              config(tmp_path, "[demo]\nlogin_port = 6001\ndatabase = confdb\n"),
              command.flags(dict(login_port="6002", jobs=None, database=None))]
    merged = command.merge(*layers)
    assert merged["login_port"] == command.Setting("6002", "flag", "--login-port")
    assert merged["database"].value == "confdb" and merged["database"].origin == "config"
    assert merged["jobs"] == command.Setting(1, "default", "jobs (default)")  # an unset flag is not given
    without_flags = command.merge(*layers[:3])
    assert without_flags["login_port"].value == "6001"
    assert command.merge(*layers[:2])["login_port"] == command.Setting("6000", "environment", "PGPORT")
    assert command.merge(layers[0])["login_port"].value == 5432
    assert "database" not in command.merge(layers[0])  # a None default is no value


def test_host_and_socket_exclude_each_other_within_a_layer(tmp_path):
    with pytest.raises(FrendeDbError) as err:
        command.merge(config(tmp_path, "[demo]\nlogin_host = db\nlogin_unix_socket = /run/pg\n"))
    assert "login_host (%s [demo] login_host) and login_unix_socket" % (tmp_path / "demo.conf") in str(err.value)
    assert "mutually exclusive; give one of them" in str(err.value)
    with pytest.raises(FrendeDbError, match=r"login_host \(--login-host\) and login_unix_socket \(--login-unix"):
        command.merge(command.flags(dict(login_host="db", login_unix_socket="/run/pg")))


def test_a_higher_layer_naming_one_drops_the_other(tmp_path):
    socket_env = command.environment(dict(PGHOST="/var/run/postgresql"), "login_db")
    merged = command.merge(socket_env, command.flags(dict(login_host="db2")))
    assert merged["login_host"].value == "db2" and "login_unix_socket" not in merged
    host_file = config(tmp_path, "[demo]\nlogin_host = db1\n")
    merged = command.merge(host_file, command.flags(dict(login_unix_socket="/run/pg")))
    assert merged["login_unix_socket"].value == "/run/pg" and "login_host" not in merged
    merged = command.merge(socket_env, host_file)
    assert merged["login_host"].where.endswith("[demo] login_host") and "login_unix_socket" not in merged


# -- value checks ------------------------------------------------------------------

@pytest.mark.parametrize("call,words", [
    (lambda: command.to_int("many", "--jobs"), "--jobs must be a whole number, got 'many'."),
    (lambda: command.to_int("1.5", "PGPORT"), "PGPORT must be a whole number, got '1.5'."),
    (lambda: command.to_int(True, "jobs"), "jobs must be a whole number, got True."),
    (lambda: command.to_int("", "jobs"), "jobs must be a whole number, got ''."),
    (lambda: command.to_int("0", "--login-port", 1, 65535), "--login-port must be between 1 and 65535, got 0."),
    (lambda: command.to_int(70000, "login_port", 1, 65535), "login_port must be between 1 and 65535, got 70000."),
    (lambda: command.to_int(" -1 ", "keep_min", 1), "keep_min must be at least 1, got -1."),
    (lambda: command.to_int(11, "level", None, 10), "level must be at most 10, got 11."),
    (lambda: command.to_number("lots", "pct"), "pct must be a number, got 'lots'."),
    (lambda: command.to_number("nan", "pct"), "pct must be a number, got 'nan'."),
    (lambda: command.to_number("inf", "pct", 0), "pct must be a number, got 'inf'."),
    (lambda: command.to_number(False, "pct"), "pct must be a number, got False."),
    (lambda: command.to_number("-5", "pct", 0, 100), "pct must be between 0 and 100, got -5."),
    (lambda: command.to_bool("perhaps", "deep"), "deep must be true or false (yes/no, on/off, 1/0), got 'perhaps'."),
    (lambda: command.to_choice("sometimes", "PGSSLMODE", ["disable", "require"]),
     "PGSSLMODE must be one of disable, require, got 'sometimes'."),
    (lambda: command.to_path("", "--log-file"), "--log-file must be a file system path, got ''."),
    (lambda: command.to_path("  ", "log_file"), "log_file must be a file system path, got '  '."),
    (lambda: command.to_path("a\x00b", "log_file"), "log_file must be a file system path, got 'a\\x00b'."),
    (lambda: command.to_path(5, "log_file"), "log_file must be a file system path, got 5."),
    (lambda: command.to_path("rel/dir", "backup_dir", absolute=True),
     "backup_dir must be an absolute path, got 'rel/dir'."),
])
def test_bad_values_get_one_kind_of_message(call, words):
    with pytest.raises(FrendeDbError) as err:
        call()
    assert str(err.value) == words


def test_good_values_convert():
    assert command.to_int(" 42 ", "x") == 42 and command.to_int(7, "x", 1, 7) == 7
    assert command.to_number("12.5", "x", 0, 100) == 12.5 and command.to_number(3, "x") == 3.0
    assert [command.to_bool(v, "x") for v in ("yes", "On", "1", "true", True)] == [True] * 5
    assert [command.to_bool(v, "x") for v in ("no", "OFF", "0", "false", False)] == [False] * 5
    assert command.to_choice("tlsv1.3", "x", ["TLSv1.2", "TLSv1.3"]) == "TLSv1.3"
    assert command.to_path(None, "x") is None and command.to_path("/a b", "x", absolute=True) == "/a b"


# -- the one line format -------------------------------------------------------------

MOMENT = datetime.datetime(2026, 5, 3, 1, 0, 2, tzinfo=datetime.timezone.utc)


def test_line_format_is_one_for_every_command():
    line = command.format_line("frende-db-backup", 4242, MOMENT, "ERROR", "backup", "failed",
                               dict(msg="No space left\non device", database="frende", size=12, seconds=1.5,
                                    encrypted=False, name="two words", skipped=None))
    assert line == ('2026-05-03T01:00:02Z frende-db-backup[4242] ERROR action=backup event=failed database=frende '
                    'size=12 seconds=1.500 encrypted=no name="two words" msg="No space left on device"')
    assert parse(line)["fields"] == dict(database="frende", size="12", seconds="1.500", encrypted="no",
                                         name="two words", msg="No space left on device")


def test_values_that_could_break_a_line_are_quoted():
    line = command.format_line("p", 1, MOMENT, "INFO", "a", "e", dict(note='x" event=forged', empty=""))
    assert line.endswith('note="x\\" event=forged" empty=""')
    assert parse(line)["fields"] == dict(note='x" event=forged', empty="")
    with pytest.raises(ValueError):
        command.format_line("p", 1, MOMENT, "DEBUG", "a", "e", {})


# -- the event log file ----------------------------------------------------------

def test_log_creates_directory_0750_and_file_0640_whatever_the_umask(tmp_path):
    path = tmp_path / "logs" / "demo.log"
    old = os.umask(0o077)
    try:
        log = command.EventLog(str(path), "frende-db-demo")
        log.open_check()
        log.info("backup", "start", database="frende")
        log.warning("backup", "leftover-removed", file="x.partial")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    entries = [parse(line) for line in path.read_text().splitlines()]
    assert [(e["prog"], e["pid"], e["level"], e["action"], e["event"]) for e in entries] == [
        ("frende-db-demo", str(os.getpid()), "INFO", "backup", "start"),
        ("frende-db-demo", str(os.getpid()), "WARNING", "backup", "leftover-removed")]


def test_a_field_may_be_called_level(tmp_path):
    log = command.EventLog(str(tmp_path / "d.log"), "p")
    log.info("verify", "ok", level="quick")  # how thorough a verification was, not the line's level
    entry = parse((tmp_path / "d.log").read_text().strip())
    assert entry["level"] == "INFO" and entry["fields"] == dict(level="quick")


def test_disabled_log_writes_nothing_and_echo_gets_warnings_and_errors(tmp_path):
    path = tmp_path / "logs" / "d.log"
    command.EventLog(str(path), "p", enabled=False).open_check()
    command.EventLog(str(path), "p", enabled=False).error("backup", "failed")
    assert not path.parent.exists()
    echo = io.StringIO()
    log = command.EventLog(str(path), "p", echo=echo)
    log.info("health", "done", status="healthy")
    log.warning("health", "check", check="ssl", status="degraded")
    log.error("health", "failed", msg="boom")
    shown = echo.getvalue().splitlines()
    assert [parse(line)["level"] for line in shown] == ["WARNING", "ERROR"]
    assert len(path.read_text().splitlines()) == 3


def test_unwritable_log_fails_clearly_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    log = command.EventLog(str(blocker / "sub" / "d.log"), "p")
    with pytest.raises(FrendeDbError) as err:
        log.open_check()
    assert str(err.value).startswith("Cannot write the log file %s: " % (blocker / "sub" / "d.log"))
    assert "Set log_file (or --log-file) to a writable path." in str(err.value)
    with pytest.raises(FrendeDbError, match="Cannot write the log file"):
        log.info("backup", "start")


def test_a_symbolic_link_as_log_file_is_refused(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    (tmp_path / "d.log").symlink_to(target)
    log = command.EventLog(str(tmp_path / "d.log"), "p")
    with pytest.raises(FrendeDbError) as err:
        log.open_check()
    assert "it is a symbolic link" in str(err.value)
    with pytest.raises(FrendeDbError):
        log.info("backup", "start")
    assert target.read_text() == "precious\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files away needs root")
def test_as_root_new_files_go_to_the_database_user_existing_ones_keep_theirs(tmp_path):
    nobody = pwd.getpwnam("nobody")
    ids = (nobody.pw_uid, nobody.pw_gid)
    assert command.os_user_ids("nobody") == ids
    with pytest.raises(KeyError):
        command.os_user_ids("no-such-user-here")
    path = tmp_path / "logs" / "d.log"
    command.EventLog(str(path), "p", owner_ids=ids).info("backup", "start")
    assert (os.stat(path.parent).st_uid, os.stat(path.parent).st_gid) == ids
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == ids
    existing = tmp_path / "logs" / "kept.log"
    existing.write_text("")
    os.chown(existing, 0, 4)  # root:adm, as the role creates its logs
    command.EventLog(str(existing), "p", owner_ids=ids).info("backup", "start")
    assert (os.stat(existing).st_uid, os.stat(existing).st_gid) == (0, 4)
    assert parse(existing.read_text().strip())["event"] == "start"


def test_the_runbook_shows_lines_in_the_format():
    runbook = Path(__file__).resolve().parents[4] / "docs" / "runbook.md"
    examples = [line for line in runbook.read_text().splitlines() if re.match(r"^\d{4}-\d\d-\d\dT", line)]
    assert len(examples) == 2
    assert [parse(line)["prog"] for line in examples] == ["frende-db-backup", "frende-db-maintenance"]
