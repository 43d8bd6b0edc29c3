"""The report document: the hosts' facts copied as they are, and a summary that orders what needs attention."""

import datetime
import json

from ansible_collections.frende.db.plugins.module_utils._report import document


def check(check_id, status, evidence="", title=None):
    return {"id": check_id, "title": title or check_id.upper(), "status": status, "evidence": evidence,
            "section": "Network Security", "cis": None}


def reachable(host, *checks, groups=("frende_db",)):
    return {"host": host, "groups": list(groups), "reachable": True, "checks": list(checks), "roles": [],
            "failed_logins": None, "backups": None, "drills": None, "audit": None, "connections": None,
            "encryption_at_rest": None, "notes": []}


def unreachable(host, error):
    return {"host": host, "groups": ["frende_db"], "reachable": False, "error": error}


def test_attention_is_ordered_by_severity_then_host_then_check():
    hosts = [reachable("db2", check("tls", "warn", "TLSv1"), check("audit", "fail", "pgaudit off"),
                       check("hba", "pass")),
             reachable("db1", check("zeta", "unknown", "could not read"), check("tls", "fail", "ssl = off"),
                       check("alpha", "fail", "bad"))]
    doc = document.build(hosts, "2026-12-07T06:00:00+00:00", {"rto_s": 3600})
    found = [(a["severity"], a["host"], a["check"]) for a in doc["summary"]["attention"]]
    assert found == [("fail", "db1", "alpha"), ("fail", "db1", "tls"), ("fail", "db2", "audit"),
                     ("warn", "db2", "tls"), ("unknown", "db1", "zeta")]
    assert doc["summary"]["attention"][1]["message"] == "ssl = off"
    assert doc["summary"]["attention"][1]["title"] == "TLS"
    assert document.SEVERITY_ORDER == ("fail", "warn", "unknown")


def test_passing_checks_are_not_in_the_attention_list_and_all_pass_is_pass():
    doc = document.build([reachable("db1", check("tls", "pass"), check("hba", "pass"))], "2026-12-07T06:00:00+00:00",
                         {})
    assert doc["summary"]["status"] == "pass"
    assert doc["summary"]["attention"] == []
    assert doc["summary"]["hosts"] == [{"host": "db1", "groups": ["frende_db"], "status": "pass",
                                        "line": "0 fail, 0 warn, 2 pass"}]


def test_the_overall_status_is_the_worst_host():
    warn_only = document.build([reachable("db1", check("tls", "pass")), reachable("db2", check("tls", "warn"))],
                               "2026-12-07T06:00:00+00:00", {})
    assert warn_only["summary"]["status"] == "warn"
    with_fail = document.build([reachable("db1", check("tls", "warn")), reachable("db2", check("x", "fail"))],
                               "2026-12-07T06:00:00+00:00", {})
    assert with_fail["summary"]["status"] == "fail"


def test_an_unreachable_host_is_a_failure_with_its_error():
    hosts = [reachable("db1", check("tls", "warn", "old")), unreachable("db2", "ssh: connect to host db2 timed out")]
    doc = document.build(hosts, "2026-12-07T06:00:00+00:00", {})
    assert doc["summary"]["status"] == "fail"
    assert doc["summary"]["attention"][0] == {"severity": "fail", "host": "db2", "check": "reachable",
                                              "title": "Host reachable",
                                              "message": "ssh: connect to host db2 timed out"}
    lines = {h["host"]: h for h in doc["summary"]["hosts"]}
    assert lines["db2"]["status"] == "unreachable"
    assert lines["db2"]["line"] == "unreachable: ssh: connect to host db2 timed out"
    assert lines["db1"]["line"] == "0 fail, 1 warn, 0 pass"


def test_host_lines_count_each_status_and_name_unknown_only_when_present():
    host = reachable("db1", check("a", "fail"), check("b", "fail"), check("c", "warn"), check("d", "pass"),
                     check("e", "pass"), check("f", "pass"))
    assert document.build([host], "x", {})["summary"]["hosts"][0]["line"] == "2 fail, 1 warn, 3 pass"
    host["checks"].append(check("g", "unknown"))
    assert document.build([host], "x", {})["summary"]["hosts"][0]["line"] == "2 fail, 1 warn, 1 unknown, 3 pass"


def test_host_status():
    assert document.host_status(unreachable("db1", "x")) == "unreachable"
    assert document.host_status(reachable("db1", check("a", "pass"), check("b", "fail"))) == "fail"
    assert document.host_status(reachable("db1", check("a", "pass"), check("b", "unknown"))) == "warn"
    assert document.host_status(reachable("db1", check("a", "pass"))) == "pass"
    assert document.host_status(reachable("db1")) == "pass"


def test_the_document_keeps_inventory_order_copies_the_facts_and_is_json():
    hosts = [reachable("db9", check("tls", "pass")), unreachable("db1", "down"), reachable("db5")]
    moment = datetime.datetime(2026, 12, 7, 6, 0, 0, tzinfo=datetime.timezone.utc)
    doc = document.build(hosts, moment, {"rto_s": 3600, "rto": "1h"}, window_days=14)
    assert [h["host"] for h in doc["hosts"]] == ["db9", "db1", "db5"]
    assert [h["host"] for h in doc["summary"]["hosts"]] == ["db9", "db1", "db5"]
    assert doc["hosts"] == hosts and doc["hosts"][0] is not hosts[0]
    hosts[0]["checks"][0]["status"] = "fail"
    assert doc["hosts"][0]["checks"][0]["status"] == "pass"
    assert doc["generated_at"] == "2026-12-07T06:00:00+00:00"
    assert (doc["format_version"], doc["kind"], doc["window_days"]) == (1, "frende.db security report", 14)
    assert doc["targets"] == {"rto_s": 3600, "rto": "1h"}
    assert json.loads(json.dumps(doc)) == doc


def test_a_naive_time_is_taken_as_utc_and_missing_targets_are_an_empty_dict():
    doc = document.build([], datetime.datetime(2026, 12, 7, 6, 0, 0), None)
    assert doc["generated_at"] == "2026-12-07T06:00:00+00:00"
    assert doc["targets"] == {}
    assert doc["summary"] == {"status": "pass", "attention": [], "hosts": []}
