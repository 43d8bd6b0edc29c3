import datetime
import json
import os

import pytest

from ansible_collections.frende.db.plugins.module_utils._backup import catalog

SHA = "a" * 64


def good_manifest(name="frende-20261128T020000Z", **changes):
    manifest = dict(
        format_version=1, name=name, database="frende", server_version="15.18",
        started_at="2026-11-28T02:00:00+00:00", finished_at="2026-11-28T02:00:41+00:00",
        compression="zstd", encrypted=False, recipients=[],
        files=dict(dump=dict(name=name + ".dump.zst", size=10, sha256=SHA),
                   globals=dict(name=name + ".globals.sql.zst", size=5, sha256=SHA)),
        tables={"public.users": 3},
    )
    manifest.update(changes)
    return manifest


@pytest.mark.parametrize("filename,expected", [
    ("frende-20261128T020000Z.dump.zst", ("frende-20261128T020000Z", "dump")),
    ("frende-20261128T020000Z.dump.zst.age", ("frende-20261128T020000Z", "dump")),
    ("frende-20261128T020000Z.dump.gz", ("frende-20261128T020000Z", "dump")),
    ("frende-20261128T020000Z.globals.sql.zst.age", ("frende-20261128T020000Z", "globals")),
    ("frende-20261128T020000Z.globals.sql.gz", ("frende-20261128T020000Z", "globals")),
    ("frende-20261128T020000Z.manifest.json", ("frende-20261128T020000Z", "manifest")),
    ("frende-20261128T020000Z.verify.json", ("frende-20261128T020000Z", "verify")),
    ("frende_backup_20250101.sql.gz", ("frende_backup_20250101", "legacy")),
    (".frende-20261128T020000Z.dump.zst.123.partial", None),
    ("notes.txt", None),
    (".dump.zst", None),
    ("a/b.dump.zst", None),
])
def test_parse_backup_filename(filename, expected):
    assert catalog.parse_backup_filename(filename) == expected


def test_partial_names_round_trip():
    name = catalog.partial_name("frende-20261128T020000Z.dump.zst", 4242)
    assert name.startswith(".") and name.endswith(".partial")
    assert catalog.parse_partial(name) == ("frende-20261128T020000Z.dump.zst", 4242)
    assert catalog.parse_partial("frende-20261128T020000Z.dump.zst") is None


def test_set_files_encrypted_and_gzip():
    files = catalog.set_files("db-20261128T020000Z", "gzip", True)
    assert files["dump"] == "db-20261128T020000Z.dump.gz.age"
    assert files["globals"] == "db-20261128T020000Z.globals.sql.gz.age"
    assert files["manifest"] == "db-20261128T020000Z.manifest.json"


def test_validate_manifest_accepts_a_good_one():
    assert catalog.validate_manifest(good_manifest(), "frende-20261128T020000Z") == []


@pytest.mark.parametrize("changes,fragment", [
    (dict(format_version=2), "format_version"),
    (dict(finished_at="yesterday"), "finished_at"),
    (dict(compression="lz4"), "compression"),
    (dict(encrypted="yes"), "encrypted"),
    (dict(encrypted=True, recipients=[]), "recipients"),
    (dict(files=dict(dump=dict(name="x.dump.zst", size=1, sha256=SHA))), "files must list"),
    (dict(tables={"public.users": -1}), "tables"),
    (dict(database=""), "database"),
])
def test_validate_manifest_names_the_problem(changes, fragment):
    problems = catalog.validate_manifest(good_manifest(**changes), "frende-20261128T020000Z")
    assert any(fragment in p for p in problems), problems


def test_validate_manifest_refuses_files_of_another_set_and_bad_digest():
    manifest = good_manifest()
    manifest["files"]["dump"] = dict(name="other-20261128T020000Z.dump.zst", size=1, sha256="xyz")
    problems = catalog.validate_manifest(manifest, "frende-20261128T020000Z")
    assert any("files.dump.name" in p for p in problems)
    assert any("SHA-256" in p for p in problems)
    assert catalog.validate_manifest([], None) == ["the manifest is not a JSON object"]


def test_list_backups_newest_first_skips_partials_and_gzip_globals(tmp_path):
    for name, finished in (("frende-20261101T020000Z", "2026-11-01T02:00:30+00:00"),
                           ("frende-20261128T020000Z", "2026-11-28T02:00:30+00:00")):
        (tmp_path / (name + ".manifest.json")).write_text(json.dumps(good_manifest(name, finished_at=finished)))
    (tmp_path / "frende-20261110T020000Z.sql.gz").write_bytes(b"x")
    (tmp_path / "frende-20261128T020000Z.globals.sql.gz").write_bytes(b"x")
    (tmp_path / ".frende-20261129T020000Z.manifest.json.77.partial").write_text("{}")
    (tmp_path / "frende-20261127T020000Z.manifest.json").write_text("{not json")
    names = [(b["name"], b["format"]) for b in catalog.list_backups(str(tmp_path))]
    assert names == [("frende-20261128T020000Z", "custom"), ("frende-20261110T020000Z", "legacy-sql-gz"),
                     ("frende-20261101T020000Z", "custom")]
    assert catalog.newest_backup(str(tmp_path), "other") is None
    assert catalog.list_backups(str(tmp_path / "missing")) == []


def test_legacy_file_without_stamp_uses_mtime(tmp_path):
    path = tmp_path / "latest.sql.gz"
    path.write_bytes(b"x")
    os.utime(path, (1700000000, 1700000000))
    entry = catalog.list_backups(str(tmp_path))[0]
    assert entry["database"] is None
    assert entry["finished_at"] == datetime.datetime.fromtimestamp(1700000000, datetime.timezone.utc)
