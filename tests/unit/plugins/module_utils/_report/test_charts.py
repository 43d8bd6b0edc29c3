"""The report's inline SVG charts: well-formed, carrying their values, escaped, without script or references."""

import datetime
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.frende.db.plugins.module_utils._report import charts


def parse(svg):
    root = ET.fromstring(svg)
    assert root.tag == "svg"
    return root


def texts(root):
    return ["".join(el.itertext()) for el in root.iter() if el.tag in ("text", "title", "desc")]


def assert_self_contained(svg):
    lowered = svg.lower()
    for needle in ("<script", "http://", "https://", "href", "src=", "onload", "url("):
        assert needle not in lowered


def test_day_series_fills_missing_days_with_zero_and_ends_on_the_given_day():
    series = charts.day_series({"2026-12-06": 20, "2026-12-07": 5, "2026-10-01": 99}, datetime.date(2026, 12, 7))
    assert len(series) == 30
    assert series[0] == ("2026-11-08", 0)
    assert series[-2:] == [("2026-12-06", 20), ("2026-12-07", 5)]
    assert sum(value for _label, value in series) == 25
    assert [label for label, _value in charts.day_series({}, datetime.date(2026, 3, 1), days=3)] == [
        "2026-02-27", "2026-02-28", "2026-03-01"]


def test_bar_chart_is_well_formed_and_carries_its_values():
    series = charts.day_series({"2026-12-06": 20, "2026-12-07": 5}, datetime.date(2026, 12, 7))
    svg = charts.bar_chart(series, "Failed logins per day", "failed logins per day")
    root = parse(svg)
    assert_self_contained(svg)
    assert root.find("title").text == "Failed logins per day"
    assert root.get("role") == "img"
    assert len(root.findall("rect")) == 30
    found = texts(root)
    assert "20" in found and "5" in found
    assert "12-07" in found  # the report's day always has its label
    assert any("2026-12-06: 20 failed logins per day" in t for t in found)
    heights = [float(r.get("height")) for r in root.findall("rect")]
    assert heights[-2] == pytest.approx(4 * heights[-1])
    assert heights[:-2] == [0.0] * 28


def test_bar_chart_of_only_zeros_still_draws_an_axis():
    root = parse(charts.bar_chart([("a", 0), ("b", 0)], "Nothing", "events"))
    assert [float(r.get("height")) for r in root.findall("rect")] == [0.0, 0.0]
    assert "1" in texts(root)


def test_every_text_is_escaped():
    svg = charts.bar_chart([("<b>&", 3)], 'Title "<script>alert(1)</script>"', "a & b")
    root = parse(svg)
    assert "<script" not in svg
    assert root.find("title").text == 'Title "<script>alert(1)</script>"'
    assert any("<b>&" in t for t in texts(root))


def test_grouped_bar_chart_has_a_bar_per_series_and_a_legend():
    svg = charts.grouped_bar_chart(["d1", "d2", "d3"], {"logical": [1, 0, 3], "physical": [0, 2, 0]},
                                   "Backup size per day", "MiB per day")
    root = parse(svg)
    assert_self_contained(svg)
    rects = [r for r in root.findall("rect") if r.find("title") is not None]
    assert len(rects) == 6
    assert {"logical", "physical"} <= set(texts(root))
    # Told apart by outline and fill, not by colour alone: one dark solid, one white with an outline.
    fills = {r.find("title").text.split()[0]: r.get("fill") for r in rects}
    assert fills["physical"] == "#ffffff" and fills["logical"] != "#ffffff"


def test_nice_ticks():
    assert charts.nice_ticks(25) == [0, 10, 20, 30]
    assert charts.nice_ticks(4) == [0, 1, 2, 3, 4]
    assert charts.nice_ticks(0) == [0, 1]
    assert charts.nice_ticks(0.3)[-1] >= 0.3


def test_drill_chart_shows_each_drill_against_a_dashed_target():
    drills = [
        {"kind": "logical", "finished_at": "2026-12-01T03:00:00+00:00", "day": "2026-12-01", "rto_s": 40.1,
         "rpo_s": 3600.0, "rto_target_s": 3600, "rpo_target_s": 93600, "passed": True},
        {"kind": "physical", "finished_at": "2026-12-05T03:00:00+00:00", "day": "2026-12-05", "rto_s": 5400,
         "rpo_s": 7200.0, "rto_target_s": 3600, "rpo_target_s": 93600, "passed": False},
    ]
    svg = charts.drill_chart(drills, 3600, 93600)
    root = parse(svg)
    assert_self_contained(svg)
    found = texts(root)
    assert "target 1h" in found and "target 26h" in found
    assert "40s" in found and "1.5h" in found and "1h" in found and "2h" in found
    dashed = [line for line in root.iter("line") if line.get("stroke-dasharray")]
    assert len(dashed) >= 2
    assert len(root.findall("circle")) >= 2  # logical drills are circles
    physical = [r for r in root.findall("rect") if r.find("title") is not None]
    assert len(physical) == 2  # one per panel, a square
    assert all(r.get("fill") == "#ffffff" for r in physical[:1])  # the missed RTO is hollow
    assert "failed" in root.find("desc").text


def test_drill_chart_without_drills_is_still_valid():
    root = parse(charts.drill_chart([], None, None))
    assert root.find("desc").text == "No drills."


def test_gauge_chart_shows_peak_of_maximum_and_current():
    svg = charts.gauge_chart(9, 100, "Peak connections", current=3)
    root = parse(svg)
    assert_self_contained(svg)
    assert any("9 of 100 (9%)" in t for t in texts(root))
    assert "current 3" in root.find("desc").text
    bars = root.findall("rect")
    assert float(bars[1].get("width")) == pytest.approx(float(bars[0].get("width")) * 0.09)


@pytest.mark.parametrize("size, expected", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"),
                                            (12 * 1024 ** 2, "12.0 MiB"), (3.2 * 1024 ** 3, "3.2 GiB"),
                                            (None, "—")])
def test_human_bytes(size, expected):
    assert charts.human_bytes(size) == expected


@pytest.mark.parametrize("seconds, expected", [(0.4, "0.4s"), (3.25, "3.2s"), (45, "45s"), (720, "12min"),
                                               (3599, "60min"), (3600, "1h"), (12600, "3.5h"), (93600, "26h"),
                                               (172800, "2d"), (None, "—")])
def test_human_duration(seconds, expected):
    assert charts.human_duration(seconds) == expected


def test_unit_scale_picks_a_readable_unit():
    assert charts.unit_scale(500, "bytes") == (1, "B")
    assert charts.unit_scale(5 * 1024 ** 2, "bytes") == (1024 ** 2, "MiB")
    assert charts.unit_scale(90, "seconds") == (1, "s")
    assert charts.unit_scale(7200, "seconds") == (3600, "h")
