"""frende.db.report_document / report_html / report_stamp: the report assembled from registered results."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.frende.db.plugins.filter.report import FilterModule, report_document, report_html, report_stamp

PART = dict(changed=False, report=dict(checks=[dict(id="tls", title="TLS", status="pass", evidence="ok",
                                                    section="s", cis=None)], roles=[], drills=[], notes=[]))


def hostvars(**hosts):
    return {name: dict(variables, group_names=["frende_db", "other"]) for name, variables in hosts.items()}


def test_reachable_unreachable_failed_and_missing_hosts():
    found = report_document(hostvars(
        db1=dict(frende_db_report_part=PART),
        db2=dict(frende_db_report_part=dict(unreachable=True, msg="Failed to connect to the host via ssh")),
        db3=dict(frende_db_report_part=dict(failed=True, msg="window_days must be a whole number")),
        db4=dict()), ["db1", "db2", "db3", "db4"], "2026-12-07T06:00:00+00:00", dict(rto_s=1800))
    hosts = {h["host"]: h for h in found["hosts"]}
    assert hosts["db1"]["reachable"] and hosts["db1"]["groups"] == ["frende_db"]
    assert hosts["db2"]["error"] == "Failed to connect to the host via ssh"
    assert hosts["db3"]["error"] == "gathering failed: window_days must be a whole number"
    assert "not gathered" in hosts["db4"]["error"]
    assert [h["host"] for h in found["hosts"]] == ["db1", "db2", "db3", "db4"]
    assert found["summary"]["status"] == "fail"
    assert "<!DOCTYPE html>" in report_html(found)


def test_report_html_wants_a_document():
    with pytest.raises(AnsibleFilterError, match="takes the document"):
        report_html({"hosts": []})


@pytest.mark.parametrize("value, stamp", [
    ("2026-12-07T06:00:00.123456+00:00", "20261207T060000Z"),
    ("2026-12-07T07:30:00+01:00", "20261207T063000Z"),
])
def test_report_stamp(value, stamp):
    assert report_stamp(value) == stamp


def test_report_stamp_refuses_what_is_no_time():
    with pytest.raises(AnsibleFilterError, match="ISO 8601"):
        report_stamp("yesterday")


def test_the_filters_are_registered():
    assert set(FilterModule().filters()) == {"report_document", "report_html", "report_stamp"}
