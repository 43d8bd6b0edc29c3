"""Copying a database host's logical sets: which sets, and a copy that is whole or is not there at all.

``fetch`` reads a directory standing for the database host's backup directory; the transport itself
(pgBackRest repo-get from the database host's TLS server) is tested in tests/integration/test_copy_sets.py.
"""

import hashlib
import json
import os

import pytest

from ansible_collections.frende.db.plugins.module_utils import _command as command
from ansible_collections.frende.db.plugins.module_utils._backup import catalog
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._repository import logical_copy

OLD, NEW = "frende-20261128T020000Z", "frende-20261129T020000Z"


def make_set(directory, name, dump=b"dump bytes", globals_=b"globals bytes", changes=None):
    directory.mkdir(exist_ok=True)
    files = {}
    for role, suffix, data in (("dump", ".dump.zst", dump), ("globals", ".globals.sql.zst", globals_)):
        (directory / (name + suffix)).write_bytes(data)
        files[role] = dict(name=name + suffix, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest = dict(format_version=1, name=name, database="frende", server_version="15.18",
                    started_at="2026-11-28T02:00:00+00:00", finished_at="2026-11-28T02:00:41+00:00",
                    compression="zstd", encrypted=False, recipients=[], files=files, tables={"public.t": 1})
    manifest.update(changes or {})
    (directory / (name + catalog.MANIFEST_SUFFIX)).write_text(json.dumps(manifest))
    return manifest


def fetcher(source, seen=None):
    def fetch(name, write):
        if seen is not None:
            seen.append(name)
        write((source / name).read_bytes())
    return fetch


def listing(directory):
    return dict((p.name, dict(type="file", size=p.stat().st_size)) for p in directory.iterdir())


@pytest.fixture
def log(tmp_path):
    return command.EventLog(str(tmp_path / "backup.log"), "frende-db-repository")


def test_only_complete_sets_of_the_database_count_oldest_first():
    found = logical_copy.remote_sets({
        ".": dict(type="path"),
        NEW + ".manifest.json": dict(type="file"), NEW + ".dump.zst": dict(type="file"),
        OLD + ".manifest.json": dict(type="file"),
        "frende-20261130T020000Z.dump.zst": dict(type="file"),  # still being written: no manifest yet
        ".frende-20261130T020000Z.manifest.json.99.partial": dict(type="file"),
        "sub/" + OLD + ".manifest.json": dict(type="file"),
        "other-20261127T020000Z.manifest.json": dict(type="link"),
        "notes.manifest.json": dict(type="file"),
    })
    assert found == [OLD, NEW]
    assert logical_copy.plan(found + ["other-20261101T000000Z"], [OLD], "frende") == [NEW]
    assert logical_copy.plan(found, [OLD, NEW]) == []


def test_new_sets_are_copied_whole_with_their_check_and_logged(tmp_path, log):
    source, target = tmp_path / "db", tmp_path / "copies"
    make_set(source, OLD)
    make_set(source, NEW, dump=b"x" * 3000000)
    result = logical_copy.copy_sets("frende", str(target), log, fetch=fetcher(source), listing=listing(source))
    assert result["copied"] == [OLD, NEW] and result["refused"] == []
    for name in (OLD, NEW):
        for suffix in (".dump.zst", ".globals.sql.zst", ".manifest.json"):
            assert (target / (name + suffix)).read_bytes() == (source / (name + suffix)).read_bytes()
        check = json.loads((target / (name + ".verify.json")).read_text())
        assert check["ok"] is True and check["level"] == "checksum-only"
    assert not [p for p in os.listdir(target) if p.endswith(".partial")]
    lines = (tmp_path / "backup.log").read_text().splitlines()
    assert sum("event=copied" in line and "backup=%s" % NEW in line for line in lines) == 1
    assert "event=done stanza=frende copied=2 refused=0 kept=2" in lines[-1]


def test_a_second_run_fetches_nothing_and_a_set_here_is_never_replaced(tmp_path, log):
    source, target = tmp_path / "db", tmp_path / "copies"
    make_set(source, OLD)
    logical_copy.copy_sets("frende", str(target), log, fetch=fetcher(source), listing=listing(source))
    kept = (target / (OLD + ".dump.zst")).read_bytes()
    make_set(source, OLD, dump=b"rewritten on the database host")  # a compromised host rewrites its set
    seen = []
    result = logical_copy.copy_sets("frende", str(target), log, fetch=fetcher(source, seen), listing=listing(source))
    assert (result["copied"], seen) == ([], [])
    assert (target / (OLD + ".dump.zst")).read_bytes() == kept


def test_a_file_that_does_not_match_its_manifest_leaves_no_set_and_fails(tmp_path, log):
    source, target = tmp_path / "db", tmp_path / "copies"
    make_set(source, OLD)
    make_set(source, NEW)
    (source / (NEW + ".dump.zst")).write_bytes(b"dump bytez")  # same size, other contents
    with pytest.raises(FrendeDbError) as failed:
        logical_copy.copy_sets("frende", str(target), log, fetch=fetcher(source), listing=listing(source))
    assert "SHA-256 of %s.dump.zst" % NEW in str(failed.value) and "1 new set(s) copied" in str(failed.value)
    assert [b["name"] for b in catalog.list_backups(str(target))] == [OLD]
    assert sorted(os.listdir(target)) == sorted([".frende-db-backup.lock"] + [
        OLD + s for s in (".dump.zst", ".globals.sql.zst", ".manifest.json", ".verify.json")])
    assert "WARNING" in (tmp_path / "backup.log").read_text()


@pytest.mark.parametrize("changes, words", [
    (dict(format_version=2), "format_version"),
    (dict(files=dict(dump=dict(name="../../etc/passwd", size=1, sha256="a" * 64),
                     globals=dict(name=NEW + ".globals.sql.zst", size=1, sha256="a" * 64))), "files.dump.name"),
    (dict(name=OLD), "belongs to set"),
])
def test_a_manifest_that_is_not_sound_is_refused_before_any_file_is_fetched(tmp_path, log, changes, words):
    source, target = tmp_path / "db", tmp_path / "copies"
    make_set(source, NEW, changes=changes)
    seen = []
    with pytest.raises(FrendeDbError) as failed:
        logical_copy.copy_sets("frende", str(target), log, fetch=fetcher(source, seen), listing=listing(source))
    assert words in str(failed.value)
    assert seen == [NEW + ".manifest.json"]
    assert catalog.list_backups(str(target)) == []


def test_a_different_file_under_the_same_name_here_is_kept(tmp_path, log):
    source, target = tmp_path / "db", tmp_path / "copies"
    make_set(source, NEW)
    target.mkdir()
    (target / (NEW + ".dump.zst")).write_bytes(b"already here")
    with pytest.raises(FrendeDbError) as failed:
        logical_copy.copy_sets("frende", str(target), log, fetch=fetcher(source), listing=listing(source))
    assert "other contents" in str(failed.value)
    assert (target / (NEW + ".dump.zst")).read_bytes() == b"already here"
    assert catalog.list_backups(str(target)) == []


def test_the_leftovers_of_a_killed_copy_are_removed_and_the_set_copied(tmp_path, log):
    source, target = tmp_path / "db", tmp_path / "copies"
    make_set(source, NEW)
    target.mkdir()
    dead = 2 ** 22 + 12345  # above pid_max's default: no such process
    (target / catalog.partial_name(NEW + ".dump.zst", dead)).write_bytes(b"half")
    result = logical_copy.copy_sets("frende", str(target), log, fetch=fetcher(source), listing=listing(source))
    assert result["copied"] == [NEW]
    assert not [p for p in os.listdir(target) if p.endswith(".partial")]


@pytest.mark.parametrize("text, words", [
    (None, "Cannot read the copy configuration"),
    ("[global]\nlog-level-file=off\n[frende]\nrepo1-host=db1\n", "no database host for the stanza 'frnede'"),
    ("[frnede]\npg1-path=/x\n", "(known: none)"),
])
def test_a_stanza_without_its_database_host_fails_before_anything_is_listed(tmp_path, log, text, words):
    config = tmp_path / "copy.conf"
    if text is not None:
        config.write_text(text)
    with pytest.raises(FrendeDbError) as failed:
        logical_copy.copy_sets("frnede", str(tmp_path / "copies"), log, config=str(config))
    assert words in str(failed.value)
    assert not (tmp_path / "copies").exists()


def test_the_stanza_names_its_database_host(tmp_path):
    config = tmp_path / "copy.conf"
    config.write_text("[global]\nlog-level-file=off\n\n[frende]\nrepo1-host=db1.example.com\nrepo1-path=/b\n")
    assert logical_copy.database_host(str(config), "frende") == "db1.example.com"
