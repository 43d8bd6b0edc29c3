"""Failed-authentication counting from PostgreSQL log lines, in both timestamp forms."""

import datetime
import gzip
import os
import time

import pytest

from ansible_collections.frende.db.plugins.module_utils._health import server_log as sl

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)

# %m prefix (the test server's and Debian's) and %t prefix (seconds only).
LOG = """\
2026-11-26 11:00:00.100 UTC [100] bob@frende FATAL:  password authentication failed for user "bob"
2026-11-27 11:59:59.900 UTC [101] [unknown]@[unknown] LOG:  connection received: host=10.0.0.7 port=5000
2026-11-27 12:00:01.000 UTC [101] bob@frende FATAL:  password authentication failed for user "bob"
2026-11-27 12:00:01.001 UTC [101] bob@frende DETAIL:  Connection matched pg_hba.conf line 3: "hostssl all all 10.0.0.0/8 scram-sha-256"
2026-11-28 08:00:00 UTC [102] eve@frende FATAL:  no pg_hba.conf entry for host "192.0.2.9", user "eve", database "frende", SSL encryption
2026-11-28 09:00:00 UTC [103] x@y FATAL:  28P01: password authentication failed for user "mallory"
\tRole "mallory" does not exist.
2026-11-28 10:00:00.5 UTC [104] LOG:  connection received: host=[local]
2026-11-28 10:00:00.6 UTC [104] FATAL:  Peer authentication failed for user "postgres"
2026-11-28 10:30:00 UTC [105] FATAL:  pg_hba.conf rejects connection for host "198.51.100.1", user "app", database "frende", no encryption
2026-11-28 11:00:00.000 UTC [106] app@frende FATAL:  database "nope" does not exist
2026-11-28 11:00:01.000 UTC [107] app@frende LOG:  statement: SELECT 'password authentication failed'
2026-11-28 11:00:02.000 UTC [108] app@frende ERROR:  authentication failed somewhere in a string
2026-11-28 13:00:00.000 UTC [109] bob@frende FATAL:  password authentication failed for user "bob"
"""


@pytest.fixture()
def log_file(tmp_path):
    path = tmp_path / "postgresql-15-main.log"
    path.write_text(LOG)
    return str(path)


def test_counts_only_fatal_auth_failures_in_window(log_file):
    since = NOW - datetime.timedelta(hours=24)
    summary = sl.count_failed_auth([log_file], since, NOW, sl.resolve_timezone("Etc/UTC"))
    # in window: 12:00:01 bob (host from the 'connection received' line), eve, mallory, postgres (peer), app (reject);
    # out: the one two days ago and the one after NOW; not counted: non-auth FATAL, LOG and ERROR lines.
    assert summary["count"] == 5
    assert summary["by_user"] == {"bob": 1, "eve": 1, "mallory": 1, "postgres": 1, "app": 1}
    assert summary["by_client"]["10.0.0.7"] == 1
    assert summary["by_client"]["192.0.2.9"] == 1
    assert summary["by_client"]["198.51.100.1"] == 1
    assert summary["by_client"]["[local]"] == 1
    assert summary["first"] == "2026-11-27T12:00:01+00:00"
    assert summary["last"] == "2026-11-28T10:30:00+00:00"


def test_recent_counts_the_burst_window_inside_the_window(log_file):
    summary = sl.count_failed_auth([log_file], NOW - datetime.timedelta(hours=24), NOW,
                                   recent_since=NOW - datetime.timedelta(minutes=121))
    assert (summary["count"], summary["recent"]) == (5, 2)  # 10:30 app and 10:00:00.6 postgres are recent
    assert sl.count_failed_auth([log_file], NOW - datetime.timedelta(hours=24), NOW)["recent"] is None


def test_window_edges(log_file):
    summary = sl.count_failed_auth([log_file], NOW - datetime.timedelta(hours=3), NOW)
    assert summary["count"] == 3  # 09:00 mallory, 10:00 postgres, 10:30 app
    summary = sl.count_failed_auth([log_file], NOW - datetime.timedelta(days=5), None)
    assert summary["count"] == 7


@pytest.mark.parametrize("line,expected", [
    ("2026-11-28 06:06:58.440 UTC [1] x", datetime.datetime(2026, 11, 28, 6, 6, 58, 440000, tzinfo=UTC)),
    ("2026-11-28 06:06:58 UTC [1] x", datetime.datetime(2026, 11, 28, 6, 6, 58, tzinfo=UTC)),
    ("2026-11-28 06:06:58 GMT x", datetime.datetime(2026, 11, 28, 6, 6, 58, tzinfo=UTC)),
    ("2026-11-28 07:06:58 +01 x", datetime.datetime(2026, 11, 28, 6, 6, 58, tzinfo=UTC)),
    ("2026-11-28 01:36:58.5 -0430 x", datetime.datetime(2026, 11, 28, 6, 6, 58, 500000, tzinfo=UTC)),
    ("\tRole does not exist", None),
    ("LOG:  no time here", None),
    ("2026-13-40 06:06:58 UTC broken date", None),
])
def test_parse_time_forms(line, expected):
    moment = sl.parse_time(line)
    assert moment == expected


def test_abbreviated_zone_read_in_log_timezone():
    berlin = sl.resolve_timezone("Europe/Berlin")
    winter = sl.parse_time("2026-11-28 13:00:00.000 CET [1] x", berlin)
    assert winter == datetime.datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    summer = sl.parse_time("2026-07-01 14:00:00 CEST [1] x", berlin)
    assert summer == datetime.datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    # the hour that happens twice when clocks go back: the abbreviation decides
    first = sl.parse_time("2026-10-25 02:30:00 CEST x", berlin)
    second = sl.parse_time("2026-10-25 02:30:00 CET x", berlin)
    assert (second - first) == datetime.timedelta(hours=1)


def test_unknown_timezone_name_is_none():
    assert sl.resolve_timezone("Mars/Olympus") is None
    assert sl.resolve_timezone(None) is None
    assert sl.resolve_timezone("Etc/UTC") is UTC


def test_directory_reads_recent_files_and_gz(tmp_path):
    recent = tmp_path / "postgresql-a.log"
    recent.write_text('2026-11-28 11:00:00 UTC [1] FATAL:  password authentication failed for user "a"\n')
    rotated = tmp_path / "postgresql-b.log.gz"
    with gzip.open(rotated, "wt") as handle:
        handle.write('2026-11-28 10:00:00 UTC [2] FATAL:  password authentication failed for user "b"\n')
    old = tmp_path / "postgresql-old.log"
    old.write_text('2026-11-28 09:00:00 UTC [3] FATAL:  password authentication failed for user "c"\n')
    past = time.time() - 3 * 86400
    os.utime(old, (past, past))
    (tmp_path / "postgresql.csv").write_text("csv is not read\n")
    since = datetime.datetime.fromtimestamp(time.time() - 86400, UTC)
    files = sl.find_log_files(str(tmp_path), since)
    assert sorted(os.path.basename(f) for f in files) == ["postgresql-a.log", "postgresql-b.log.gz"]
    summary = sl.count_failed_auth(files, NOW - datetime.timedelta(hours=24), NOW)
    assert summary["by_user"] == {"a": 1, "b": 1}


def test_file_with_rotated_sibling(tmp_path):
    current = tmp_path / "postgresql-15-main.log"
    current.write_text("")
    (tmp_path / "postgresql-15-main.log.1").write_text(
        '2026-11-28 01:00:00 UTC [2] FATAL:  password authentication failed for user "night"\n')
    since = datetime.datetime.fromtimestamp(time.time() - 86400, UTC)
    files = sl.find_log_files(str(current), since)
    assert files == [str(current) + ".1", str(current)]
    assert sl.count_failed_auth(files, NOW - datetime.timedelta(hours=24), NOW)["count"] == 1


def test_a_window_of_days_reads_every_daily_rotation_oldest_first(tmp_path):
    current = tmp_path / "postgresql-15-main.log"
    current.write_text('2026-11-28 05:00:00 UTC [4] FATAL:  password authentication failed for user "today"\n')
    (tmp_path / "postgresql-15-main.log.1").write_text(
        '2026-11-27 05:00:00 UTC [3] FATAL:  password authentication failed for user "yesterday"\n')
    for n, day in ((2, 26), (3, 25)):
        with gzip.open(tmp_path / ("postgresql-15-main.log.%d.gz" % n), "wt") as handle:
            handle.write('2026-11-%d 05:00:00 UTC [2] FATAL:  password authentication failed for user "d%d"\n'
                         % (day, day))
    old = tmp_path / "postgresql-15-main.log.9.gz"
    with gzip.open(old, "wt") as handle:
        handle.write("written long ago\n")
    past = time.time() - 60 * 86400
    os.utime(old, (past, past))
    (tmp_path / "postgresql-16-main.log.1").write_text("another cluster's log\n")
    since = datetime.datetime.fromtimestamp(time.time() - 30 * 86400, UTC)
    files = sl.find_log_files(str(current), since)
    assert [os.path.basename(f) for f in files] == [
        "postgresql-15-main.log.3.gz", "postgresql-15-main.log.2.gz", "postgresql-15-main.log.1", "postgresql-15-main.log"]
    summary = sl.count_failed_auth(files, NOW - datetime.timedelta(days=30), NOW)
    assert summary["by_day"] == {"2026-11-25": 1, "2026-11-26": 1, "2026-11-27": 1, "2026-11-28": 1}


def test_pgaudit_events_by_class_and_day_without_the_statement(tmp_path):
    log = tmp_path / "server.log"
    log.write_text(
        "2026-11-27 05:00:00.1 UTC [7] postgres@frende app=psql LOG:  AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,"
        "public.t,CREATE TABLE t (secret_column int),<not logged>\n"
        "2026-11-28 05:00:00.1 UTC [7] postgres@postgres app=psql LOG:  AUDIT: SESSION,2,1,ROLE,ALTER ROLE,,,"
        "ALTER ROLE app PASSWORD <REDACTED>,<not logged>\n"
        "2026-11-28 06:00:00.1 UTC [8] LOG:  AUDIT: OBJECT,1,1,READ,SELECT,TABLE,public.pay,SELECT 1,<not logged>\n"
        "2026-10-01 05:00:00.1 UTC [7] LOG:  AUDIT: SESSION,1,1,DDL,DROP TABLE,TABLE,public.old,DROP,<none>\n"
        "2026-11-28 07:00:00.1 UTC [9] LOG:  statement: AUDIT: SESSION is only text here\n")
    found = sl.count_audit([str(log)], NOW - datetime.timedelta(days=30), keep=2)
    assert found["total"] == 3
    assert found["by_class"] == {"DDL": 1, "ROLE": 1, "READ": 1}
    assert found["by_day"] == {"2026-11-27": 1, "2026-11-28": 2}
    assert [(e["klass"], e["command"], e["object"]) for e in found["recent"]] == [
        ("READ", "SELECT", "public.pay"), ("ROLE", "ALTER ROLE", None)]
    assert "secret_column" not in str(found)


def test_missing_log_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        sl.find_log_files(str(tmp_path / "nope.log"), NOW)


@pytest.mark.parametrize("cluster,path", [
    ("15/main", "/var/log/postgresql/postgresql-15-main.log"),
    ("16/frende", "/var/log/postgresql/postgresql-16-frende.log"),
    ("", "/var/log/postgresql/postgresql-15-main.log"),
    (None, "/var/log/postgresql/postgresql-15-main.log"),
])
def test_debian_log_path(cluster, path):
    assert sl.debian_log_path(cluster) == path


@pytest.mark.parametrize("value, readable", [
    ("C", True), ("C.UTF-8", True), ("c.utf8", True), ("POSIX", True), ("en_US.UTF-8", True), ("en_GB", True),
    ("", True), (None, True), ("de_DE.UTF-8", False), ("fr_FR.utf8", False), ("ja_JP.UTF-8", False),
])
def test_only_english_logs_are_read(value, readable):
    assert sl.reads_language(value) is readable
