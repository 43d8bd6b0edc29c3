# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Inline SVG charts for the security report, and the human units they and the page use.

Private to frende.db; standard library only. Every function is pure and returns an SVG string
meant to sit inside the HTML page: no script, no external reference, no ids (a page holds many
charts), every text escaped. Series differ by shade *and* by outline, shape or label, so a
greyscale print still tells them apart.
"""

from __future__ import annotations

import datetime
import html
import math
import re
from collections.abc import Callable, Sequence

# Dark solid, white outlined, mid-grey outlined: distinct in greyscale too.
_STYLES = (("#1f4e79", "#1f4e79"), ("#ffffff", "#1f4e79"), ("#9a9a9a", "#333333"))
_INK = "#222222"
_GRID = "#d0d0d0"
_TARGET = "#b00020"
_CHAR_PX = 5.6  # average width of a 10px sans-serif character, for "does this label fit"
_DATE_RE = re.compile(r"^\d{4}-(\d{2}-\d{2})$")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------- units

def human_bytes(size: float | None) -> str:
    """1023 B, 1.5 KiB, 12.0 MiB, 3.2 GiB."""
    if size is None:
        return "—"
    size = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024.0
    return "%.1f TiB" % size


def human_duration(seconds: float | None) -> str:
    """0.4s, 45s, 12min, 1h, 3.5h, 2d."""
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 10:
        return "%ss" % _number(round(seconds, 1))
    if seconds < 120:
        return "%ds" % round(seconds)
    if seconds < 3600:
        return "%dmin" % round(seconds / 60)
    if seconds < 172800:
        return "%sh" % _number(round(seconds / 3600, 1))
    return "%sd" % _number(round(seconds / 86400, 1))


def unit_scale(maximum: float, kind: str) -> tuple[float, str]:
    """(divisor, unit) that keeps ``maximum`` readable: kind is "bytes" or "seconds"."""
    steps = {"bytes": ((1, "B"), (1024, "KiB"), (1024 ** 2, "MiB"), (1024 ** 3, "GiB"), (1024 ** 4, "TiB")),
             "seconds": ((1, "s"), (60, "min"), (3600, "h"), (86400, "d"))}[kind]
    # Switch unit only past twice the next one, so 90 s stays "90 s" rather than "1.5 min".
    chosen = steps[0]
    for divisor, unit in steps[1:]:
        if maximum >= 2 * divisor:
            chosen = (divisor, unit)
    return chosen


def _number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return ("%.2f" % value).rstrip("0").rstrip(".")


# ---------------------------------------------------------------- series

def day_series(by_day: dict, end_day: datetime.date, days: int = 30) -> list[tuple[str, float]]:
    """``days`` (ISO day, value) pairs ending on ``end_day``; a day missing from ``by_day`` is 0."""
    by_day = by_day or {}
    first = end_day - datetime.timedelta(days=days - 1)
    series = []
    for offset in range(days):
        label = (first + datetime.timedelta(days=offset)).isoformat()
        series.append((label, by_day.get(label, 0) or 0))
    return series


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """0 and round steps (1, 2 or 5 times a power of ten) up to at least ``maximum``."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    top = step * math.ceil(maximum / step - 1e-9)
    return [round(step * i, 10) for i in range(int(round(top / step)) + 1)]


# ---------------------------------------------------------------- drawing helpers

def _svg(width: int, height: int, title: str, desc: str, body: list[str]) -> str:
    head = ('<svg class="chart" role="img" aria-label="%s" width="%d" height="%d" viewBox="0 0 %d %d" '
            'font-family="system-ui, sans-serif" font-size="10">' % (_e(title), width, height, width, height))
    return "".join([head, "<title>%s</title>" % _e(title), "<desc>%s</desc>" % _e(desc)] + body + ["</svg>"])


def _text(x: float, y: float, text: object, anchor: str = "start", size: int = 10, weight: str = "normal") -> str:
    return ('<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%d" font-weight="%s" fill="%s">%s</text>'
            % (x, y, anchor, size, weight, _INK, _e(text)))


def _short(label: str) -> str:
    match = _DATE_RE.match(label)
    return match.group(1) if match else label


def _y_axis(ticks: list[float], left: float, right: float, top: float, bottom: float,
            fmt: Callable[[float], str]) -> list[str]:
    parts = []
    for tick in ticks:
        y = bottom - (bottom - top) * tick / ticks[-1]
        parts.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>'
                     % (left, y, right, y, _GRID))
        parts.append(_text(left - 4, y + 3.5, fmt(tick), anchor="end"))
    parts.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>'
                 % (left, bottom, right, bottom, _INK))
    return parts


def _x_labels(labels: Sequence[str], left: float, slot: float, y: float) -> list[str]:
    longest = max((len(_short(label)) for label in labels), default=1)
    every = max(1, math.ceil((longest + 1) * _CHAR_PX / slot))
    # Counted from the end so the newest day (the report's day) always has its label.
    return [_text(left + slot * (i + 0.5), y, _short(label), anchor="middle")
            for i, label in enumerate(labels) if (len(labels) - 1 - i) % every == 0]


def _legend(names: Sequence[str], right: float, y: float) -> list[str]:
    parts, x = [], right
    for index in reversed(range(len(names))):
        x -= len(names[index]) * _CHAR_PX + 22
        fill, stroke = _STYLES[index % len(_STYLES)]
        parts.append('<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s" stroke="%s" stroke-width="1.5"/>'
                     % (x, y - 9, fill, stroke))
        parts.append(_text(x + 14, y, names[index]))
    return parts


def _frame(width: int, height: int, title: str, unit_label: str) -> tuple[list[str], dict]:
    box = {"left": 52.0, "right": width - 10.0, "top": 40.0, "bottom": height - 24.0}
    parts = [_text(4, 14, title, size=12, weight="bold"), _text(4, 30, unit_label)]
    return parts, box


# ---------------------------------------------------------------- charts

def bar_chart(series: Sequence[tuple[str, float]], title: str, unit_label: str, width: int = 640,
              height: int = 220, value_format: Callable[[float], str] = _number) -> str:
    """One bar per (label, value); the caller passes every day, zero days included."""
    return grouped_bar_chart([label for label, _value in series], {"": [value for _label, value in series]},
                             title, unit_label, width, height, value_format)


def grouped_bar_chart(labels: Sequence[str], series: dict, title: str, unit_label: str, width: int = 640,
                      height: int = 220, value_format: Callable[[float], str] = _number) -> str:
    """Bars side by side per label, one per series (name -> values, same length as ``labels``)."""
    parts, box = _frame(width, height, title, unit_label)
    names = list(series)
    values = [[float(v or 0) for v in series[name]] for name in names]
    maximum = max((v for row in values for v in row), default=0)
    ticks = nice_ticks(maximum)
    parts += _y_axis(ticks, box["left"], box["right"], box["top"], box["bottom"], value_format)
    slot = (box["right"] - box["left"]) / max(1, len(labels))
    bar_width = slot * 0.8 / max(1, len(names))
    for s, name in enumerate(names):
        parts += _bars(labels, values[s], s, name, box, slot, bar_width, ticks[-1], value_format, unit_label)
    parts += _x_labels(labels, box["left"], slot, box["bottom"] + 13)
    if any(names):
        parts += _legend(names, box["right"], 14)
    desc = "; ".join("%s%s total %s, highest %s" % (name, ":" if name else "", value_format(sum(row)),
                                                    value_format(max(row, default=0)))
                     for name, row in zip(names, values))
    return _svg(width, height, title, "%s, %d values (%s). %s" % (title, len(labels), unit_label, desc), parts)


def _bars(labels, values, index, name, box, slot, bar_width, top_value, fmt, unit_label) -> list[str]:
    fill, stroke = _STYLES[index % len(_STYLES)]
    height = box["bottom"] - box["top"]
    parts = []
    for i, value in enumerate(values):
        x = box["left"] + slot * (i + 0.1) + bar_width * index
        h = height * value / top_value
        tip = "%s%s: %s %s" % (name + " " if name else "", labels[i], fmt(value), unit_label)
        parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="%s" stroke-width="1">'
                     '<title>%s</title></rect>' % (x, box["bottom"] - h, bar_width, h, fill, stroke, _e(tip)))
        text = fmt(value)
        if value and len(text) * _CHAR_PX * 0.9 <= bar_width + 2:
            parts.append(_text(x + bar_width / 2, box["bottom"] - h - 3, text, anchor="middle", size=9))
    return parts


def drill_chart(drills: Sequence[dict], rto_target_s: float | None, rpo_target_s: float | None,
                width: int = 640, height: int = 220) -> str:
    """Two panels, RTO and RPO of each drill (oldest first) against its dashed target line."""
    drills = sorted(drills, key=lambda d: str(d.get("finished_at") or ""))
    title = "Restore drills: restore time (RTO) and data age (RPO) against their targets"
    half = width // 2
    parts = [_text(4, 14, title, size=12, weight="bold")]
    # The legend takes the last 16 px, under both panels.
    parts += _drill_panel(drills, "rto_s", "RTO (restore time)", rto_target_s, 0, half, height - 16)
    parts += _drill_panel(drills, "rpo_s", "RPO (data age)", rpo_target_s, half, width - half, height - 16)
    parts += _drill_legend(height - 4)
    desc = "; ".join("%s drill %s: RTO %s, RPO %s, %s" % (
        d.get("kind", ""), d.get("day") or d.get("finished_at") or "", human_duration(d.get("rto_s")),
        human_duration(d.get("rpo_s")), "passed" if d.get("passed") else "failed") for d in drills)
    return _svg(width, height, title, desc or "No drills.", parts)


def _drill_panel(drills, key, label, target, x0, width, height) -> list[str]:
    values = [float(d.get(key) or 0) for d in drills]
    divisor, unit = unit_scale(max(values + [float(target or 0)]), "seconds")
    scaled = [v / divisor for v in values]
    ticks = nice_ticks(max(scaled + [(target or 0) / divisor]))
    box = {"left": x0 + 48.0, "right": x0 + width - 12.0, "top": 40.0, "bottom": height - 24.0}
    parts = [_text(x0 + 4, 30, "%s, in %s" % (label, unit))]
    parts += _y_axis(ticks, box["left"], box["right"], box["top"], box["bottom"], _number)
    slot = (box["right"] - box["left"]) / max(1, len(drills))
    span = box["bottom"] - box["top"]
    if target:
        y = box["bottom"] - span * (target / divisor) / ticks[-1]
        parts.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" '
                     'stroke-dasharray="6 4"/>' % (box["left"], y, box["right"], y, _TARGET))
        parts.append(_text(box["right"], y - 4, "target %s" % human_duration(target), anchor="end"))
    for i, drill in enumerate(drills):
        x = box["left"] + slot * (i + 0.5)
        y = box["bottom"] - span * scaled[i] / ticks[-1]
        parts.append(_marker(drill, x, y, values[i] <= target if target else bool(drill.get("passed"))))
        parts.append(_text(x, y - 8, human_duration(values[i]), anchor="middle", size=9))
    parts += _x_labels([str(d.get("day") or "") for d in drills], box["left"], slot, box["bottom"] + 13)
    return parts


def _marker(drill: dict, x: float, y: float, met: bool) -> str:
    # Shape says the kind, fill says met or missed: both survive a greyscale print.
    fill = _STYLES[0][0] if met else "#ffffff"
    stroke = _STYLES[0][1] if met else _TARGET
    tip = "<title>%s drill %s: %s</title>" % (
        _e(drill.get("kind", "")), _e(drill.get("finished_at") or ""), "met" if met else "missed the target")
    if drill.get("kind") == "physical":
        return ('<rect x="%.1f" y="%.1f" width="9" height="9" fill="%s" stroke="%s" stroke-width="2">%s</rect>'
                % (x - 4.5, y - 4.5, fill, stroke, tip))
    return ('<circle cx="%.1f" cy="%.1f" r="5" fill="%s" stroke="%s" stroke-width="2">%s</circle>'
            % (x, y, fill, stroke, tip))


def _drill_legend(y: float) -> list[str]:
    return [
        '<circle cx="10" cy="%.1f" r="5" fill="%s"/>' % (y - 4, _STYLES[0][0]), _text(20, y, "logical"),
        '<rect x="65" y="%.1f" width="9" height="9" fill="%s"/>' % (y - 8.5, _STYLES[0][0]), _text(79, y, "physical"),
        '<circle cx="140" cy="%.1f" r="5" fill="#ffffff" stroke="%s" stroke-width="2"/>' % (y - 4, _TARGET),
        _text(150, y, "hollow: missed the target"),
        '<line x1="290" y1="%.1f" x2="320" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="6 4"/>'
        % (y - 4, y - 4, _TARGET), _text(325, y, "target"),
    ]


def gauge_chart(value: float, maximum: float | None, title: str, current: float | None = None,
                width: int = 640, height: int = 72) -> str:
    """A horizontal bar: ``value`` (e.g. the peak) out of ``maximum``, with ``current`` as a marked tick."""
    full = float(maximum or 0) or max(float(value or 0), float(current or 0), 1.0)
    left, right, top, bar_h = 10.0, width - 10.0, 32.0, 18.0
    scale = (right - left) / full
    used = min(float(value or 0), full) * scale
    share = " (%d%%)" % round(100 * float(value or 0) / full) if maximum else ""
    label = "%s: %s of %s%s" % (title, _number(value or 0), _number(maximum) if maximum else "?", share)
    parts = [_text(left, 14, label, size=11, weight="bold"),
             '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ffffff" stroke="%s" stroke-width="1"/>'
             % (left, top, right - left, bar_h, _INK),
             '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>'
             % (left, top, used, bar_h, _STYLES[0][0], _e(label))]
    for quarter in range(5):
        x = left + (right - left) * quarter / 4
        parts.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>'
                     % (x, top + bar_h, x, top + bar_h + 4, _INK))
        parts.append(_text(x, top + bar_h + 14, _number(round(full * quarter / 4, 1)),
                           anchor="start" if quarter == 0 else "end" if quarter == 4 else "middle"))
    if current is not None:
        parts += _current_marker(left + min(float(current), full) * scale, top, bar_h, current)
        label += ", current %s" % _number(current)
    return _svg(width, height, title, label, parts)


def _current_marker(x: float, top: float, bar_h: float, current: float) -> list[str]:
    # White under black: the tick shows on the dark bar and on the empty part alike.
    return ['<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ffffff" stroke-width="4"/>'
            % (x, top, x, top + bar_h),
            '<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>'
            % (x, top - 2, x, top + bar_h, _INK), '<path d="M%.1f %.1fl-5 -7h10z" fill="%s"/>' % (x, top - 1, _INK),
            _text(x + 7, top - 3, "current %s" % _number(current), size=9)]
