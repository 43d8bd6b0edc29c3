"""frende-db-repository: wrong input is refused before anything runs, with what to do."""

import io

import pytest

from ansible_collections.frende.db.plugins.module_utils._repository import cli


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    return cli.main(argv, out=out, err=err), out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv, words", [
    (["--action", "backup"], "--stanza is required"),
    (["--action", "backup", "--stanza", "bad name;rm"], "not a stanza name"),
    (["--action", "seal-wal", "--watch", "soon"], "--watch"),
    (["--action", "seal-wal", "--watch", "-5"], "--watch"),
    (["--action", "seal-wal", "--repo-path", "relative/path"], "--repo-path"),
    (["--action", "copy-sets", "--stanza", "frende"], "--to-dir is required"),
    (["--action", "copy-sets", "--stanza", "frende", "--to-dir", "hosts/db1"], "--to-dir"),
    (["--action", "copy-sets", "--stanza", "frende", "--to-dir", "/c", "--copy-config", "x.conf"], "--copy-config"),
    (["--action", "copy-sets", "--stanza", "frende", "--to-dir", "/c", "--retention-days", "0"], "--retention-days"),
    (["--action", "copy-sets", "--stanza", "frende", "--to-dir", "/c", "--keep-min", "some"], "--keep-min"),
    (["--action", "copy-sets", "--to-dir", "/c"], "--stanza is required"),
])
def test_wrong_input_fails_with_a_message_and_logs_it(tmp_path, argv, words):
    log = tmp_path / "backup.log"
    code, _out, err = run(argv + ["--log-file", str(log)])
    assert code == 1
    assert words in err
    assert words in log.read_text() and " ERROR " in log.read_text()


def test_an_unknown_action_is_a_usage_error(capsys):
    assert run(["--action", "drop"])[0] == 2


def test_seal_once_moves_wal_and_logs_one_line(tmp_path):
    ingest, repo = tmp_path / "ingest", tmp_path / "repo"
    wal = ingest / "archive" / "frende" / "15-1" / "0000000100000000" / ("%s-%s" % ("0" * 23 + "1", "c" * 40))
    wal.parent.mkdir(parents=True)
    wal.write_bytes(b"x")
    repo.mkdir()
    log = tmp_path / "backup.log"
    code, out, err = run(["--action", "seal-wal", "--repo-path", str(repo), "--ingest-path", str(ingest),
                          "--owner", "root", "--ingest-owner", "root", "--log-file", str(log)])
    assert (code, err) == (0, "")
    assert "1 WAL file(s) sealed" in out
    assert (repo / wal.relative_to(ingest)).read_bytes() == b"x"
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and "action=seal-wal event=sealed files=1" in lines[0]


@pytest.mark.parametrize("argv, words", [
    (["--action", "drill", "--stanza", "frende", "--rto-target", "soon"], "--rto-target"),
    (["--action", "drill", "--stanza", "frende", "--rpo-target", "0s"], "--rpo-target must be longer than zero"),
    (["--action", "drill", "--stanza", "frende", "--database", "x;drop"], "--database"),
    (["--action", "drill", "--stanza", "frende", "--pg-version", "fifteen"], "--pg-version"),
    (["--action", "drill", "--stanza", "frende", "--scratch-dir", "tmp"], "--scratch-dir"),
])
def test_wrong_drill_input_fails_before_anything_runs(tmp_path, argv, words):
    log = tmp_path / "backup.log"
    code, _out, err = run(argv + ["--log-file", str(log), "--owner", "root"])
    assert code == 1 and words in err
    assert words in log.read_text()
