"""The pipeline helper with real processes: pipefail, SIGPIPE victims, feeding, full disks."""

import hashlib
import os

import pytest

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._backup.pipeline import (
    CountingSink, DiskFullError, HashingFile, Pipeline, run)

ENV = dict(os.environ, LC_ALL="C")


def test_every_stage_must_succeed():
    with pytest.raises(FrendeDbError) as err:
        with Pipeline([["sh", "-c", "echo data; exit 3"], ["cat"]], ENV, "test pipe") as pipe:
            pipe.pump(CountingSink())
            pipe.wait()
    assert "test pipe failed: sh exit 3" in str(err.value)


def test_the_cause_is_named_before_its_sigpipe_victim():
    with pytest.raises(FrendeDbError) as err:
        with Pipeline([["yes"], ["sh", "-c", "head -c 10 >/dev/null; echo broken >&2; exit 5"]], ENV, "p") as pipe:
            pipe.pump(CountingSink())
            pipe.wait()
    text = str(err.value)
    assert text.index("sh exit 5: broken") < text.index("yes killed by SIGPIPE")


def test_success_passes_all_bytes_through():
    sink = CountingSink()
    with Pipeline([["sh", "-c", "head -c 3000000 /dev/zero"], ["gzip", "-c"], ["gzip", "-dc"]], ENV, "p") as pipe:
        pipe.pump(sink)
        assert pipe.wait() is None
    assert sink.size == 3000000


def test_feed_hashes_the_whole_file_even_when_the_reader_stops(tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    path = tmp_path / "in"
    path.write_bytes(data)
    with Pipeline([["head", "-c", "10"]], ENV, "p", feed_path=str(path)) as pipe:
        pipe.pump(CountingSink())
        fed = pipe.wait()
    assert fed == (hashlib.sha256(data).hexdigest(), len(data))


def test_stdout_fd_writes_straight_to_a_file(tmp_path):
    out = tmp_path / "out"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o600)
    with Pipeline([["echo", "hello"]], ENV, "p", stdout_fd=fd) as pipe:
        pipe.wait()
    os.close(fd)
    assert out.read_text() == "hello\n"


def test_a_full_disk_is_reported_as_such():
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(DiskFullError) as err:
            HashingFile(fd, "/backups/x.dump.zst").write(b"x" * 4096)
    finally:
        os.close(fd)
    assert "No space left on device while writing /backups/x.dump.zst" in str(err.value)
    with pytest.raises(DiskFullError):
        with Pipeline([["sh", "-c", "echo 'zstd: error 70 : Write error : No space left on device' >&2; exit 1"]],
                      ENV, "writing the dump") as pipe:
            pipe.pump(CountingSink())
            pipe.wait()


def test_missing_program_is_named():
    with pytest.raises(FrendeDbError, match="the program no-such-tool is not installed"):
        with Pipeline([["no-such-tool"]], ENV, "p") as pipe:
            pipe.wait()
    with pytest.raises(FrendeDbError, match="no-such-tool is not installed"):
        run(["no-such-tool"], ENV, "p")
