"""The pg_hba.conf audit, from rows shaped like pg_hba_file_rules."""

import pytest

from ansible_collections.frende.db.plugins.module_utils._health import hba_audit as hba


def rule(line, type_="hostssl", method="scram-sha-256", address="10.0.0.5", netmask="255.255.255.255",
         database=("frende",), user=("frende_app",), error=None):
    return dict(line_number=line, type=type_, database=list(database), user_name=list(user),
                address=None if type_ == "local" else address, netmask=None if type_ == "local" else netmask,
                auth_method=method, options=None, error=error)


GOOD = [
    rule(1, "local", "peer", database=("all",), user=("postgres",)),
    rule(2, "hostssl", "scram-sha-256"),
    rule(3, "hostssl", "scram-sha-256", address="::1", netmask="ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    rule(4, "host", "reject", address="0.0.0.0", netmask="0.0.0.0", database=("all",), user=("all",)),
    rule(5, "host", "reject", address="::", netmask="::", database=("all",), user=("all",)),
]


def test_policy_file_is_healthy():
    check = hba.evaluate_hba(GOOD)
    assert check["status"] == "healthy", check
    assert check["value"] == {"rules": 5, "findings": []}


@pytest.mark.parametrize("bad,status,words", [
    (rule(9, "host", "trust"), "unhealthy", "line 9"),
    (rule(9, "hostnossl", "trust"), "unhealthy", "trust over the network"),
    (rule(9, "local", "trust"), "degraded", "every local OS user"),
    (rule(9, "hostssl", "md5"), "degraded", "method md5"),
    (rule(9, "host", "password"), "degraded", "method password"),
    (rule(9, "hostssl", "scram-sha-256", address="0.0.0.0", netmask="0.0.0.0"), "degraded", "every client address"),
    (rule(9, "hostssl", "scram-sha-256", address="::", netmask="::"), "degraded", "every client address"),
    (rule(9, "hostssl", "scram-sha-256", address="all", netmask=None), "degraded", "every client address"),
    (rule(9, "host", "scram-sha-256", error='invalid authentication method "scram"'), "unhealthy",
     "error in the file"),
])
def test_findings(bad, status, words):
    check = hba.evaluate_hba(GOOD + [bad])
    assert check["status"] == status
    assert words in check["message"]
    assert len(check["value"]["findings"]) >= 1


def test_md5_on_local_socket_is_not_flagged():
    assert hba.evaluate_hba(GOOD + [rule(9, "local", "md5")])["status"] == "healthy"


def test_open_and_trust_both_reported():
    check = hba.evaluate_hba([rule(1, "host", "trust", address="0.0.0.0", netmask="0.0.0.0")])
    assert check["status"] == "unhealthy"
    assert len(check["value"]["findings"]) == 2


def test_reject_open_to_everyone_is_fine():
    assert hba.audit_rule(rule(1, "host", "reject", address="all", netmask=None)) == []


def test_empty_rules_is_unhealthy():
    assert hba.evaluate_hba([])["status"] == "unhealthy"


def test_permission_denied_names_the_grants():
    check = hba.permission_denied_check("frende_monitor")
    assert check["status"] == "unknown"
    assert "GRANT SELECT ON pg_hba_file_rules TO frende_monitor" in check["message"]
    assert "GRANT EXECUTE ON FUNCTION pg_hba_file_rules() TO frende_monitor" in check["message"]
