"""The WAL sealer on a real directory tree: what it moves, and what it never replaces or accepts."""

import os

from ansible_collections.frende.db.plugins.module_utils._repository.seal import seal_once

SEGMENT = "000000010000000000000003"
SHA_A = "a" * 40
SHA_B = "b" * 40


def tree(tmp_path):
    ingest, repo = tmp_path / "ingest", tmp_path / "repo"
    ingest.mkdir()
    (repo / "archive" / "frende").mkdir(parents=True)
    (repo / "archive" / "frende" / "archive.info").write_text("info v1")
    (repo / "archive" / "frende" / "archive.info.copy").write_text("info v1")
    return ingest, repo


def arrive(ingest, name, content, timeline_dir="0000000100000000"):
    directory = ingest / "archive" / "frende" / "15-1" / timeline_dir if timeline_dir else \
        ingest / "archive" / "frende" / "15-1"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(content)
    return directory / name


def sealed(repo, name, timeline_dir="0000000100000000"):
    return repo / "archive" / "frende" / "15-1" / timeline_dir / name


def test_gives_the_ingest_the_repository_archive_info_and_keeps_it_in_step(tmp_path):
    ingest, repo = tree(tmp_path)
    first = seal_once(str(ingest), str(repo))
    assert sorted(first.info_synced) == ["frende/archive.info", "frende/archive.info.copy"]
    assert (ingest / "archive" / "frende" / "archive.info").read_text() == "info v1"
    assert seal_once(str(ingest), str(repo)).info_synced == []
    (repo / "archive" / "frende" / "archive.info").write_text("info v2")
    assert seal_once(str(ingest), str(repo)).info_synced == ["frende/archive.info"]
    assert (ingest / "archive" / "frende" / "archive.info").read_text() == "info v2"


def test_moves_finished_wal_and_history_into_the_repository_read_only(tmp_path):
    ingest, repo = tree(tmp_path)
    wal = arrive(ingest, "%s-%s.zst" % (SEGMENT, SHA_A), b"wal bytes")
    history = arrive(ingest, "00000002.history", b"1\t0/3000000\tbefore 2026", timeline_dir=None)
    pending = arrive(ingest, "%s-%s.zst.pgbackrest.tmp" % ("000000010000000000000004", SHA_A), b"half")
    result = seal_once(str(ingest), str(repo))
    assert sorted(result.sealed) == sorted([
        "archive/frende/15-1/0000000100000000/%s-%s.zst" % (SEGMENT, SHA_A),
        "archive/frende/15-1/00000002.history"])
    assert sealed(repo, wal.name).read_bytes() == b"wal bytes"
    assert (repo / "archive" / "frende" / "15-1" / "00000002.history").exists()
    assert oct(os.stat(sealed(repo, wal.name)).st_mode & 0o777) == "0o640"
    assert not wal.exists() and not history.exists()
    assert pending.exists() and not sealed(repo, pending.name).exists()  # still being written


def sealed_already(tmp_path, data):
    """Ingest and repository trees with one segment sealed (holding ``data``), and its file name."""
    ingest, repo = tree(tmp_path)
    name = "%s-%s.zst" % (SEGMENT, SHA_A)
    arrive(ingest, name, data)
    seal_once(str(ingest), str(repo))
    return ingest, repo, name


def test_never_replaces_a_sealed_file_or_accepts_a_second_copy_of_a_segment(tmp_path):
    ingest, repo, name = sealed_already(tmp_path, b"original")
    # The same name with other bytes, then the same segment under another checksum.
    arrive(ingest, name, b"forged")
    arrive(ingest, "%s-%s.zst" % (SEGMENT, SHA_B), b"forged too")
    result = seal_once(str(ingest), str(repo))
    assert result.sealed == []
    assert len(result.refused) == 2
    assert sealed(repo, name).read_bytes() == b"original"
    assert not sealed(repo, "%s-%s.zst" % (SEGMENT, SHA_B)).exists()
    assert sorted(os.listdir(ingest / "refused")) == sorted([
        "archive_frende_15-1_0000000100000000_%s-%s.zst" % (SEGMENT, SHA_A),
        "archive_frende_15-1_0000000100000000_%s-%s.zst" % (SEGMENT, SHA_B)])


def test_a_resent_identical_segment_is_dropped_quietly(tmp_path):
    ingest, repo, name = sealed_already(tmp_path, b"same")
    arrive(ingest, name, b"same")
    result = seal_once(str(ingest), str(repo))
    assert result.duplicates == ["archive/frende/15-1/0000000100000000/" + name]
    assert result.refused == [] and result.sealed == []


def test_refuses_files_that_are_not_archived_wal_and_links(tmp_path):
    ingest, repo = tree(tmp_path)
    arrive(ingest, "evil.sh", b"#!/bin/sh")
    target = tmp_path / "secret"
    target.write_text("not yours")
    link_dir = ingest / "archive" / "frende" / "15-1" / "0000000100000000"
    os.symlink(str(target), str(link_dir / ("%s-%s.zst" % ("000000010000000000000009", SHA_A))))
    result = seal_once(str(ingest), str(repo))
    assert result.sealed == [] and len(result.refused) == 2
    assert not (repo / "archive" / "frende" / "15-1" / "0000000100000000" / "evil.sh").exists()
    assert target.read_text() == "not yours"
