"""Reading pgBackRest's info document (a real one, taken from pgBackRest 2.45 on Debian 12)."""

import os

import pytest

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._repository import pgbackrest

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "pgbackrest-info-2.45.json")


def entry():
    with open(FIXTURE) as handle:
        return pgbackrest.parse_info(handle.read(), "frende")


def test_backups_oldest_first_with_sizes_and_times():
    backups = pgbackrest.backups(entry())
    assert [b["type"] for b in backups] == ["full", "diff"]
    assert backups[0]["label"] == "20261202-045344F"
    assert backups[0]["stop"] < backups[1]["stop"]
    assert backups[1]["size"] == 23325038 and backups[1]["repo_size"] == 32864


def test_status_and_archive_range():
    assert pgbackrest.status(entry()) == (0, "ok")
    assert pgbackrest.archive_range(entry()) == ("000000010000000000000001", "000000010000000000000008")


def test_a_missing_stanza_says_how_to_create_it():
    with open(FIXTURE) as handle:
        text = handle.read()
    with pytest.raises(FrendeDbError, match="no stanza 'other'.*frende_backup"):
        pgbackrest.parse_info(text, "other")


def test_not_json_is_a_clear_error():
    with pytest.raises(FrendeDbError, match="did not return JSON"):
        pgbackrest.parse_info("ERROR: [055]", "frende")


def test_the_postgresql_version_of_a_backup_comes_from_its_database_entry():
    backups = pgbackrest.backups(entry())
    assert backups[-1]["db_id"] == 1
    assert pgbackrest.db_version(entry(), backups[-1]["db_id"]) == "15"
    # After a stanza-upgrade the stanza has two databases: the newest backup's one decides.
    upgraded = dict(entry(), db=[dict(id=1, version="15"), dict(id=2, version="17")])
    assert pgbackrest.db_version(upgraded) == "17"
    assert pgbackrest.db_version(upgraded, 1) == "15"
    assert pgbackrest.db_version(dict(entry(), db=[])) is None


def test_run_as_another_os_user_goes_through_runuser(monkeypatch):
    seen = {}

    class Done:
        returncode, stdout, stderr = 0, "[]", ""

    def fake_run(argv, **kwargs):
        seen["argv"] = argv
        return Done()
    monkeypatch.setattr(pgbackrest.subprocess, "run", fake_run)
    pgbackrest.run(["info"], "frende", user="postgres")
    assert seen["argv"][:5] == ["runuser", "-u", "postgres", "--", pgbackrest.PGBACKREST]
    pgbackrest.run(["info"], "frende")
    assert seen["argv"][0] == pgbackrest.PGBACKREST


def test_an_error_that_quotes_undecryptable_bytes_is_a_clear_error(monkeypatch, tmp_path):
    # pgBackRest with a wrong passphrase quotes what it could not decrypt: not UTF-8.
    script = tmp_path / "pgbackrest"
    script.write_bytes(b"#!/bin/sh\nprintf 'ERROR: [043]: cipher \\226\\377 invalid\\n' >&2\nexit 43\n")
    script.chmod(0o755)
    monkeypatch.setattr(pgbackrest, "PGBACKREST", str(script))
    with pytest.raises(FrendeDbError) as raised:
        pgbackrest.info("frende")
    assert "pgbackrest --output=json info failed (exit 43): ERROR: [043]: cipher" in str(raised.value)
    assert "\ufffd" in str(raised.value)


def test_a_repository_it_cannot_decrypt_says_which_file():
    # pgBackRest 2.45 with a wrong passphrase: exit 0, status 99, the file's undecryptable bytes in the message.
    text = ('[{"archive":[],"backup":[],"db":[],"name":"frende","repo":[{"key":1,"status":{"code":99,"message":'
            '"[FormatError] unable to load info file \'/var/lib/pgbackrest/backup/frende/backup.info\':\\n'
            'FormatError: key/value found outside of section at line 1: 9\x1e\x1brM\\n"}}],'
            '"status":{"code":99,"lock":{"backup":{"held":false}},"message":"other"}}]')
    code, message = pgbackrest.status(pgbackrest.parse_info(text, "frende"))
    assert code == 99
    assert message == "[FormatError] unable to load info file '/var/lib/pgbackrest/backup/frende/backup.info':"


def test_only_ok_and_no_backup_yet_are_a_repository_that_was_read():
    assert [code for code in (0, 1, 2, 3, 99, -1) if pgbackrest.readable(code)] == [0, 2]
    entry = {"status": {"code": 1, "message": "missing stanza path"},
             "repo": [{"status": {"code": 1, "message": "missing stanza path"}}]}
    assert pgbackrest.status(entry) == (1, "missing stanza path")
