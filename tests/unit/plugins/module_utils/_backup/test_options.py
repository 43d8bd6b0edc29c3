import pytest

from ansible_collections.frende.db.plugins.module_utils._backup.options import normalize, parse_recipients
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError

RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def test_defaults():
    p = normalize(dict(action="list"))
    assert p["backup_dir"] == "/var/backups/frende/database"
    assert p["retention_days"] == 30 and p["keep_min"] == 3 and p["compression_level"] == 4
    assert p["rto_target_s"] == 1800 and p["rpo_target_s"] == 86400 and p["lock_timeout_s"] == 0
    assert p["jobs"] >= 1 and p["recipients"] == []


@pytest.mark.parametrize("params,fragment", [
    (dict(action="explode"), "action must be one of"),
    (dict(action="backup"), "needs database"),
    (dict(action="restore"), "needs backup_file"),
    (dict(action="backup", database='x"; DROP TABLE t; --'), "database"),
    (dict(action="restore", backup_file="latest", target_database="a b"), "target_database"),
    (dict(action="list", retention_days=0), "retention_days must be at least 1"),
    (dict(action="list", keep_min=-1), "keep_min must be at least 1"),
    (dict(action="list", jobs=0), "jobs must be between 1 and 64"),
    (dict(action="list", jobs="x"), "jobs must be a whole number"),
    (dict(action="list", compression="lz4"), "compression must be one of"),
    (dict(action="list", compression_level=22), "compression_level must be between 1 and 19"),
    (dict(action="list", compression="gzip", compression_level=12), "between 1 and 9"),
    (dict(action="list", rto_target="soon"), "rto_target must be a duration"),
    (dict(action="list", rpo_target="0s"), "rpo_target must be longer than zero"),
    (dict(action="list", lock_timeout="-1s"), "lock_timeout"),
    (dict(action="list", backup_dir="relative/dir"), "backup_dir must be an absolute path"),
    (dict(action="list", identity_file="key.txt"), "identity_file must be an absolute path"),
    (dict(action="list", owner="bad user"), "owner must be an OS user name"),
    (dict(action="list", globals="sometimes"), "globals must be one of"),
])
def test_bad_values_fail_clearly(params, fragment):
    with pytest.raises(FrendeDbError) as err:
        normalize(params)
    assert fragment in str(err.value)


def test_recipients_split_on_whitespace_and_commas():
    assert parse_recipients("%s, %s\n%s" % (RECIPIENT, RECIPIENT, RECIPIENT)) == [RECIPIENT] * 3
    assert parse_recipients([RECIPIENT]) == [RECIPIENT]


def test_a_private_identity_is_refused_without_echoing_it():
    secret = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
    with pytest.raises(FrendeDbError) as err:
        parse_recipients(secret)
    assert secret not in str(err.value)
    assert "never belongs on the database host" in str(err.value)
