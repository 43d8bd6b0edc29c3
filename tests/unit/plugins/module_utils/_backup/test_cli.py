"""Config file + environment + flags merging of the frende-db-backup command."""

import io

import pytest

from ansible_collections.frende.db.plugins.module_utils._backup import cli
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError


def write(tmp_path, text):
    path = tmp_path / "backup.conf"
    path.write_text(text)
    return str(path)


def from_file(path, explicit=True):
    return cli.settings({}, path, explicit, {})


def test_config_keys_are_the_module_option_names(tmp_path):
    path = write(tmp_path, """[backup]
backup_dir = /srv/backups
database = frende
retention_days = 14
keep_min = 5
compression = gzip
encrypt_recipients = age1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, age1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
jobs = 4
rto_target = 20min
login_unix_socket = /var/run/postgresql
login_port = 5433
deep = yes
""")
    params = from_file(path)
    assert params["retention_days"] == 14 and params["keep_min"] == 5 and params["jobs"] == 4
    assert params["login_port"] == 5433 and params["deep"] is True
    assert params["encrypt_recipients"].startswith("age1a")
    assert params["backup_dir"] == "/srv/backups" and params["compression"] == "gzip"


@pytest.mark.parametrize("text,fragment", [
    ("[backup]\nlogin_password = hunter2\n",
     "[backup] login_password is refused: passwords are never read from a config file. The password comes only "
     "from ~/.pgpass (mode 0600) or PGPASSWORD of the user running frende-db-backup."),
    ("[backup]\nretention_dayz = 3\n", "unknown key 'retention_dayz' in [backup]"),
    ("[backup]\njobs = many\n", "backup.conf [backup] jobs must be a whole number, got 'many'."),
    ("[backup]\ndeep = perhaps\n", "backup.conf [backup] deep must be true or false"),
    ("[backup]\ncompression = lz4\n", "backup.conf [backup] compression must be one of zstd, gzip, got 'lz4'."),
    ("[backup]\nlog_file =\n", "backup.conf [backup] log_file must be a file system path, got ''."),
    ("[other]\ndatabase = x\n", "no [backup] section"),
    ("[backup]\naction = backup\n", "--action"),
    ("not an ini file", "is not valid INI"),
])
def test_bad_config_is_refused_clearly(tmp_path, text, fragment):
    with pytest.raises(FrendeDbError) as err:
        from_file(write(tmp_path, text))
    assert fragment in str(err.value)
    assert "hunter2" not in str(err.value)


def test_missing_default_config_is_fine_but_missing_explicit_one_is_not(tmp_path):
    assert from_file(str(tmp_path / "none.conf"), explicit=False) == cli.CONNECTION_DEFAULTS
    with pytest.raises(FrendeDbError, match="does not exist"):
        from_file(str(tmp_path / "none.conf"))


def test_priority_defaults_env_config_flags(tmp_path):
    env = dict(PGHOST="db.example", PGPORT="6432", PGUSER="backup", PGSSLMODE="verify-full", PGDATABASE="admin")
    path = write(tmp_path, "[backup]\nlogin_port = 5433\nretention_days = 14\n")
    flags = dict(retention_days="7", login_user=None, keep_min=None)
    params = cli.settings(flags, path, True, env)
    assert params["login_host"] == "db.example"       # from the environment
    assert params["login_user"] == "backup"           # environment, no flag given
    assert params["login_port"] == 5433               # config beats environment
    assert params["retention_days"] == 7              # flag beats config
    assert params["ssl_mode"] == "verify-full"
    assert params["login_db"] == "admin"              # PGDATABASE: the maintenance database
    assert params["connect_timeout"] == 10            # built-in default
    assert "keep_min" not in params                   # left to the engine's default


def test_defaults_without_anything(tmp_path):
    params = cli.settings({}, str(tmp_path / "none.conf"), False, {})
    assert params == dict(login_port=5432, login_user="postgres", ssl_mode="prefer", connect_timeout=10)


def test_socket_in_environment_and_host_override(tmp_path):
    none = str(tmp_path / "none.conf")
    assert cli.settings({}, none, False, dict(PGHOST="/var/run/postgresql"))["login_unix_socket"] == \
        "/var/run/postgresql"
    params = cli.settings(dict(login_host="db2"), none, False, dict(PGHOST="/var/run/postgresql"))
    assert params["login_host"] == "db2" and "login_unix_socket" not in params
    with pytest.raises(FrendeDbError, match="mutually exclusive"):
        from_file(write(tmp_path, "[backup]\nlogin_host = a\nlogin_unix_socket = /s\n"))


def test_bad_values_name_the_flag_or_variable(tmp_path):
    none = str(tmp_path / "none.conf")
    with pytest.raises(FrendeDbError, match="^--jobs must be a whole number, got 'x'.$"):
        cli.settings(dict(jobs="x"), none, False, {})
    with pytest.raises(FrendeDbError, match="^PGSSLMODE must be one of disable, allow, prefer, require, "
                                            "verify-ca, verify-full, got 'sometimes'.$"):
        cli.settings({}, none, False, dict(PGSSLMODE="sometimes"))
    with pytest.raises(FrendeDbError, match="^PGPORT must be a whole number, got 'fivefour'.$"):
        cli.settings({}, none, False, dict(PGPORT="fivefour"))


def test_parser_has_no_password_flag_and_checks_actions():
    parser = cli.build_parser()
    flags = [opt for action in parser._actions for opt in action.option_strings]
    assert "--backup-file" in flags and "--identity-file" in flags and "--no-keep-previous" in flags
    assert not any("password" in flag for flag in flags)
    err = io.StringIO()
    import contextlib
    with contextlib.redirect_stderr(err):
        assert cli.main(["--action", "explode"], environ={}, out=io.StringIO(), err=err) == 2
    assert "invalid choice: 'explode'" in err.getvalue()
