"""frende-db-repository: wrong input is refused before anything runs, with what to do."""

import io

import pytest

from ansible_collections.frende.db.plugins.module_utils._repository import cli


def run(argv):
    """The command; never the host's own textfile directory (metrics off unless the test names a file)."""
    out, err = io.StringIO(), io.StringIO()
    if "--metrics-file" not in argv:
        argv = argv + ["--metrics-file", "none"]
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


def gauges(path):
    from prometheus_client.parser import text_string_to_metric_families
    return dict(((s.name, tuple(sorted(s.labels.items()))), s.value)
                for family in text_string_to_metric_families(path.read_text()) for s in family.samples)


def test_a_refused_repository_job_is_in_the_metrics(tmp_path):
    metrics = tmp_path / "frende_db.prom"
    code, _out, err = run(["--action", "backup", "--type", "full", "--log-file", str(tmp_path / "backup.log"),
                           "--metrics-file", str(metrics)])
    assert code == 1 and "--stanza is required" in err
    assert gauges(metrics)[("frende_db_job_last_exit_code", (("job", "backup_full"),))] == 1


def test_sealed_wal_is_in_the_metrics_and_nothing_sealed_writes_nothing(tmp_path):
    ingest, repo = tmp_path / "ingest", tmp_path / "repo"
    ingest.mkdir()
    repo.mkdir()
    metrics = tmp_path / "frende_db.prom"
    argv = ["--action", "seal-wal", "--repo-path", str(repo), "--ingest-path", str(ingest), "--owner", "root",
            "--ingest-owner", "root", "--log-file", str(tmp_path / "backup.log"), "--metrics-file", str(metrics)]
    assert run(argv)[0] == 0 and not metrics.exists()
    wal = ingest / "archive" / "frende" / "15-1" / "0000000100000000" / ("%s-%s" % ("0" * 23 + "1", "c" * 40))
    wal.parent.mkdir(parents=True)
    wal.write_bytes(b"x")
    assert run(argv)[0] == 0
    assert ("frende_db_wal_last_sealed_timestamp_seconds", ()) in gauges(metrics)


class Args:
    def __init__(self, action, kind="diff", stanza="frende"):
        self.action, self.kind, self.stanza = action, kind, stanza


def test_repository_jobs_report_their_figures():
    taken = dict(label="20261207-013000F", stop=1765071000, repo_size=1234, duration_s=9.5, verified=True)
    found = dict(((n, tuple(sorted(l.items()))), v) for n, l, v in cli.job_samples(Args("backup", "full"), taken, 0, 5))
    labels = (("database", "frende"), ("kind", "full"))
    assert found[("frende_db_job_last_exit_code", (("job", "backup_full"),))] == 0
    assert found[("frende_db_backup_last_success_timestamp_seconds", labels)] == 1765071000
    assert found[("frende_db_backup_last_size_bytes", labels)] == 1234
    assert found[("frende_db_backup_last_verified", labels)] == 1
    verify = dict(((n, tuple(sorted(l.items()))), v) for n, l, v in cli.job_samples(Args("verify"), None, 1, 5))
    assert verify[("frende_db_backup_last_verified", (("database", "frende"), ("kind", "repository")))] == 0
    missed = dict(rto_s=50.0, rpo_s=None, rto_target_s=30, rpo_target_s=300, ok=False, database="frende")
    drill = dict(((n, tuple(sorted(l.items()))), v) for n, l, v in cli.job_samples(Args("drill"), missed, 3, 5))
    physical = (("database", "frende"), ("kind", "physical"))
    assert drill[("frende_db_drill_last_rto_seconds", physical)] == 50.0
    assert ("frende_db_drill_last_success_timestamp_seconds", physical) not in drill
    assert drill[("frende_db_job_last_exit_code", (("job", "drill"),))] == 3
    copy = cli.job_samples(Args("copy-sets"), None, 1, 5)
    assert ("frende_db_job_last_exit_code", {"job": "copy"}, 1) in copy
