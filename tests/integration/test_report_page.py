"""The security report page in a real browser: headless Chromium draws it, reads it and prints it.

The document is built with document.build from realistic facts (a database host, a backup host and a
host that could not be reached) and rendered by html.render, as the report module does. Chromium
(Debian package ``chromium``) must be installed: without it these tests fail, they do not skip.
"""

from __future__ import annotations

import datetime
import re
import struct
import zlib

import pytest

from ansible_collections.frende.db.plugins.module_utils._report import document, html
from tests.support import browser, png

GENERATED = datetime.datetime(2026, 12, 7, 6, 0, 0, tzinfo=datetime.timezone.utc)


def day(offset):
    return (GENERATED.date() - datetime.timedelta(days=offset)).isoformat()


def at(offset, hour):
    return "%sT%02d:00:05+00:00" % (day(offset), hour)


def database_host():
    logical = [{"name": "frende-%sT020000Z" % day(n).replace("-", ""), "finished_at": at(n, 2), "day": day(n),
                "size": (120 + n) * 1024 ** 2, "duration_s": 30.0 + n, "encrypted": True,
                "verified": n != 3, "verify_level": "restore" if n % 7 == 0 else "list"} for n in range(30)]
    failures = {day(n): count for n, count in ((0, 5), (1, 20), (9, 3), (17, 1))}
    return {
        "host": "frende-db1", "groups": ["frende_db", "frende_monitoring"], "reachable": True,
        "gathered_at": "2026-12-07T05:59:58+00:00",
        "checks": [
            {"id": "tls", "title": "TLS and its protocols", "status": "pass",
             "evidence": "ssl = on, ssl_min_protocol_version = TLSv1.2", "section": "Network Security", "cis": "6.7"},
            {"id": "hba", "title": "pg_hba.conf allows only scram-sha-256", "status": "pass",
             "evidence": "12 rules, all scram-sha-256 or peer", "section": "Access control", "cis": "5.3"},
            {"id": "pgaudit", "title": "pgaudit logs DDL and role changes", "status": "fail",
             "evidence": "pgaudit.log = 'none'", "section": "Logging", "cis": "3.2"},
            {"id": "superusers", "title": "No unmanaged superuser", "status": "warn",
             "evidence": "unmanaged role <script>alert(1)</script> has SUPERUSER", "section": "Roles", "cis": "4.3"},
            {"id": "encryption", "title": "Data encrypted at rest", "status": "unknown",
             "evidence": "could not read the block device of /var/lib/postgresql", "section": "Storage", "cis": None},
        ],
        "roles": [
            {"name": "frende_app", "managed": True, "login": True, "attributes": ["LOGIN"], "connection_limit": 50,
             "member_of": ["frende_app_owner"], "privileges": ["CONNECT on database frende", "SELECT on public.x"]},
            {"name": "frende_app_owner", "managed": True, "login": False, "attributes": [], "connection_limit": -1,
             "member_of": [], "privileges": ["CREATE on schema public"]},
            {"name": "<script>alert(1)</script>", "managed": False, "login": True,
             "attributes": ["LOGIN", "SUPERUSER"], "connection_limit": -1, "member_of": [], "privileges": []},
        ],
        "failed_logins": {"window_days": 30, "total": sum(failures.values()), "by_day": failures,
                          "by_client": {"10.89.0.7": 25, "192.0.2.14": 4}, "firewall_dropped": {"postgresql": 12}},
        "backups": {"logical": logical, "physical": [], "newest_age_s": 14400.0,
                    "wal_archive": {"status": "pass", "message": "last WAL archived 2 minutes ago"}},
        "drills": [{"kind": "logical", "finished_at": at(n, 4), "day": day(n), "rto_s": 60.0 + n, "rpo_s": 7200.0,
                    "rto_target_s": 3600, "rpo_target_s": 93600, "passed": True} for n in (1, 8, 15, 22)],
        "audit": {"pgaudit": {"total": 9, "by_class": {"DDL": 6, "ROLE": 3}, "by_day": {day(0): 7, day(4): 2}},
                  "operations": {"total": 3, "by_playbook": {"setup.yml": 2, "rotate_password.yml": 1},
                                 "by_day": {day(0): 1, day(4): 2}},
                  "recent": [{"time": at(0, 5), "source": "pgaudit", "text": "ROLE ALTER ROLE frende_app"},
                             {"time": at(4, 9), "source": "frende.db", "text": "rotate_password.yml by ops"}]},
        "connections": {"current": 3, "peak": 41, "peak_at": at(2, 11), "max_connections": 100, "samples": 288},
        "encryption_at_rest": {"encrypted": None, "device": None, "evidence": "lsblk is not installed"},
        "notes": [],
    }


def backup_host():
    physical = [{"label": "%s-010000%s" % (day(n).replace("-", ""), "F" if n % 7 == 0 else "I"),
                 "type": "full" if n % 7 == 0 else "incr", "finished_at": at(n, 1), "day": day(n),
                 "size": (900 if n % 7 == 0 else 60) * 1024 ** 2, "repo_size": 200 * 1024 ** 2,
                 "duration_s": 600.0 if n % 7 == 0 else 45.0} for n in range(30)]
    return {
        "host": "frende-backup1", "groups": ["frende_backup"], "reachable": True,
        "gathered_at": "2026-12-07T05:59:59+00:00",
        "checks": [{"id": "repo_encryption", "title": "Repository encrypted", "status": "pass",
                    "evidence": "repo1-cipher-type = aes-256-cbc", "section": "Backups", "cis": None},
                   {"id": "repo_retention", "title": "Retention keeps 4 full backups", "status": "warn",
                    "evidence": "repo1-retention-full = 2", "section": "Backups", "cis": None}],
        "roles": [], "failed_logins": None,
        "backups": {"logical": [], "physical": physical, "newest_age_s": 18000.0,
                    "wal_archive": {"status": "warn", "message": "no WAL arrived for 40 minutes"}},
        "drills": [{"kind": "physical", "finished_at": at(n, 5), "day": day(n), "rto_s": 2400.0 + 900 * n,
                    "rpo_s": 3600.0, "rto_target_s": 3600, "rpo_target_s": 93600, "passed": n < 2}
                   for n in (0, 7, 14)],
        "audit": None, "connections": None, "encryption_at_rest": None,
        "notes": ["the firewall's counters need root"],
    }


def unreachable_host():
    return {"host": "frende-db2", "groups": ["frende_db"], "reachable": False,
            "error": "ssh: connect to host frende-db2 port 22: Connection timed out"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """(document, path of the page, a HOME for Chromium)."""
    base = tmp_path_factory.mktemp("report")
    doc = document.build([database_host(), backup_host(), unreachable_host()], GENERATED,
                         {"rto_s": 3600, "rpo_s": 93600, "rto": "1h", "rpo": "26h"})
    page = base / "report.html"
    page.write_text(html.render(doc), encoding="utf-8")
    home = base / "home"
    home.mkdir()
    return doc, page, home


def chromium(home, *args):
    try:
        return browser.chromium(home, *args)
    except browser.BrowserMissing as exc:
        pytest.fail(str(exc))


# ---------------------------------------------------------------- the PNG decoder these tests rely on

def encode(width, height, channels, pixels, filter_type):
    """A PNG of ``pixels`` (rows of bytes) with every row filtered by ``filter_type``: the decoder's test input."""
    bpp, previous, raw = channels, bytes(width * channels), b""
    for row in pixels:
        filtered = bytearray()
        for i, value in enumerate(row):
            left = row[i - bpp] if i >= bpp else 0
            up_left = previous[i - bpp] if i >= bpp else 0
            predictor = {0: 0, 1: left, 2: previous[i], 3: (left + previous[i]) >> 1,
                         4: png.paeth(left, previous[i], up_left)}[filter_type]
            filtered.append((value - predictor) & 0xFF)
        raw += bytes([filter_type]) + bytes(filtered)
        previous = row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, {3: 2, 4: 6}[channels], 0, 0, 0)
    return png.SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4])
def test_the_png_decoder_undoes_every_filter(channels, filter_type):
    width, height = 7, 5
    pixels = [bytes((x * 37 + y * 91 + c * 53 + x * y * 13) % 256 for x in range(width) for c in range(channels))
              for y in range(height)]
    image = png.decode(encode(width, height, channels, pixels, filter_type))
    assert (image.width, image.height, image.channels) == (width, height, channels)
    assert image.rows == pixels
    assert image.pixel(2, 3) == pixels[3][2 * channels:3 * channels]


def test_the_png_decoder_refuses_what_it_cannot_read():
    good = encode(2, 2, 3, [bytes(6), bytes(6)], 0)
    with pytest.raises(ValueError, match="not a PNG"):
        png.decode(b"GIF89a" + good[6:])
    corrupt = bytearray(good)
    corrupt[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    with pytest.raises(ValueError, match="CRC"):
        png.decode(bytes(corrupt))


# ---------------------------------------------------------------- the page in Chromium

def test_the_page_is_drawn(report):
    _doc, page, home = report
    try:
        image = browser.screenshot(page, page.parent / "report.png", home)
    except browser.BrowserMissing as exc:
        pytest.fail(str(exc))
    assert (image.width, image.height) == (1280, 2000)
    assert browser.blank_reason(image) is None
    colours = image.colours()
    # The summary's FAIL badges are drawn in their colour (#b00020) within the first screen.
    fail = bytes([0xB0, 0x00, 0x20])
    assert sum(n for colour, n in colours.items() if colour[:3] == fail) > 100


def test_the_dom_holds_every_host_and_what_needs_attention(report):
    doc, page, home = report
    try:
        dom, text = browser.rendered_text(page, home)
    except browser.BrowserMissing as exc:
        pytest.fail(str(exc))
    assert "<script>alert(1)</script>" not in dom
    for host in ("frende-db1", "frende-backup1", "frende-db2"):
        assert host in text
    attention = doc["summary"]["attention"]
    assert len(attention) == 5
    for item in attention:
        assert " ".join(item["message"].split()) in text, item
    assert "Unreachable: ssh: connect to host frende-db2 port 22: Connection timed out" in text
    assert "unmanaged role <script>alert(1)</script> has SUPERUSER" in text


def test_the_page_prints_to_pdf(report):
    _doc, page, home = report
    pdf = page.parent / "report.pdf"
    chromium(home, "--no-pdf-header-footer", "--print-to-pdf=%s" % pdf, page.as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    # The summary, then each host from a new page.
    assert pages >= 4, "%d pages" % pages
