"""_report/history: the event logs, backups and drills of a window as the report's series."""

import datetime

from ansible_collections.frende.db.plugins.module_utils._report import history

NOW = datetime.datetime(2026, 12, 7, 6, 0, tzinfo=datetime.timezone.utc)
SINCE = NOW - datetime.timedelta(days=30)


def line(when, **fields):
    return "%s frende.db INFO %s\n" % (when, " ".join('%s=%s' % (k, v) for k, v in fields.items()))


def test_an_event_line_is_read_with_its_quoted_values():
    moment, level, fields = history.parse_event_line(
        '2026-12-07T05:00:00Z frende.db INFO action=audit event=changed playbook="setup.yml" '
        'msg="Write the \\"settings\\"; Reload"')
    assert moment == datetime.datetime(2026, 12, 7, 5, 0, tzinfo=datetime.timezone.utc) and level == "INFO"
    assert fields == dict(action="audit", event="changed", playbook="setup.yml", msg='Write the "settings"; Reload')
    assert history.parse_event_line("garbage line") is None


def test_operations_count_the_window_by_playbook_and_day_newest_first():
    lines = [line("2026-12-06T10:00:00Z", action="audit", event="changed", playbook='"setup.yml"', user='"ops"',
                  awx_job='"-"', msg='"Write the settings"'),
             line("2026-12-07T01:00:00Z", action="audit", event="changed", playbook='"rotate_password.yml"',
                  user='"awx"', awx_job='"42"', msg='"Open the other role"'),
             line("2026-10-01T01:00:00Z", action="audit", event="changed", playbook='"setup.yml"'),  # too old
             line("2026-12-07T02:00:00Z", action="backup", event="done")]  # not an audit line
    found = history.operations(lines, SINCE)
    assert found["total"] == 2
    assert found["by_playbook"] == {"setup.yml": 1, "rotate_password.yml": 1}
    assert found["by_day"] == {"2026-12-06": 1, "2026-12-07": 1}
    assert [e["text"] for e in found["recent"]] == [
        "rotate_password.yml by awx (AWX job 42): Open the other role", "setup.yml by ops: Write the settings"]


def test_the_connection_peak_is_the_most_any_health_check_saw():
    lines = [line("2026-12-0%dT00:00:00Z" % d, action="health", event="done", connections_used=used,
                  max_connections=200) for d, used in ((1, 4), (2, 19), (3, 7))]
    lines.append(line("2026-12-04T00:00:00Z", action="health", event="check"))
    lines.append(line("2026-10-04T00:00:00Z", action="health", event="done", connections_used=150))
    assert history.connection_peak(lines, SINCE) == dict(peak=19, peak_at="2026-12-02T00:00:00+00:00", samples=3)
    assert history.connection_peak([], SINCE) == dict(peak=None, peak_at=None, samples=0)


def test_logical_backups_of_the_window_with_their_verification():
    def entry(days, **manifest):
        return dict(name="frende-%d" % days, finished_at=NOW - datetime.timedelta(days=days), manifest=manifest)
    entries = [entry(1, size=10, duration_s=2.5, encrypted=True), entry(2, size=20), entry(40, size=30)]
    states = {"frende-1": dict(state="ok", level="restore"), "frende-2": dict(state="failed")}
    found = history.logical_backups(entries, states, SINCE)
    assert [(b["name"], b["verified"], b["encrypted"], b["day"]) for b in found] == [
        ("frende-2", False, False, "2026-12-05"), ("frende-1", True, True, "2026-12-06")]
    assert found[1]["verify_level"] == "restore" and found[1]["duration_s"] == 2.5


def test_physical_backups_take_their_duration_from_start_and_stop():
    stop = NOW.timestamp() - 3600
    found = history.physical_backups([dict(label="F", type="full", start=stop - 90, stop=stop, size=5, repo_size=2),
                                      dict(label="old", type="incr", start=1, stop=2),
                                      dict(label="running", stop=None)], SINCE)
    assert [(b["label"], b["duration_s"], b["day"]) for b in found] == [("F", 90.0, "2026-12-07")]


def test_drills_of_both_kinds_oldest_first():
    reports = [dict(kind="physical", finished_at="2026-12-06T03:00:00+00:00", rto_s=100.0, rpo_s=5.0, ok=False,
                    rto_target_s=1800, rpo_target_s=300, error="row counts differ"),
               dict(finished_at="2026-12-01T03:00:00+00:00", achieved_rto_s=40.0, achieved_rpo_s=3600.0, passed=True),
               dict(finished_at="2026-09-01T03:00:00+00:00", passed=True), "not a report"]
    found = history.drills(reports, SINCE)
    assert [(d["kind"], d["rto_s"], d["passed"]) for d in found] == [
        ("logical", 40.0, True), ("physical", 100.0, False)]
    assert found[1]["error"] == "row counts differ"


def test_the_newest_backup_of_any_kind_gives_the_age():
    logical = [dict(finished_at="2026-12-07T04:00:00+00:00")]
    physical = [dict(finished_at="2026-12-07T05:00:00+00:00")]
    assert history.newest_age_s(logical, physical, NOW) == 3600.0
    assert history.newest_age_s([], [], NOW) is None
