"""Threshold evaluation, status aggregation and option validation of the health report."""

import datetime

import pytest

from ansible_collections.frende.db.plugins.module_utils._health import checks as hc
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError


def entry(status, name="x"):
    return hc.make_check(name, status)


@pytest.mark.parametrize("statuses,overall", [
    ([], "healthy"),
    (["healthy", "healthy"], "healthy"),
    (["healthy", "unknown"], "healthy"),
    (["unknown", "unknown"], "healthy"),
    (["healthy", "degraded", "unknown"], "degraded"),
    (["degraded", "unhealthy", "healthy"], "unhealthy"),
    (["unhealthy", "unknown"], "unhealthy"),
])
def test_aggregate_ignores_unknown(statuses, overall):
    assert hc.aggregate([entry(s) for s in statuses]) == overall


@pytest.mark.parametrize("status,fail_on,fails", [
    ("healthy", "unhealthy", False), ("degraded", "unhealthy", False), ("unhealthy", "unhealthy", True),
    ("healthy", "degraded", False), ("degraded", "degraded", True), ("unhealthy", "degraded", True),
    ("unhealthy", "never", False), ("degraded", "never", False),
])
def test_fail_on_levels(status, fail_on, fails):
    assert hc.reaches(status, fail_on) is fails


def test_make_check_refuses_unknown_status():
    with pytest.raises(ValueError):
        hc.make_check("x", "fine")


def test_problems_lists_only_bad_checks():
    checks = [hc.make_check("a", "healthy", message="ok"), hc.make_check("b", "degraded", message="slow"),
              hc.make_check("c", "unknown", message="?"), hc.make_check("d", "unhealthy", message="down")]
    assert hc.problems(checks) == ["b is degraded: slow", "d is unhealthy: down"]


# -- connections ---------------------------------------------------------------

@pytest.mark.parametrize("used,status", [(10, "healthy"), (160, "healthy"), (161, "degraded"),
                                         (190, "degraded"), (191, "unhealthy"), (200, "unhealthy")])
def test_connections_thresholds_are_strictly_above(used, status):
    check = hc.evaluate_connections(used, 200, {"active": used}, 80, 95)
    assert check["status"] == status
    assert check["value"]["used"] == used and check["value"]["max"] == 200
    assert check["threshold"] == {"warn_pct": 80, "crit_pct": 95}
    if status == "unhealthy":
        assert "exhaustion" in check["message"]


# -- long transactions -----------------------------------------------------------

def opts(**over):
    return hc.normalize_options(over)


def test_long_transactions_none_open_is_healthy():
    check = hc.evaluate_long_transactions(None, None, opts())
    assert check["status"] == "healthy"
    assert check["value"]["oldest_transaction_seconds"] is None


@pytest.mark.parametrize("oldest,idle,status", [
    (60, None, "healthy"), (301, None, "degraded"), (1801, None, "unhealthy"),
    (10, 301, "degraded"), (10, 1801, "unhealthy"), (400, 2000, "unhealthy"), (299, 299, "healthy"),
])
def test_long_transactions_thresholds(oldest, idle, status):
    o = dict(age=oldest, pid=1, user="app", database="frende")
    i = dict(age=idle, pid=2, user="app", database="frende") if idle is not None else None
    check = hc.evaluate_long_transactions(o, i, opts())
    assert check["status"] == status
    assert check["threshold"]["long_transaction_warn"] == "5min"
    if status != "healthy":
        assert "pid" in check["message"]


def test_long_transactions_use_given_thresholds():
    o = dict(age=3, pid=1, user="u", database="d")
    check = hc.evaluate_long_transactions(o, None, opts(long_transaction_warn="1s", long_transaction_crit="2s"))
    assert check["status"] == "unhealthy"


# -- settings ---------------------------------------------------------------------

def rows(**over):
    base = dict(
        max_connections=dict(setting="200", unit=None, vartype="integer"),
        authentication_timeout=dict(setting="60", unit="s", vartype="integer"),
        log_connections=dict(setting="on", unit=None, vartype="bool"),
        log_disconnections=dict(setting="on", unit=None, vartype="bool"),
        password_encryption=dict(setting="scram-sha-256", unit=None, vartype="enum"),
    )
    base.update(over)
    return base


def test_settings_policy_is_healthy():
    checks = hc.evaluate_settings(rows(), hc.normalize_expected({}))
    assert [c["name"] for c in checks] == ["settings." + n for n in hc.SETTING_NAMES]
    assert all(c["status"] == "healthy" for c in checks), checks
    by = {c["name"]: c for c in checks}
    assert by["settings.max_connections"]["value"] == 200
    assert by["settings.authentication_timeout"]["value"] == "60s"
    assert by["settings.log_connections"]["value"] is True


@pytest.mark.parametrize("expected", ["60s", "1min", "60000ms", 60])
def test_authentication_timeout_compares_units(expected):
    checks = hc.evaluate_settings(rows(), hc.normalize_expected({"authentication_timeout": expected}))
    assert checks[1]["status"] == "healthy"


def test_authentication_timeout_in_minutes_unit_from_server():
    checks = hc.evaluate_settings(rows(authentication_timeout=dict(setting="1", unit="min", vartype="integer")),
                                  hc.normalize_expected({}))
    assert checks[1]["status"] == "healthy"


def test_settings_drift_is_degraded_with_both_values():
    checks = hc.evaluate_settings(rows(
        authentication_timeout=dict(setting="120", unit="s", vartype="integer"),
        log_connections=dict(setting="off", unit=None, vartype="bool"),
        password_encryption=dict(setting="md5", unit=None, vartype="enum")), hc.normalize_expected({}))
    by = {c["name"]: c for c in checks}
    assert by["settings.authentication_timeout"]["status"] == "degraded"
    assert by["settings.authentication_timeout"]["message"] == \
        "authentication_timeout is 120s; the policy says 60s."
    assert by["settings.log_connections"]["status"] == "degraded"
    assert by["settings.log_connections"]["value"] is False
    assert by["settings.password_encryption"]["status"] == "degraded"
    assert by["settings.max_connections"]["status"] == "healthy"
    assert hc.aggregate(checks) == "degraded"


def test_settings_missing_row_is_unknown():
    r = rows()
    del r["log_disconnections"]
    by = {c["name"]: c for c in hc.evaluate_settings(r, hc.normalize_expected({}))}
    assert by["settings.log_disconnections"]["status"] == "unknown"


def test_expected_max_connections_other_value():
    checks = hc.evaluate_settings(rows(), hc.normalize_expected({"max_connections": 300}))
    assert checks[0]["status"] == "degraded" and checks[0]["threshold"] == 300


# -- ssl -------------------------------------------------------------------------------

def test_ssl_healthy():
    check = hc.evaluate_ssl(dict(ssl=True, version="TLSv1.3", cipher="X"), "on", "TLSv1.2", "TLSv1.2")
    assert check["status"] == "healthy"


@pytest.mark.parametrize("own,server,minimum,status,words", [
    (dict(ssl=False), "on", "TLSv1.2", "degraded", "not encrypted"),
    (None, "on", "TLSv1.2", "degraded", "not encrypted"),
    (dict(ssl=True, version="TLSv1.3"), "on", "TLSv1", "degraded", "ssl_min_protocol_version"),
    (dict(ssl=True, version="TLSv1.3"), "on", "", "degraded", "ssl_min_protocol_version"),
    (dict(ssl=False), "off", "TLSv1.2", "unhealthy", "ssl=off"),
])
def test_ssl_problems(own, server, minimum, status, words):
    check = hc.evaluate_ssl(own, server, minimum, "TLSv1.2")
    assert check["status"] == status
    assert words in check["message"]


def test_ssl_local_socket_needs_no_tls():
    check = hc.evaluate_ssl(dict(ssl=False, local_socket=True), "on", "TLSv1.2", "TLSv1.2")
    assert check["status"] == "healthy"
    assert "local socket" in check["message"]
    assert check["value"]["local_socket"] is True and check["threshold"]["connection_ssl"] is False


@pytest.mark.parametrize("server,minimum,status,words", [
    ("off", "TLSv1.2", "unhealthy", "ssl=off"),
    ("on", "TLSv1", "degraded", "ssl_min_protocol_version"),
])
def test_ssl_local_socket_still_checks_the_server(server, minimum, status, words):
    check = hc.evaluate_ssl(dict(ssl=False, local_socket=True), server, minimum, "TLSv1.2")
    assert check["status"] == status
    assert words in check["message"] and "not encrypted" not in check["message"]


def test_ssl_tcp_without_tls_is_degraded():
    check = hc.evaluate_ssl(dict(ssl=False, local_socket=False), "on", "TLSv1.2", "TLSv1.2")
    assert check["status"] == "degraded" and check["threshold"]["connection_ssl"] is True


def test_ssl_stricter_policy():
    check = hc.evaluate_ssl(dict(ssl=True, version="TLSv1.3"), "on", "TLSv1.2", "TLSv1.3")
    assert check["status"] == "degraded"


# -- database size, backups, failed auth ---------------------------------------------------

def test_database_size():
    check = hc.evaluate_database_size("frende", {"frende": 10 * 1024 * 1024, "postgres": 1024})
    assert check["status"] == "healthy"
    assert check["value"]["bytes"] == 10485760 and check["value"]["total_bytes"] == 10486784
    assert "10.0 MB" in check["message"]
    assert hc.evaluate_database_size("nope", {"frende": 1})["status"] == "unhealthy"
    assert hc.evaluate_database_size("frende", {"frende": None})["status"] == "unknown"


NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)


def backup(hours_ago):
    return dict(name="frende-x", database="frende", format="custom",
                finished_at=NOW - datetime.timedelta(hours=hours_ago))


@pytest.mark.parametrize("newest,status", [(None, "unknown"), (backup(2), "healthy"),
                                           (backup(25.9), "healthy"), (backup(26.1), "degraded"),
                                           (backup(24 * 30), "degraded")])
def test_backup_age(newest, status):
    check = hc.evaluate_backup(newest, NOW, 26 * 3600, "/b")
    assert check["status"] == status
    if newest:
        assert check["value"]["age_seconds"] == round((NOW - newest["finished_at"]).total_seconds())


def test_failed_auth_threshold():
    summary = dict(count=11, by_user={"bob": 9, "eve": 2}, by_client={"10.0.0.9": 11}, files=["/l"])
    check = hc.evaluate_failed_auth(summary, 86400, 10)
    assert check["status"] == "degraded" and "bob: 9" in check["message"]
    summary["count"] = 10
    assert hc.evaluate_failed_auth(summary, 86400, 10)["status"] == "healthy"


# -- option validation -------------------------------------------------------------------

def test_defaults_parse():
    o = hc.normalize_options({})
    assert o["long_transaction_warn"] == 300 and o["idle_in_transaction_crit"] == 1800
    assert o["failed_auth_window"] == 86400 and o["max_backup_age"] == 93600
    assert o["expected"]["authentication_timeout"] == 60
    assert o["fail_on"] == "unhealthy"


@pytest.mark.parametrize("bad,words", [
    (dict(connections_warn_pct=-1), "connections_warn_pct must be between 1 and 100"),
    (dict(connections_warn_pct=0), "connections_warn_pct must be between 1 and 100"),
    (dict(connections_crit_pct=101), "connections_crit_pct must be between 1 and 100"),
    (dict(connections_warn_pct=95, connections_crit_pct=95), "must be lower than connections_crit_pct"),
    (dict(connections_warn_pct=96, connections_crit_pct=90), "must be lower than connections_crit_pct"),
    (dict(connections_warn_pct="eighty"), "connections_warn_pct must be a whole number"),
    (dict(connections_warn_pct=True), "connections_warn_pct must be a whole number"),
    (dict(long_transaction_warn="soon"), "long_transaction_warn must be a duration"),
    (dict(long_transaction_warn="-5min"), "long_transaction_warn must be a duration"),
    (dict(long_transaction_crit="0s"), "long_transaction_crit must be longer than zero"),
    (dict(long_transaction_warn="1h", long_transaction_crit="30min"), "must not be longer than"),
    (dict(idle_in_transaction_warn="5 parsecs"), "idle_in_transaction_warn must be a duration"),
    (dict(idle_in_transaction_warn="2h"), "must not be longer than idle_in_transaction_crit"),
    (dict(failed_auth_window="yesterday"), "failed_auth_window must be a duration"),
    (dict(failed_auth_window="0"), "failed_auth_window must be longer than zero"),
    (dict(failed_auth_warn=-1), "failed_auth_warn must be at least 0"),
    (dict(failed_auth_warn="ten"), "failed_auth_warn must be a whole number"),
    (dict(max_backup_age="a day"), "max_backup_age must be a duration"),
    (dict(max_backup_age=-3), "max_backup_age must not be negative"),
    (dict(fail_on="sometimes"), "fail_on must be one of"),
    (dict(database='x"; DROP TABLE t; --'), "database"),
    (dict(backup_dir=""), "backup_dir must be a file system path"),
    (dict(server_log="a\x00b"), "server_log must be a file system path"),
    (dict(expected=dict(max_connections=0)), "expected.max_connections must be between"),
    (dict(expected=dict(max_connections="many")), "expected.max_connections must be a whole number"),
    (dict(expected=dict(authentication_timeout="forever")), "expected.authentication_timeout must be a duration"),
    (dict(expected=dict(authentication_timeout="11min")), "between 1s and 600s"),
    (dict(expected=dict(log_connections="sometimes")), "expected.log_connections must be true or false"),
    (dict(expected=dict(password_encryption="plain")), "expected.password_encryption must be one of"),
    (dict(expected=dict(ssl_min_protocol_version="SSLv3")), "expected.ssl_min_protocol_version must be one of"),
    (dict(expected=dict(max_conections=5)), "unknown keys max_conections"),
])
def test_bad_options_say_what_is_wrong(bad, words):
    with pytest.raises(FrendeDbError) as err:
        hc.normalize_options(bad)
    assert words in str(err.value)


def test_expected_accepts_config_file_spellings():
    e = hc.normalize_expected(dict(log_connections="on", log_disconnections="no", max_connections="250",
                                   ssl_min_protocol_version="tlsv1.3", password_encryption="SCRAM-SHA-256"))
    assert e["log_connections"] is True and e["log_disconnections"] is False
    assert e["max_connections"] == 250
    assert e["ssl_min_protocol_version"] == "TLSv1.3" and e["password_encryption"] == "scram-sha-256"


# -- wal_archive and repository -----------------------------------------------------
NOW_UTC = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc)


def archiver(**changes):
    row = dict(archive_mode="on", archived_count=10, last_archived_wal="000000010000000000000010",
               last_archived_time=NOW_UTC - datetime.timedelta(seconds=30), failed_count=0, last_failed_wal=None,
               last_failed_time=None, current_wal="000000010000000000000011")
    row.update(changes)
    return row


def test_wal_archive_is_unknown_without_archiving():
    check = hc.evaluate_wal_archive(archiver(archive_mode="off"), NOW_UTC, 300)
    assert check["status"] == hc.UNKNOWN and "frende_backup" in check["message"]


def test_wal_archive_is_healthy_when_recent_or_quiet():
    assert hc.evaluate_wal_archive(archiver(), NOW_UTC, 300)["status"] == hc.HEALTHY
    # An hour without archiving on a server that wrote no new segment: nothing is at risk.
    quiet = archiver(last_archived_time=NOW_UTC - datetime.timedelta(hours=1))
    assert hc.evaluate_wal_archive(quiet, NOW_UTC, 300)["status"] == hc.HEALTHY


def test_wal_archive_is_degraded_when_finished_segments_wait_past_the_target():
    late = archiver(last_archived_time=NOW_UTC - datetime.timedelta(minutes=10), current_wal="000000010000000000000014")
    check = hc.evaluate_wal_archive(late, NOW_UTC, 300)
    assert check["status"] == hc.DEGRADED
    assert check["value"]["segments_waiting"] == 3 and "5min recovery point target is missed" in check["message"]


def test_wal_archive_is_unhealthy_while_archiving_fails():
    failing = archiver(failed_count=4, last_failed_wal="000000010000000000000011",
                       last_failed_time=NOW_UTC - datetime.timedelta(seconds=5))
    check = hc.evaluate_wal_archive(failing, NOW_UTC, 300)
    assert check["status"] == hc.UNHEALTHY and "000000010000000000000011" in check["message"]
    # A failure before the last success is history, not a problem.
    healed = archiver(failed_count=4, last_failed_time=NOW_UTC - datetime.timedelta(minutes=5))
    assert hc.evaluate_wal_archive(healed, NOW_UTC, 300)["status"] == hc.HEALTHY


def test_wal_archive_across_a_log_boundary_counts_segments_right():
    late = archiver(last_archived_wal="0000000100000001000000FF", current_wal="000000010000000200000001",
                    last_archived_time=NOW_UTC - datetime.timedelta(minutes=10))
    assert hc.evaluate_wal_archive(late, NOW_UTC, 300)["value"]["segments_waiting"] == 1


def test_repository_states():
    stop = NOW_UTC.timestamp() - 3600
    assert hc.evaluate_repository(None, None, NOW_UTC, 93600)["status"] == hc.UNKNOWN
    assert hc.evaluate_repository("frende", stop, NOW_UTC, 93600)["status"] == hc.HEALTHY
    assert hc.evaluate_repository("frende", stop, NOW_UTC, 1800)["status"] == hc.DEGRADED
    assert hc.evaluate_repository("frende", None, NOW_UTC, 93600)["status"] == hc.DEGRADED
    broken = hc.evaluate_repository("frende", None, NOW_UTC, 93600, error="pgbackrest info failed (exit 56)")
    assert broken["status"] == hc.UNHEALTHY and "exit 56" in broken["message"]


@pytest.mark.parametrize("key, value, words", [
    ("wal_archive_max_age", "soon", "wal_archive_max_age"),
    ("repository_max_age", "0s", "repository_max_age"),
    ("repository_stanza", "bad stanza;", "not a pgBackRest stanza name"),
])
def test_wrong_repository_options_are_refused(key, value, words):
    with pytest.raises(FrendeDbError, match=words):
        hc.normalize_options({key: value})


@pytest.mark.parametrize("days,status", [(400, "healthy"), (30.5, "healthy"), (29.9, "degraded"), (7.5, "degraded"),
                                         (6.9, "unhealthy"), (-1, "unhealthy")])
def test_certificate_is_degraded_under_30_days_and_unhealthy_under_7(days, status):
    now = datetime.datetime(2026, 12, 7, tzinfo=datetime.timezone.utc)
    check = hc.evaluate_certificate("/etc/x.crt", now + datetime.timedelta(days=days), now)
    assert check["status"] == status
    assert check["value"]["not_after_timestamp"] == (now + datetime.timedelta(days=days)).timestamp()
    if status != "healthy":
        assert "setup playbook" in check["message"]


def test_a_certificate_that_cannot_be_read_is_unknown_with_why():
    check = hc.evaluate_certificate("/nope.crt", None, datetime.datetime.now(datetime.timezone.utc),
                                    error="The certificate /nope.crt could not be read here: No such file")
    assert (check["status"], check["message"]) == ("unknown", "The certificate /nope.crt could not be read here: "
                                                              "No such file")


def test_data_checksums_off_are_degraded_with_how_to_enable_them():
    assert hc.evaluate_data_checksums("on")["status"] == "healthy"
    off = hc.evaluate_data_checksums("off")
    assert off["status"] == "degraded" and "frende_db_enable_data_checksums=true" in off["message"]


def test_a_plaintext_newest_set_is_degraded_when_encryption_is_required():
    now = datetime.datetime(2026, 12, 7, 12, tzinfo=datetime.timezone.utc)
    newest = dict(name="frende-20261207T020000Z", database="frende", format="custom",
                  finished_at=now - datetime.timedelta(hours=10), manifest=dict(encrypted=False))
    assert hc.evaluate_backup(newest, now, 26 * 3600, "/b")["status"] == "healthy"
    plain = hc.evaluate_backup(newest, now, 26 * 3600, "/b", require_encrypted=True)
    assert plain["status"] == "degraded" and "not encrypted" in plain["message"]
    newest["manifest"]["encrypted"] = True
    assert hc.evaluate_backup(newest, now, 26 * 3600, "/b", require_encrypted=True)["status"] == "healthy"


def test_password_age_from_the_rotation_record():
    now = datetime.datetime(2026, 12, 7, tzinfo=datetime.timezone.utc)
    record = dict(active="frende_app_alt", phase="done",
                  set_at=dict(frende_app="2026-01-01T00:00:00+00:00", frende_app_alt="2026-11-30T00:00:00+00:00"))
    fresh = hc.evaluate_password_age(record, now, 90 * 86400, "/etc/frende/db/app-login.json")
    assert fresh["status"] == "healthy" and fresh["value"]["age_seconds"] == 7 * 86400
    record["active"] = "frende_app"
    old = hc.evaluate_password_age(record, now, 90 * 86400)
    assert old["status"] == "degraded" and "rotate_password.yml" in old["message"]
    assert hc.evaluate_password_age(None, now, 90 * 86400, "/x")["status"] == "unknown"
    naive = dict(active="frende_app", set_at=dict(frende_app="2026-12-06T00:00:00"))  # as now(utc=true) writes it
    assert hc.evaluate_password_age(naive, now, 90 * 86400)["value"]["age_seconds"] == 86400
    assert hc.evaluate_password_age(dict(active="frende_app", set_at={}), now, 90)["status"] == "unknown"
