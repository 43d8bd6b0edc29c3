"""Which gauges each job reports: pure functions, no textfile."""

from ansible_collections.frende.db.plugins.module_utils._health import checks as hc
from ansible_collections.frende.db.plugins.module_utils._metrics import samples


def by_key(found):
    return dict(((name, tuple(sorted(labels.items()))), value) for name, labels, value in found)


def test_every_sample_has_a_help_text_and_no_label_names_a_secret():
    found = (samples.job_run("backup", 1, 10.0) + samples.backup_taken("frende", "logical", 1, 2, 3)
             + samples.backup_verified("frende", "logical", True)
             + samples.drill_done("frende", "logical", 4, 5, 6, 7, True, 8)
             + samples.health([hc.make_check("connection", "healthy")], "frende"))
    for name, labels, _value in found:
        assert name in samples.HELP
        assert not any("pass" in key or "secret" in key for key in labels)


def test_a_job_run_is_its_exit_status_and_time():
    assert by_key(samples.job_run("drill", 3, 1700.5)) == {
        ("frende_db_job_last_exit_code", (("job", "drill"),)): 3,
        ("frende_db_job_last_run_timestamp_seconds", (("job", "drill"),)): 1700.5}


def test_a_new_backup_is_unverified_until_verify_says_so_unless_verified_in_the_run():
    labels = (("database", "frende"), ("kind", "logical"))
    assert by_key(samples.backup_taken("frende", "logical", 100, 2048, 6.5))[
        ("frende_db_backup_last_verified", labels)] == 0
    assert by_key(samples.backup_taken("frende", "full", 100, 2048, 6.5, verified=True))[
        ("frende_db_backup_last_verified", (("database", "frende"), ("kind", "full")))] == 1
    assert by_key(samples.backup_verified("frende", "logical", False)) == {
        ("frende_db_backup_last_verified", labels): 0}


def test_a_drill_that_missed_keeps_the_last_success_time():
    missed = by_key(samples.drill_done("frende", "physical", 40.0, None, 30, 300, False, 999))
    labels = (("database", "frende"), ("kind", "physical"))
    assert missed[("frende_db_drill_last_rto_seconds", labels)] == 40.0
    assert ("frende_db_drill_last_rpo_seconds", labels) not in missed  # not measured: not a zero
    assert ("frende_db_drill_last_success_timestamp_seconds", labels) not in missed
    passed = by_key(samples.drill_done("frende", "physical", 20.0, 10.0, 30, 300, True, 999))
    assert passed[("frende_db_drill_last_success_timestamp_seconds", labels)] == 999


def test_health_reports_each_check_once_with_its_worst_status():
    checks = [hc.make_check("connection", "healthy"),
              hc.make_check("settings.max_connections", "healthy"),
              hc.make_check("settings.log_connections", "degraded"),
              hc.make_check("settings.password_encryption", "unknown"),
              hc.make_check("repository", "unknown"),
              hc.make_check("wal_archive", "unhealthy")]
    found = by_key(samples.health(checks, "frende"))
    status = dict((key[1][0][1], value) for key, value in found.items() if key[0] == "frende_db_health_status")
    assert status == {"connection": 0, "settings": 1, "repository": 3, "wal_archive": 2}


def test_health_carries_failed_logins_certificate_and_newest_backup():
    checks = [
        hc.evaluate_failed_auth(dict(count=30, by_user={"frende_app": 30}, by_client={}, files=[], recent=25),
                                86400, 10),
        hc.make_check("certificate", "healthy", dict(not_after_timestamp=1800000000.0)),
        hc.make_check("backup_age", "healthy", dict(database="frende", finished_timestamp=1700000000.0)),
    ]
    found = by_key(samples.health(checks, "frende"))
    assert found[("frende_db_failed_auth_attempts", (("window", "10min"),))] == 25
    assert found[("frende_db_failed_auth_attempts", (("window", "24h"),))] == 30
    assert found[("frende_db_tls_certificate_expiry_timestamp_seconds", ())] == 1800000000.0
    assert found[("frende_db_backup_last_success_timestamp_seconds",
                  (("database", "frende"), ("kind", "logical")))] == 1700000000.0


def test_unmeasured_checks_give_no_figures():
    checks = [hc.make_check("failed_auth", "unknown", dict(lc_messages="de_DE")),
              hc.make_check("certificate", "unknown", dict(path="/x"), None, "not readable")]
    names = set(name for name, _labels, _value in samples.health(checks, "frende"))
    assert names == {"frende_db_health_status"}
