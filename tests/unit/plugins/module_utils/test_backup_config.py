"""Config file + environment + flags merging of the frende-db-backup command."""

import io

import pytest

from ansible_collections.frende.db.plugins.module_utils import _backup_cli as cli
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError


def write(tmp_path, text):
    path = tmp_path / "backup.conf"
    path.write_text(text)
    return str(path)


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
    params = cli.read_config(path, explicit=True)
    assert params["retention_days"] == 14 and params["keep_min"] == 5 and params["jobs"] == 4
    assert params["login_port"] == 5433 and params["deep"] is True
    assert params["encrypt_recipients"].startswith("age1a")


@pytest.mark.parametrize("text,fragment", [
    ("[backup]\nlogin_password = hunter2\n", "password comes only from"),
    ("[backup]\nretention_dayz = 3\n", "unknown key 'retention_dayz'"),
    ("[backup]\njobs = many\n", "jobs must be a whole number"),
    ("[backup]\ndeep = perhaps\n", "deep must be true or false"),
    ("[other]\ndatabase = x\n", "no [backup] section"),
    ("[backup]\naction = backup\n", "--action"),
    ("not an ini file", "Cannot read"),
])
def test_bad_config_is_refused_clearly(tmp_path, text, fragment):
    with pytest.raises(FrendeDbError) as err:
        cli.read_config(write(tmp_path, text), explicit=True)
    assert fragment in str(err.value)
    assert "hunter2" not in str(err.value)


def test_missing_default_config_is_fine_but_missing_explicit_one_is_not(tmp_path):
    assert cli.read_config(str(tmp_path / "none.conf"), explicit=False) == {}
    with pytest.raises(FrendeDbError, match="does not exist"):
        cli.read_config(str(tmp_path / "none.conf"), explicit=True)


def test_priority_defaults_env_config_flags():
    env = dict(PGHOST="db.example", PGPORT="6432", PGUSER="backup", PGSSLMODE="verify-full")
    config = dict(login_port=5433, retention_days=14)
    flags = dict(retention_days="7", login_user=None, keep_min=None)
    params = cli.merge_params(flags, config, env)
    assert params["login_host"] == "db.example"       # from the environment
    assert params["login_user"] == "backup"           # environment, no flag given
    assert params["login_port"] == 5433               # config beats environment
    assert params["retention_days"] == 7              # flag beats config
    assert params["ssl_mode"] == "verify-full"
    assert "keep_min" not in params                   # left to the engine's default


def test_defaults_without_anything():
    params = cli.merge_params({}, {}, {})
    assert params == dict(login_port=5432, login_user="postgres", ssl_mode="prefer", connect_timeout=10)


def test_socket_in_environment_and_host_override():
    assert cli.merge_params({}, {}, dict(PGHOST="/var/run/postgresql"))["login_unix_socket"] == "/var/run/postgresql"
    params = cli.merge_params(dict(login_host="db2"), {}, dict(PGHOST="/var/run/postgresql"))
    assert params["login_host"] == "db2" and "login_unix_socket" not in params
    with pytest.raises(FrendeDbError, match="mutually exclusive"):
        cli.merge_params({}, dict(login_host="a", login_unix_socket="/s"), {})


def test_bad_flag_values_name_the_flag():
    with pytest.raises(FrendeDbError, match="--jobs: jobs must be a whole number"):
        cli.merge_params(dict(jobs="x"), {}, {})
    with pytest.raises(FrendeDbError, match="ssl_mode must be one of"):
        cli.merge_params({}, {}, dict(PGSSLMODE="sometimes"))


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
