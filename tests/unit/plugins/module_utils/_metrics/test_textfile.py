"""The metrics textfile: merged, atomic, readable by node_exporter, never a half-written file."""

import os
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._metrics import samples, textfile


def series(path):
    with open(path) as handle:
        return dict(((s.name, tuple(sorted(s.labels.items()))), s.value)
                    for family in text_string_to_metric_families(handle.read()) for s in family.samples)


def test_each_job_replaces_only_its_own_series(tmp_path):
    path = str(tmp_path / "frende_db.prom")
    assert textfile.update(path, samples.job_run("backup", 0, 100.0), samples.HELP)
    assert textfile.update(path, samples.job_run("health", 1, 200.0), samples.HELP)
    assert textfile.update(path, samples.job_run("backup", 1, 300.0), samples.HELP)
    found = series(path)
    assert found[("frende_db_job_last_exit_code", (("job", "backup"),))] == 1
    assert found[("frende_db_job_last_exit_code", (("job", "health"),))] == 1
    assert found[("frende_db_job_last_run_timestamp_seconds", (("job", "health"),))] == 200.0
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert os.listdir(str(tmp_path)) == ["frende_db.prom"]  # no partial file left


def test_a_value_none_removes_a_series(tmp_path):
    path = str(tmp_path / "frende_db.prom")
    textfile.update(path, [("frende_db_tls_certificate_expiry_timestamp_seconds", {}, 5.0)], samples.HELP)
    textfile.update(path, [("frende_db_tls_certificate_expiry_timestamp_seconds", {}, None)], samples.HELP)
    assert series(path) == {}


def test_a_damaged_file_is_replaced_not_merged(tmp_path):
    path = tmp_path / "frende_db.prom"
    path.write_text("this is { not the text format\n")
    textfile.update(str(path), samples.job_run("verify", 0, 1.0), samples.HELP)
    assert set(series(str(path))) == {("frende_db_job_last_exit_code", (("job", "verify"),)),
                                      ("frende_db_job_last_run_timestamp_seconds", (("job", "verify"),))}


def test_nothing_is_written_without_the_collector_directory(tmp_path):
    assert not textfile.update(str(tmp_path / "missing" / "frende_db.prom"), samples.job_run("backup", 0, 1.0),
                               samples.HELP)
    assert not (tmp_path / "missing").exists()


def test_a_textfile_that_cannot_be_replaced_says_what_to_do(tmp_path):
    (tmp_path / "frende_db.prom").mkdir()  # not a file: refused whoever runs the test, root included
    with pytest.raises(FrendeDbError, match="frende_db.prom are not updated: .* must be writable by the job's OS user"):
        textfile.update(str(tmp_path / "frende_db.prom"), samples.job_run("backup", 0, 1.0), samples.HELP)
    assert sorted(os.listdir(str(tmp_path))) == ["frende_db.prom"]  # no partial file left


def test_writers_at_the_same_time_lose_nothing(tmp_path):
    path = str(tmp_path / "frende_db.prom")
    jobs = ["job%d" % n for n in range(12)]
    threads = [threading.Thread(target=textfile.update, args=(path, samples.job_run(job, 0, 1.0), samples.HELP))
               for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = series(path)
    assert all(("frende_db_job_last_exit_code", (("job", job),)) in found for job in jobs)


@pytest.mark.parametrize("value", ["relative/x.prom", "/var/lib/x.txt", "/var/lib/\x00.prom", 5])
def test_a_bad_metrics_path_is_refused_with_what_to_give(value):
    with pytest.raises(FrendeDbError, match="absolute path ending in .prom"):
        textfile.check_path(value, "metrics_file")


@pytest.mark.parametrize("value", [None, "", "none", "NONE", " none "])
def test_none_turns_the_metrics_off(value):
    assert textfile.check_path(value, "metrics_file") is None
