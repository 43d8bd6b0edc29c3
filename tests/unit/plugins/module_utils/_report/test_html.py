"""The report page: one self-contained, escaped HTML page with every section the document holds."""

import copy
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from ansible_collections.frende.db.plugins.module_utils._report import document, html

EVIL = "<script>alert(1)</script>"
NOW = "2026-12-07T06:00:00+00:00"


def db_host(name="frende-db1"):
    return {
        "host": name, "groups": ["frende_db", "frende_monitoring"], "reachable": True,
        "gathered_at": "2026-12-07T05:59:58+00:00",
        "checks": [
            {"id": "tls", "title": "TLS and its protocols", "status": "pass",
             "evidence": "ssl = on, ssl_min_protocol_version = TLSv1.2", "section": "Network Security", "cis": "6.7"},
            {"id": "pgaudit", "title": "pgaudit logs DDL and roles", "status": "fail",
             "evidence": "pgaudit.log = none", "section": "Logging", "cis": None},
            {"id": "superusers", "title": "No unmanaged superuser", "status": "warn",
             "evidence": "role %s is a superuser" % EVIL, "section": "Roles", "cis": "4.3"},
        ],
        "roles": [
            {"name": "frende_app", "managed": True, "login": True, "attributes": ["LOGIN"], "connection_limit": 50,
             "member_of": ["frende_app_owner"], "privileges": ["CONNECT on database frende", "SELECT on public.x"]},
            {"name": EVIL, "managed": False, "login": True, "attributes": ["LOGIN", "SUPERUSER"],
             "connection_limit": -1, "member_of": [], "privileges": []},
        ],
        "failed_logins": {"window_days": 30, "total": 25, "by_day": {"2026-12-06": 20, "2026-12-07": 5},
                          "by_client": {"10.89.0.7": 25}, "firewall_dropped": {"postgresql": 12, "pgbackrest": 0}},
        "backups": {
            "logical": [
                {"name": "frende-20261207T020000Z", "finished_at": "2026-12-07T02:00:05+00:00", "day": "2026-12-07",
                 "size": 3 * 1024 ** 2, "duration_s": 3.2, "encrypted": True, "verified": True,
                 "verify_level": "restore"},
                {"name": "frende-20261207T140000Z", "finished_at": "2026-12-07T14:00:05+00:00", "day": "2026-12-07",
                 "size": 1024 ** 2, "duration_s": 7.5, "encrypted": True, "verified": False, "verify_level": "list"},
                {"name": "frende-20261206T020000Z", "finished_at": "2026-12-06T02:00:05+00:00", "day": "2026-12-06",
                 "size": 2 * 1024 ** 2, "duration_s": 2.0, "encrypted": True, "verified": None, "verify_level": None},
            ],
            "physical": [
                {"label": "20261207-020000F", "type": "full", "finished_at": "2026-12-07T02:10:00+00:00",
                 "day": "2026-12-07", "size": 40 * 1024 ** 2, "repo_size": 9 * 1024 ** 2, "duration_s": 12.0},
            ],
            "newest_age_s": 3600.0,
            "wal_archive": {"status": "pass", "message": "last archived 000000010000000000000042 2 minutes ago"},
        },
        "drills": [
            {"kind": "logical", "finished_at": "2026-12-05T03:00:00+00:00", "day": "2026-12-05", "rto_s": 40.1,
             "rpo_s": 3600.0, "rto_target_s": 3600, "rpo_target_s": 93600, "passed": True},
            {"kind": "physical", "finished_at": "2026-12-06T03:00:00+00:00", "day": "2026-12-06", "rto_s": 5400.0,
             "rpo_s": 7200.0, "rto_target_s": 3600, "rpo_target_s": 93600, "passed": False},
        ],
        "audit": {
            "pgaudit": {"total": 7, "by_class": {"DDL": 5, "ROLE": 2}, "by_day": {"2026-12-07": 7}},
            "operations": {"total": 3, "by_playbook": {"setup.yml": 2, "rotate_password.yml": 1},
                           "by_day": {"2026-12-07": 3}},
            "recent": [{"time": "2026-12-07T05:00:00+00:00", "source": "pgaudit",
                        "text": "ROLE ALTER ROLE frende_app_alt"}] * 25,
        },
        "connections": {"current": 3, "peak": 9, "peak_at": "2026-12-06T12:00:00+00:00", "max_connections": 100,
                        "samples": 288},
        "encryption_at_rest": {"encrypted": False, "device": None, "evidence": "/var/lib/postgresql on /dev/sda1"},
        "notes": ["could not read the firewall's counters & co"],
    }


def monitoring_host():
    return {"host": "frende-mon1", "groups": ["frende_monitoring"], "reachable": True,
            "gathered_at": "2026-12-07T05:59:58+00:00",
            "checks": [{"id": "tls", "title": "TLS", "status": "pass", "evidence": "ok", "section": "Network",
                        "cis": None}],
            "roles": [], "failed_logins": None, "backups": None, "drills": None, "audit": None,
            "connections": None, "encryption_at_rest": None, "notes": []}


def unreachable_host():
    return {"host": "frende-db2", "groups": ["frende_db"], "reachable": False,
            "error": "ssh: connect to host frende-db2 port 22: Connection timed out & <gone>"}


@pytest.fixture
def page():
    doc = document.build([db_host(), monitoring_host(), unreachable_host()], NOW,
                         {"rto_s": 3600, "rpo_s": 93600, "rto": "1h", "rpo": "26h"})
    return html.render(doc)


class Outline(HTMLParser):
    """The page's elements (tag, attributes, text inside) and its visible text; fails on unbalanced tags."""

    VOID = {"meta", "br", "line", "rect", "circle", "path"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.elements, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": []}
        self.elements.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.elements.append({"tag": tag, "attrs": dict(attrs), "text": []})

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1]["tag"] == tag, "unbalanced </%s>" % tag
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        for element in self.stack:
            element["text"].append(data)


def outline(page):
    parser = Outline()
    parser.feed(page)
    parser.close()
    assert [e["tag"] for e in parser.stack] == [], "unclosed elements"
    return parser


def text_of(element):
    return " ".join(" ".join(element["text"]).split())


def section(parsed, element_id):
    found = [e for e in parsed.elements if e["attrs"].get("id") == element_id]
    assert len(found) == 1
    return found[0]


def test_the_page_is_self_contained(page):
    lowered = page.lower()
    assert lowered.startswith("<!doctype html>")
    assert '<meta charset="utf-8">' in lowered
    for needle in ("<script", "http://", "https://", "<link", "src=", "<img", "@import", "url(", "@font-face",
                   "javascript:"):
        assert needle not in lowered, needle
    assert "@page { size: A4; margin: 15mm; }" in page
    assert "break-inside: avoid" in page
    assert re.search(r"@media print \{.*background: #ffffff !important", page, re.S)


def test_the_title_and_the_generated_time(page):
    parsed = outline(page)
    assert text_of(next(e for e in parsed.elements if e["tag"] == "title")) == "Frende database security report"
    assert text_of(next(e for e in parsed.elements if e["tag"] == "h1")) == "Frende database security report"
    assert "Generated 2026-12-07 06:00 UTC" in " ".join("".join(parsed.text).split())


def test_untrusted_text_is_escaped(page):
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Connection timed out &amp; &lt;gone&gt;" in page
    # The role name arrives intact as text, not as markup.
    assert EVIL in "".join(outline(page).text)


def test_the_summary_lists_what_needs_attention_in_order_with_badges(page):
    parsed = outline(page)
    items = [text_of(e) for e in parsed.elements if e["tag"] == "li" and e in _inside(parsed, "ol")]
    assert items[0].startswith("FAIL frende-db1 · pgaudit logs DDL and roles: pgaudit.log = none")
    assert items[1].startswith("FAIL frende-db2 · Host reachable: ssh: connect to host frende-db2")
    assert items[2].startswith("WARN frende-db1 · No unmanaged superuser")
    summary = text_of(section(parsed, "summary"))
    assert "Overall status: FAIL" in summary
    assert "1 fail, 1 warn, 1 pass" in summary and "0 fail, 0 warn, 1 pass" in summary
    assert "unreachable: ssh: connect to host frende-db2" in summary
    badges = [e for e in parsed.elements if "badge" in e["attrs"].get("class", "")]
    assert {e["attrs"]["class"] for e in badges} >= {"badge fail", "badge warn", "badge pass", "badge unreachable"}


def _inside(parsed, tag):
    # Elements listed after an <ol> start and before it closes are its items; the page has one <ol>.
    start = next(i for i, e in enumerate(parsed.elements) if e["tag"] == tag)
    return [e for e in parsed.elements[start + 1:] if e["tag"] == "li"][:3]


def test_each_host_has_its_section_and_the_unreachable_one_only_says_so(page):
    parsed = outline(page)
    assert [e["attrs"]["id"] for e in parsed.elements if e["tag"] == "section" and "host" in e["attrs"]["class"]] \
        == ["frende-db1", "frende-mon1", "frende-db2"]
    gone = section(parsed, "frende-db2")
    assert "Unreachable: ssh: connect to host frende-db2 port 22: Connection timed out & <gone>" in text_of(gone)
    for title in ("Policy checks", "Roles", "Backups", "Drills", "Audit trail", "Connections"):
        assert title not in text_of(gone)


def test_null_sections_are_left_out(page):
    parsed = outline(page)
    mon = text_of(section(parsed, "frende-mon1"))
    assert "Policy checks" in mon
    for title in ("Failed logins", "Backups", "Drills", "Audit trail", "Connections", "Encryption at rest", "Notes"):
        assert title not in mon
    db1 = text_of(section(parsed, "frende-db1"))
    for title in ("Policy checks", "Roles", "Failed logins (30 days)", "Backups (30 days)", "Drills", "Audit trail",
                  "Connections", "Encryption at rest", "Notes"):
        assert title in db1


def test_the_numbers_of_the_document_are_on_the_page(page):
    db1 = text_of(section(outline(page), "frende-db1"))
    assert "25 failed logins in the last 30 days" in db1
    assert "10.89.0.7 25" in db1
    assert "postgresql 12" in db1 and "pgbackrest 0" in db1
    assert "pgaudit events by class (7 in all)" in db1 and "DDL 5" in db1 and "ROLE 2" in db1
    assert "setup.yml 2" in db1 and "rotate_password.yml 1" in db1
    assert "Current 3, peak 9 at 2026-12-06 12:00 UTC, max_connections 100 (over 288 samples)" in db1
    assert "Newest backup: 1h old." in db1
    assert "3.0 MiB" in db1 and "40.0 MiB (9.0 MiB stored)" in db1 and "3.2s" in db1
    assert "40s / 1h" in db1 and "1.5h / 1h" in db1 and "2h / 26h" in db1
    assert "TLS and its protocols" in db1 and "6.7" in db1


def test_the_charts_are_inline_svg_that_parse(page):
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    # failed logins, backup size, backup duration, drills, pgaudit per day, operations per day, connections
    assert len(svgs) == 7
    for svg in svgs:
        ET.fromstring(svg)
    failed = next(s for s in svgs if "Failed logins per day" in s)
    assert len(ET.fromstring(failed).findall("rect")) == 30
    assert ">20</text>" in failed and ">5</text>" in failed


def test_backup_charts_sum_sizes_and_take_the_longest_duration_per_day(page):
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    size = ET.fromstring(next(s for s in svgs if "Backup size per day" in s))
    tips = [r.find("title").text for r in size.findall("rect") if r.find("title") is not None]
    assert "logical 2026-12-07: 4 size per day, in MiB" in tips
    assert "physical 2026-12-07: 40 size per day, in MiB" in tips
    duration = ET.fromstring(next(s for s in svgs if "Backup duration per day" in s))
    tips = [r.find("title").text for r in duration.findall("rect") if r.find("title") is not None]
    assert "logical 2026-12-07: 7.5 duration per day, in s" in tips
    assert "sizes are summed, the duration shown is the longest" in page


def test_unmanaged_roles_are_highlighted_in_words_too(page):
    parsed = outline(page)
    rows = [e for e in parsed.elements if e["tag"] == "tr" and e["attrs"].get("class") == "unmanaged"]
    assert len(rows) == 1
    assert text_of(rows[0]).startswith("<script>alert(1)</script> unmanaged yes LOGIN, SUPERUSER no limit")
    managed = next(e for e in parsed.elements if e["tag"] == "tr" and "frende_app " in text_of(e) + " ")
    assert "unmanaged" not in text_of(managed) and managed["attrs"].get("class") is None


def test_backup_verification_and_wal_archive(page):
    db1 = text_of(section(outline(page), "frende-db1"))
    assert "PASS verified (restore)" in db1
    assert "FAIL verification failed (list)" in db1
    assert "not verified" in db1
    assert "WAL archive: PASS last archived 000000010000000000000042 2 minutes ago" in db1


def test_the_last_twenty_changes_only(page):
    assert page.count("ROLE ALTER ROLE frende_app_alt") == 20


def test_encryption_at_rest_is_information(page):
    db1 = text_of(section(outline(page), "frende-db1"))
    assert "INFO The data directory is not encrypted at rest." in db1
    assert 'class="box info"' in page


def test_empty_lists_say_none_in_the_window():
    host = db_host()
    host["drills"] = []
    host["backups"]["logical"], host["backups"]["physical"] = [], []
    host["backups"]["newest_age_s"] = None
    host["failed_logins"] = {"window_days": 30, "total": 0, "by_day": {}, "by_client": {}, "firewall_dropped": None}
    host["audit"]["recent"] = []
    page = html.render(document.build([host], NOW, {}))
    db1 = text_of(section(outline(page), "frende-db1"))
    assert "Drills none in the last 30 days" in db1
    assert "Newest backup: none found." in db1
    assert "0 failed logins in the last 30 days. none in the last 30 days" in db1
    assert "Packets the firewall dropped" not in db1
    assert "at most 20) none in the last 30 days" in db1
    assert "Failed logins per day" not in page and "Backup size per day" not in page


def test_the_firewall_drops_say_they_count_since_the_rules_were_loaded():
    # nftables counters start again at each load: they are not a figure of the report's window.
    db1 = text_of(section(outline(html.render(document.build([db_host()], NOW, {}))), "frende-db1"))
    assert "Packets the firewall dropped, per service, since its rules were last loaded" in db1
    assert "postgresql 12" in db1


def test_a_page_without_hosts_still_renders():
    page = html.render(document.build([], NOW, {}))
    assert "Nothing: every check passed." in page
    outline(page)


def test_the_page_does_not_change_the_document():
    doc = document.build([db_host(), unreachable_host()], NOW, {"rto_s": 3600})
    before = copy.deepcopy(doc)
    html.render(doc)
    assert doc == before


def test_a_backup_chart_shows_only_the_kinds_the_host_has():
    host = db_host()
    host["backups"]["physical"] = []
    page = html.render(document.build([host], NOW, {}))
    size = next(s for s in re.findall(r"<svg.*?</svg>", page, re.S) if "Backup size per day" in s)
    assert "physical" not in size
    bars = [r for r in ET.fromstring(size).findall("rect") if r.find("title") is not None]
    assert len(bars) == 30 and all(r.find("title").text.startswith("logical ") for r in bars)
    assert "Backup size per day, logical sets, 30 days ending 2026-12-07." in page
