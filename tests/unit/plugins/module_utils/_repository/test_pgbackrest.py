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
