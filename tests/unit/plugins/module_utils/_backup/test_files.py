import json
import os
import subprocess
import sys

import pytest

from ansible_collections.frende.db.plugins.module_utils._backup import files
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError

NAME = "frende-20261128T020000Z"


def good_manifest(name):
    return dict(format_version=1, name=name, database="frende", server_version="15.18",
                started_at="2026-11-28T02:00:00+00:00", finished_at="2026-11-28T02:00:41+00:00",
                compression="zstd", encrypted=False, recipients=[], tables={},
                files=dict(dump=dict(name=name + ".dump.zst", size=1, sha256="a" * 64),
                           globals=dict(name=name + ".globals.sql.zst", size=1, sha256="a" * 64)))


@pytest.fixture
def backup_dir(tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    (directory / (NAME + ".manifest.json")).write_text(json.dumps(good_manifest(NAME)))
    (directory / (NAME + ".dump.zst")).write_bytes(b"x")
    (directory / "frende-20261101T020000Z.sql.gz").write_bytes(b"x")
    return directory


@pytest.mark.parametrize("value", ["latest", NAME, NAME + ".dump.zst", NAME + ".manifest.json"])
def test_resolve_names_inside_the_backup_dir(backup_dir, value):
    assert files.resolve_backup_file(str(backup_dir), value)["name"] == NAME


def test_resolve_absolute_path_and_legacy(backup_dir):
    assert files.resolve_backup_file(str(backup_dir), str(backup_dir / (NAME + ".dump.zst")))["name"] == NAME
    entry = files.resolve_backup_file(str(backup_dir), str(backup_dir / "frende-20261101T020000Z.sql.gz"))
    assert entry["format"] == "legacy-sql-gz"


@pytest.mark.parametrize("value,fragment", [
    ("/etc/passwd", "outside the backup directory"),
    ("../backups/../../etc/passwd", "outside the backup directory"),
    ("link.dump.zst", "outside the backup directory"),
    (".%s.dump.zst.123.partial" % NAME, "unfinished (partial)"),
    ("frende-20261127T020000Z", "No backup named"),
    ("", "backup_file must be"),
])
def test_resolve_refuses(backup_dir, tmp_path, value, fragment):
    outside = tmp_path / "elsewhere.dump.zst"
    outside.write_bytes(b"x")
    (backup_dir / "link.dump.zst").symlink_to(outside)
    with pytest.raises(FrendeDbError) as err:
        files.resolve_backup_file(str(backup_dir), value)
    assert fragment in str(err.value)


def test_resolve_refuses_a_set_without_manifest(backup_dir):
    (backup_dir / "frende-20261120T020000Z.dump.zst").write_bytes(b"x")
    with pytest.raises(FrendeDbError, match="no readable manifest"):
        files.resolve_backup_file(str(backup_dir), "frende-20261120T020000Z.dump.zst")
    with pytest.raises(FrendeDbError, match="no readable manifest"):
        files.resolve_backup_file(str(backup_dir), "frende-20261120T020000Z")


def test_latest_in_an_empty_directory(tmp_path):
    with pytest.raises(FrendeDbError, match="no complete backup of database frende"):
        files.resolve_backup_file(str(tmp_path), "latest", "frende")


def test_partial_file_is_invisible_until_commit(tmp_path):
    part = files.PartialFile(str(tmp_path), "x.dump.zst", None)
    os.write(part.fd, b"data")
    assert os.listdir(tmp_path) == [os.path.basename(part.path)]
    assert oct(os.stat(part.path).st_mode & 0o777) == "0o600"
    final = part.commit()
    assert os.listdir(tmp_path) == ["x.dump.zst"] and open(final, "rb").read() == b"data"
    other = files.PartialFile(str(tmp_path), "y.dump.zst", None)
    other.discard()
    assert os.listdir(tmp_path) == ["x.dump.zst"]


def test_stale_partials_are_those_of_dead_writers(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(dead.stdout)
    (tmp_path / (".a.dump.zst.%d.partial" % dead_pid)).write_bytes(b"")
    (tmp_path / (".b.dump.zst.%d.partial" % os.getppid())).write_bytes(b"")  # a live process
    (tmp_path / "a.dump.zst").write_bytes(b"")
    assert [os.path.basename(p) for p in files.stale_partials(str(tmp_path))] == [".a.dump.zst.%d.partial" % dead_pid]


def test_orphans_are_set_files_without_manifest(tmp_path):
    (tmp_path / (NAME + ".dump.zst")).write_bytes(b"")
    (tmp_path / "frende-20261120T020000Z.dump.zst").write_bytes(b"")
    (tmp_path / (NAME + ".manifest.json")).write_text("{}")
    assert [os.path.basename(p) for p in files.orphan_files(str(tmp_path))] == ["frende-20261120T020000Z.dump.zst"]


def test_lock_refuses_a_second_holder_with_a_clear_message(tmp_path):
    with files.BackupLock(str(tmp_path), "backup", 0, None):
        with pytest.raises(FrendeDbError) as err:
            with files.BackupLock(str(tmp_path), "cleanup", 0.3, None):
                pass
        assert "pid %d, action backup" % os.getpid() in str(err.value)
        assert "lock_timeout" in str(err.value)
    with files.BackupLock(str(tmp_path), "cleanup", 0, None):
        pass


def test_ensure_dir_mode(tmp_path):
    target = tmp_path / "a" / "b"
    assert files.ensure_dir(str(target), None) is True
    assert oct(os.stat(target).st_mode & 0o777) == "0o700"
    assert files.ensure_dir(str(target), None) is False
