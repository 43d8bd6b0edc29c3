"""_report/policy: what was measured on a host against the security document, check by check."""

import pytest

from ansible_collections.frende.db.plugins.module_utils._report import policy

GOOD_SETTINGS = {
    "ssl": "on", "ssl_min_protocol_version": "TLSv1.2", "log_timezone": "UTC", "log_line_prefix": "%m [%p] app=%a ",
    "log_connections": "on", "log_disconnections": "on", "log_replication_commands": "on",
    "shared_preload_libraries": "pgaudit,auth_delay", "pgaudit.log": "ddl, role", "auth_delay.milliseconds": "500",
    "unix_socket_permissions": "0770", "unix_socket_group": "frende-db-socket",
}


def healthy(*names):
    return {name: dict(status="healthy", message="%s is fine." % name) for name in names}


def database(**over):
    measured = dict(health=healthy("certificate", "hba", "connections", "roles", "password_age", "failed_auth",
                                   "data_checksums", "backup_age", "wal_archive", "repository"),
                    settings=dict(GOOD_SETTINGS), audit_log_present=True, umask="0077", public_usage=False,
                    roles=[dict(name="postgres", login=True, connection_limit=-1),
                           dict(name="frende_app", login=True, connection_limit=50)],
                    logical=[dict(name="frende-1", encrypted=True, verified=True)],
                    drills=[dict(kind="logical", passed=True, rto_s=40, rto_target_s=1800, rpo_s=60,
                                 rpo_target_s=86400)],
                    encryption_at_rest=dict(encrypted=None, evidence="overlay"))
    measured.update(over)
    return {"database": measured, "firewall": dict(expected="nftables", loaded=True, dropped={"postgresql": 3})}


def by_id(measured):
    return {c["id"]: c for c in policy.evaluate(measured)}


def test_a_host_as_the_role_builds_it_passes_every_check():
    checks = by_id(database())
    assert {k: c["status"] for k, c in checks.items() if c["status"] != "pass"} == {"encryption_at_rest": "unknown"}
    assert checks["tls"]["cis"] == "6.7, 6.8" and checks["tls"]["section"] == policy.TLS_SECTION
    assert "postgresql 3" in checks["firewall"]["evidence"]


@pytest.mark.parametrize("change, check, status, words", [
    (dict(ssl_min_protocol_version="TLSv1.1"), "tls", "fail", "TLSv1.1"),
    (dict(ssl="off"), "tls", "fail", "ssl = off"),
    (dict(log_timezone="Europe/Oslo"), "logging", "warn", "not UTC"),
    (dict(log_line_prefix="%m [%p] "), "logging", "warn", "application name"),
    (dict(shared_preload_libraries="auth_delay"), "audit_trail", "fail", "pgaudit is not preloaded"),
    (dict(**{"pgaudit.log": "ddl"}), "audit_trail", "warn", "lacks role"),
    (dict(unix_socket_permissions="0777"), "socket", "warn", "every local user"),
    (dict(**{"auth_delay.milliseconds": "0"}), "limits", "warn", "auth_delay is not loaded"),
])
def test_a_setting_off_the_policy_is_named(change, check, status, words):
    settings = dict(GOOD_SETTINGS, **change)
    found = by_id(database(settings=settings))[check]
    assert found["status"] == status and words in found["evidence"], found


def test_a_wide_umask_an_unlimited_login_role_and_public_usage_are_warned():
    checks = by_id(database(umask="0022", public_usage=True,
                            roles=[dict(name="postgres", login=True, connection_limit=-1),
                                   dict(name="batch", login=True, connection_limit=-1)]))
    assert checks["socket"]["status"] == "warn" and "umask is 0022" in checks["socket"]["evidence"]
    assert checks["limits"]["status"] == "warn" and "without a connection limit: batch" in checks["limits"]["evidence"]
    assert "postgres" not in checks["limits"]["evidence"].split("limit:")[1]
    assert checks["roles"]["status"] == "warn" and "PUBLIC may use the schema public" in checks["roles"]["evidence"]


def test_health_statuses_become_the_report_s():
    health = healthy("hba", "connections", "roles", "failed_auth", "data_checksums", "wal_archive", "repository")
    health.update(certificate=dict(status="unhealthy", message="5 days left"),
                  password_age=dict(status="degraded", message="120 days old"),
                  backup_age=dict(status="unknown", message="no backups yet"))
    checks = by_id(database(health=health))
    assert (checks["certificate"]["status"], checks["password_age"]["status"]) == ("fail", "warn")
    assert checks["backups"]["status"] == "unknown"


def test_backups_drills_and_encryption():
    checks = by_id(database(logical=[dict(name="a", encrypted=False, verified=False),
                                     dict(name="b", encrypted=True, verified=True)], drills=[]))
    assert checks["backup_encryption"]["status"] == "warn" and "1 of 2" in checks["backup_encryption"]["evidence"]
    assert checks["backups"]["status"] == "fail" and "verification failed: a" in checks["backups"]["evidence"]
    assert checks["drills"]["status"] == "warn"
    plain = by_id(database(logical=[dict(name="b", encrypted=False, verified=True)]))
    assert plain["backup_encryption"]["status"] == "fail"
    failed = by_id(database(drills=[dict(kind="logical", passed=False, rto_s=4000, rto_target_s=1800, rpo_s=1,
                                         rpo_target_s=9)]))
    assert failed["drills"]["status"] == "fail" and "FAILED" in failed["drills"]["evidence"]
    encrypted = by_id(database(encryption_at_rest=dict(encrypted=True, evidence="on dm-crypt")))
    assert encrypted["encryption_at_rest"]["status"] == "pass"
    assert by_id(database(encryption_at_rest=dict(encrypted=False, evidence="sda1")))[
        "encryption_at_rest"]["status"] == "warn"


def test_firewall_states():
    def firewall(state):
        return policy.evaluate({"firewall": state})[0]
    assert firewall(dict(expected="none"))["status"] == "warn"
    assert firewall(dict(expected="nftables", loaded=False))["status"] == "fail"
    assert firewall(dict(expected="nftables", loaded=None, error="nft needs root"))["status"] == "unknown"
    assert policy.evaluate({"firewall": None}) == []


def test_an_application_server():
    good = dict(path="/etc/frende/db/database.env", exists=True, mode="0640", sslmode="verify-full",
                rootcert_exists=True)
    checks = {c["id"]: c["status"] for c in policy.evaluate({"application": good, "firewall": None})}
    assert checks == {"client_tls": "pass", "client_secrets": "pass"}
    bad = dict(good, mode="0644", sslmode="require")
    checks = {c["id"]: c["status"] for c in policy.evaluate({"application": bad, "firewall": None})}
    assert checks == {"client_tls": "fail", "client_secrets": "fail"}
    missing = policy.evaluate({"application": dict(path="/x", exists=False), "firewall": None})
    assert [c["status"] for c in missing] == ["fail"]
