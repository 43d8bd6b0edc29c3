"""_report/options: wrong input is refused with the option's name and what it takes."""

import pytest

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._report import options


def params(**over):
    result = dict(options.DEFAULTS, login_unix_socket="/var/run/postgresql", login_db="frende", login_port=5432,
                  database="frende", repository_stanza=None, server_log=None, health={})
    result.update(over)
    return result


def test_the_defaults_are_accepted_and_health_options_pass_through():
    checked, health = options.normalize(params(health=dict(app_role="frende_app", max_backup_age="2d")))
    assert checked["firewall"] == "nftables" and health["app_role"] == "frende_app"
    assert health["max_backup_age"] == 2 * 86400
    assert options.normalize(params(firewall="unchecked"))[0]["firewall"] is None


@pytest.mark.parametrize("over, message", [
    (dict(kinds=[]), "kinds is empty"),
    (dict(window_days=0), "window_days must be a whole number of days from 1 to 366, not 0"),
    (dict(window_days=367), "not 367"),
    (dict(window_days=True), "not True"),
    (dict(audit_log="audit.log"), "audit_log must be an absolute path, not 'audit.log'"),
    (dict(backup_dir=""), "backup_dir must be an absolute path"),
    (dict(health=dict(fail_on="never")), "health has unknown option(s) fail_on"),
    (dict(health=dict(password_max_age="often")), "password_max_age"),
    (dict(database="bad name;"), "database"),
    (dict(pgbackrest_user="root; rm"), "pgbackrest_user must be an OS user name such as postgres"),
])
def test_wrong_input_is_refused(over, message):
    with pytest.raises(FrendeDbError) as exc:
        options.normalize(params(**over))
    assert message in exc.value.msg


def test_the_spec_holds_every_default():
    spec = options.argument_spec()
    for key, value in options.DEFAULTS.items():
        assert spec[key]["default"] == value, key
