# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The security report as one self-contained HTML page, rendered from the document (document.py).

Private to frende.db; standard library only. ``render`` is pure. The page carries its own style
and inline SVG charts: no script, no font, no link, no image, so it opens offline, mails as one
file and prints on A4. Everything taken from the document is escaped: role names, log lines and
error messages come from the hosts and are not trusted.
"""

from __future__ import annotations

import datetime
import html

from ansible_collections.frende.db.plugins.module_utils._report import charts, document as _document

TITLE = "Frende database security report"
_DASH = "—"

_STYLE = """
@page { size: A4; margin: 15mm; }
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "DejaVu Sans",
       sans-serif; color: #1a1a1a; background: #ffffff; margin: 0 auto; max-width: 1100px; padding: 24px;
       line-height: 1.4; font-size: 14px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 20px; border-bottom: 2px solid #1f4e79; padding-bottom: 4px; margin: 32px 0 8px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
h4 { font-size: 14px; margin: 12px 0 4px; }
p.meta { color: #444; margin: 2px 0 8px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
th, td { border: 1px solid #b8b8b8; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eef2f6; }
table.compact { width: auto; min-width: 40%; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; min-width: 3.4em; text-align: center; font-weight: bold; font-size: 11px;
         padding: 0 5px; border: 2px solid; border-radius: 3px; letter-spacing: 0.04em; }
.badge.pass { background: #e3f4e6; color: #165c26; border-color: #165c26; }
.badge.warn { background: #fff1c7; color: #6b4700; border-color: #6b4700; border-style: dashed; }
.badge.fail, .badge.unreachable { background: #b00020; color: #ffffff; border-color: #6d0014; border-style: double;
                                  border-width: 3px; }
.badge.unknown { background: #eeeeee; color: #333333; border-color: #333333; border-style: dotted; }
.badge.info { background: #e6eef8; color: #1f4e79; border-color: #1f4e79; }
ol.attention li { margin: 2px 0; }
tr.unmanaged td { background: #fff1c7; font-style: italic; }
tr.unmanaged td:first-child { border-left: 4px solid #6b4700; }
.tag { font-style: normal; font-weight: bold; font-size: 11px; border: 1px solid #6b4700; padding: 0 4px;
       text-transform: uppercase; }
.box { border: 1px solid #1f4e79; padding: 8px 12px; border-radius: 4px; margin: 8px 0; }
.box.unreachable { border: 3px double #b00020; background: #fdecee; }
.box.info { background: #f1f5fa; }
.none { color: #444; font-style: italic; }
figure { margin: 8px 0 12px; }
figcaption { font-size: 12px; color: #444; }
svg.chart { display: block; max-width: 100%; height: auto; }
nav ul { margin: 4px 0; padding-left: 20px; }
section.part, table, figure, .box, tr { break-inside: avoid; page-break-inside: avoid; }
h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
@media print {
  body { padding: 0; max-width: none; font-size: 10pt; background: #ffffff !important; color: #000000; }
  section.host { break-before: page; page-break-before: always; }
  th, .box, .box.unreachable, .box.info, tr.unmanaged td { background: #ffffff !important; }
  .badge { background: #ffffff !important; color: #000000 !important; }
  a { color: #000000; text-decoration: none; }
  nav { display: none; }
}
"""


class _Html(str):
    """Markup built here, already escaped: ``_cell`` passes it through, anything else is escaped."""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _plain(value: object) -> str:
    return _DASH if value is None or value == "" else str(value)


def _cell(value: object) -> str:
    if isinstance(value, _Html):
        return value
    return _e(_plain(value))


def render(document: dict) -> str:
    """The whole page for ``document`` (the schema of SCHEMA.md)."""
    context = {"end_day": _day_of(document.get("generated_at")), "window": int(document.get("window_days") or 30),
               "targets": document.get("targets") or {}}
    body = [_header(document), _summary(document.get("summary") or {})]
    body += [_host(facts, context) for facts in document.get("hosts") or []]
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n" % (_e(TITLE), _STYLE),
        "\n".join(body), "\n</body>\n</html>\n"])


# ---------------------------------------------------------------- small pieces

def badge(status: str | None) -> _Html:
    """A status as text and colour, so it reads in greyscale too: PASS, WARN, FAIL, UNKNOWN, ..."""
    status = str(status or "unknown")
    return _Html('<span class="badge %s">%s</span>' % (_e(status), _e(status.upper())))


def _table(headers: list[str], rows: list[list], row_classes: list[str] | None = None,
           numeric: tuple[int, ...] = ()) -> str:
    head = "".join('<th%s>%s</th>' % (' class="num"' if i in numeric else "", _e(h)) for i, h in enumerate(headers))
    lines = []
    for index, row in enumerate(rows):
        css = row_classes[index] if row_classes else ""
        cells = "".join('<td%s>%s</td>' % (' class="num"' if i in numeric else "", _cell(v)) for i, v in enumerate(row))
        lines.append('<tr%s>%s</tr>' % (' class="%s"' % _e(css) if css else "", cells))
    compact = ' class="compact"' if len(headers) <= 2 else ""
    return "<table%s>\n<thead><tr>%s</tr></thead>\n<tbody>\n%s\n</tbody>\n</table>" % (compact, head, "\n".join(lines))


def _part(title: str, body: list[str], level: int = 3) -> str:
    return '<section class="part">\n<h%d>%s</h%d>\n%s\n</section>' % (level, _e(title), level, "\n".join(body))


def _none(window: int) -> str:
    return '<p class="none">none in the last %d days</p>' % window


def _figure(svg: str, caption: str) -> str:
    return "<figure>%s<figcaption>%s</figcaption></figure>" % (svg, _e(caption))


def _when(value: object) -> str:
    moment = _parse(value)
    if moment is None:
        return _DASH if value in (None, "") else str(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _parse(value: object) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def _day_of(value: object) -> datetime.date | None:
    moment = _parse(value)
    return moment.date() if moment else None


def _lines(values: list | None) -> _Html:
    return _Html("<br>".join(_e(v) for v in values) if values else _DASH)


def _yes(value: object) -> str:
    return _DASH if value is None else ("yes" if value else "no")


def _by_count(counts: dict | None) -> list[list]:
    return [[key, value] for key, value in sorted((counts or {}).items(), key=lambda kv: (-(kv[1] or 0), kv[0]))]


# ---------------------------------------------------------------- header and summary

def _header(document: dict) -> str:
    targets = document.get("targets") or {}
    goals = ", ".join("%s %s" % (name.upper(), targets[name]) for name in ("rto", "rpo") if targets.get(name))
    meta = "Generated %s · window %s days" % (_when(document.get("generated_at")), document.get("window_days", 30))
    if goals:
        meta += " · drill targets %s" % goals
    return '<header>\n<h1>%s</h1>\n<p class="meta">%s</p>\n</header>' % (_e(TITLE), _e(meta))


def _summary(summary: dict) -> str:
    items = ['<li>%s <strong>%s</strong> · %s: %s</li>' % (
        badge(item.get("severity")), _e(item.get("host", "")), _e(item.get("title", "")), _e(item.get("message", "")))
        for item in summary.get("attention") or []]
    attention = ('<ol class="attention">\n%s\n</ol>' % "\n".join(items) if items
                 else '<p class="none">Nothing: every check passed.</p>')
    rows = [[_Html('<a href="#%s">%s</a>' % (_e(h.get("host", "")), _e(h.get("host", "")))),
             ", ".join(h.get("groups") or []), badge(h.get("status")), h.get("line", "")]
            for h in summary.get("hosts") or []]
    return "\n".join([
        '<section class="summary" id="summary">', "<h2>Summary</h2>",
        '<p class="overall">Overall status: %s</p>' % badge(summary.get("status")),
        "<h3>What needs attention</h3>", attention,
        "<h3>Hosts</h3>", _table(["Host", "Groups", "Status", "Checks"], rows), "</section>"])


# ---------------------------------------------------------------- one host

def _host(facts: dict, context: dict) -> str:
    name = str(facts.get("host", ""))
    reachable = facts.get("reachable", True)
    status = _document.host_status(facts)
    head = ['<section class="host" id="%s">' % _e(name), "<h2>%s %s</h2>" % (_e(name), badge(status)),
            '<p class="meta">Groups: %s%s</p>' % (
                _e(", ".join(facts.get("groups") or []) or _DASH),
                " · facts gathered %s" % _e(_when(facts["gathered_at"])) if facts.get("gathered_at") else "")]
    if not reachable:
        box = '<div class="box unreachable"><strong>Unreachable:</strong> %s</div>' % _e(facts.get("error") or "")
        return "\n".join(head + [box, "</section>"])
    parts = [_checks(facts.get("checks")), _roles(facts.get("roles")),
             _failed_logins(facts.get("failed_logins"), context), _backups(facts.get("backups"), context),
             _drills(facts.get("drills"), context), _audit(facts.get("audit"), context),
             _connections(facts.get("connections")), _encryption(facts.get("encryption_at_rest")),
             _notes(facts.get("notes"))]
    return "\n".join(head + [part for part in parts if part] + ["</section>"])


def _checks(checks: list | None) -> str:
    if checks is None:
        return ""
    if not checks:
        return _part("Policy checks", ['<p class="none">none</p>'])
    rows = [[badge(c.get("status")), c.get("title") or c.get("id"), c.get("evidence"), c.get("section"),
             c.get("cis") or _DASH] for c in checks]
    return _part("Policy checks", [_table(["Status", "Check", "Evidence", "Section", "CIS"], rows)])


def _roles(roles: list | None) -> str:
    if roles is None:
        return ""
    if not roles:
        return _part("Roles", ['<p class="none">none</p>'])
    rows, classes = [], []
    for role in roles:
        unmanaged = role.get("managed") is False
        name = _e(role.get("name", ""))
        if unmanaged:
            name += ' <span class="tag">unmanaged</span>'
        limit = role.get("connection_limit")
        rows.append([_Html(name), _yes(role.get("login")), ", ".join(role.get("attributes") or []) or _DASH,
                     "no limit" if limit == -1 else limit, ", ".join(role.get("member_of") or []) or _DASH,
                     _lines(role.get("privileges"))])
        classes.append("unmanaged" if unmanaged else "")
    note = ('<p class="meta">Roles marked unmanaged are not in the collection\'s configuration.</p>'
            if "unmanaged" in classes else "")
    table = _table(["Role", "Login", "Attributes", "Connection limit", "Member of",
                    "Privileges on the application database"], rows, classes, numeric=(3,))
    return _part("Roles", [table, note])


def _day_chart(by_day: dict | None, context: dict, title: str, unit_label: str) -> str:
    end_day = context["end_day"] or (max(by_day) if by_day else None)
    if end_day is None:
        return ""
    if isinstance(end_day, str):
        end_day = datetime.date.fromisoformat(end_day)
    series = charts.day_series(by_day or {}, end_day, context["window"])
    caption = "%s, %d days ending %s; days without any are shown as 0." % (title, context["window"], end_day)
    return _figure(charts.bar_chart(series, title, unit_label), caption)


def _failed_logins(failed: dict | None, context: dict) -> str:
    if failed is None:
        return ""
    window = context["window"]
    title = "Failed logins (%d days)" % window
    body = ["<p>%s failed logins in the last %d days.</p>" % (_e(failed.get("total", 0)), window)]
    if failed.get("total") or failed.get("by_day"):
        body.append(_day_chart(failed.get("by_day"), context, "Failed logins per day", "failed logins per day"))
        body.append("<h4>By client address</h4>")
        clients = _by_count(failed.get("by_client"))
        body.append(_table(["Client address", "Failed logins"], clients, numeric=(1,)) if clients else _none(window))
    else:
        body.append(_none(window))
    dropped = failed.get("firewall_dropped")
    if dropped is not None:
        body.append("<h4>Packets the firewall dropped, per service, since its rules were last loaded</h4>")
        rows = [[service, count] for service, count in sorted(dropped.items())]
        body.append(_table(["Service", "Dropped packets"], rows, numeric=(1,)) if rows
                    else '<p class="none">none</p>')
    return _part(title, body)


def _backups(backups: dict | None, context: dict) -> str:
    if backups is None:
        return ""
    window = context["window"]
    logical, physical = backups.get("logical") or [], backups.get("physical") or []
    age = backups.get("newest_age_s")
    newest = "none found" if age is None else charts.human_duration(age) + " old"
    body = ["<p>Newest backup: %s.</p>" % _e(newest)]
    wal = backups.get("wal_archive")
    if wal:
        body.append("<p>WAL archive: %s %s</p>" % (badge(wal.get("status")), _e(wal.get("message") or "")))
    if logical or physical:
        body += _backup_charts(logical, physical, context)
        body.append(_backup_table(logical, physical))
    else:
        body.append(_none(window))
    return _part("Backups (%d days)" % window, body)


def _backup_charts(logical: list, physical: list, context: dict) -> list[str]:
    end_day = context["end_day"] or max(str(s.get("day")) for s in logical + physical)
    if isinstance(end_day, str):
        end_day = datetime.date.fromisoformat(end_day)
    days = [label for label, _value in charts.day_series({}, end_day, context["window"])]
    # Only the kinds this host has: an empty series would halve the other's bars and clutter the legend.
    kinds = [(name, sets) for name, sets in (("logical", logical), ("physical", physical)) if sets]
    sizes = {name: _per_day(sets, "size", sum) for name, sets in kinds}
    durations = {name: _per_day(sets, "duration_s", max) for name, sets in kinds}
    return [_scaled_chart(days, sizes, "bytes", "Backup size per day", "size"),
            _scaled_chart(days, durations, "seconds", "Backup duration per day", "duration"),
            '<p class="meta">Several sets on one day: their sizes are summed, the duration shown is the longest '
            'set\'s.</p>']


def _per_day(sets: list, key: str, combine) -> dict:
    grouped: dict = {}
    for item in sets:
        grouped.setdefault(str(item.get("day")), []).append(float(item.get(key) or 0))
    return {day: combine(values) for day, values in grouped.items()}


def _scaled_chart(days: list, per_kind: dict, kind: str, title: str, what: str) -> str:
    series = {name: [per_day.get(day, 0) for day in days] for name, per_day in per_kind.items()}
    divisor, unit = charts.unit_scale(max((v for values in series.values() for v in values), default=0), kind)
    scaled = {name: [v / divisor for v in values] for name, values in series.items()}
    svg = charts.grouped_bar_chart(days, scaled, title, "%s per day, in %s" % (what, unit))
    kinds = " (dark) and ".join(series) + (" (outlined)" if len(series) > 1 else " sets")
    return _figure(svg, "%s, %s, %d days ending %s." % (title, kinds, len(days), days[-1]))


def _backup_table(logical: list, physical: list) -> str:
    rows = [["logical", s.get("name"), s.get("finished_at"), charts.human_bytes(s.get("size")),
             charts.human_duration(s.get("duration_s")), _yes(s.get("encrypted")), _verified(s)] for s in logical]
    rows += [["physical (%s)" % s.get("type", "?"), s.get("label"), s.get("finished_at"),
              "%s (%s stored)" % (charts.human_bytes(s.get("size")), charts.human_bytes(s.get("repo_size")))
              if s.get("repo_size") is not None else charts.human_bytes(s.get("size")),
              charts.human_duration(s.get("duration_s")), _DASH, _DASH] for s in physical]
    rows.sort(key=lambda row: str(row[2] or ""), reverse=True)
    for row in rows:
        row[2] = _when(row[2])
    return _table(["Kind", "Set", "Finished", "Size", "Duration", "Encrypted", "Verification"], rows)


def _verified(item: dict) -> _Html:
    level = " (%s)" % _e(item["verify_level"]) if item.get("verify_level") else ""
    if item.get("verified") is True:
        return _Html("%s verified%s" % (badge("pass"), level))
    if item.get("verified") is False:
        return _Html("%s verification failed%s" % (badge("fail"), level))
    return _Html("not verified")


def _drills(drills: list | None, context: dict) -> str:
    if drills is None:
        return ""
    if not drills:
        return _part("Drills", [_none(context["window"])])
    newest = max(drills, key=lambda d: str(d.get("finished_at") or ""))
    rto = context["targets"].get("rto_s") or newest.get("rto_target_s")
    rpo = context["targets"].get("rpo_s") or newest.get("rpo_target_s")
    rows = [[d.get("kind"), _when(d.get("finished_at")),
             "%s / %s" % (charts.human_duration(d.get("rto_s")), charts.human_duration(d.get("rto_target_s"))),
             "%s / %s" % (charts.human_duration(d.get("rpo_s")), charts.human_duration(d.get("rpo_target_s"))),
             badge("pass" if d.get("passed") else "fail")]
            for d in sorted(drills, key=lambda d: str(d.get("finished_at") or ""), reverse=True)]
    svg = charts.drill_chart(drills, rto, rpo)
    return _part("Drills", [
        _figure(svg, "Each drill's achieved restore time and data age; the dashed line is the target."),
        _table(["Kind", "Finished", "RTO achieved / target", "RPO achieved / target", "Passed"], rows)])


def _audit(audit: dict | None, context: dict) -> str:
    if audit is None:
        return ""
    window = context["window"]
    pgaudit, operations = audit.get("pgaudit"), audit.get("operations")
    body = []
    if pgaudit is not None:
        body.append("<h4>pgaudit events by class (%s in all)</h4>" % _e(pgaudit.get("total", 0)))
        body += _counts_and_chart(pgaudit.get("by_class"), "Class", "Events", pgaudit.get("by_day"), context,
                                  "pgaudit events per day", "events per day")
    if operations is not None:
        body.append("<h4>The collection's operations by playbook (%s in all)</h4>" % _e(operations.get("total", 0)))
        body += _counts_and_chart(operations.get("by_playbook"), "Playbook", "Runs", operations.get("by_day"),
                                  context, "frende.db operations per day", "operations per day")
    recent = (audit.get("recent") or [])[:20]
    body.append("<h4>Last changes (newest first, at most 20)</h4>")
    rows = [[_when(r.get("time")), r.get("source"), r.get("text")] for r in recent]
    body.append(_table(["Time", "Source", "Change"], rows) if rows else _none(window))
    return _part("Audit trail", body)


def _counts_and_chart(counts, key_header, count_header, by_day, context, title, unit_label) -> list[str]:
    rows = _by_count(counts)
    if not rows:
        return [_none(context["window"])]
    return [_table([key_header, count_header], rows, numeric=(1,)), _day_chart(by_day, context, title, unit_label)]


def _connections(connections: dict | None) -> str:
    if connections is None:
        return ""
    peak, maximum, current = connections.get("peak"), connections.get("max_connections"), connections.get("current")
    svg = charts.gauge_chart(peak or 0, maximum, "Peak connections", current)
    text = "Current %s, peak %s%s, max_connections %s (over %s samples)." % (
        _e(_plain(current)), _e(_plain(peak)),
        " at %s" % _e(_when(connections["peak_at"])) if connections.get("peak_at") else "",
        _e(_plain(maximum)), _e(_plain(connections.get("samples"))))
    return _part("Connections", [_figure(svg, "Peak (bar) and current (the marked tick) against max_connections."),
                                 "<p>%s</p>" % text])


def _encryption(encryption: dict | None) -> str:
    if encryption is None:
        return ""
    state = encryption.get("encrypted")
    if state is True:
        text = "The data directory is encrypted at rest"
    elif state is False:
        text = "The data directory is not encrypted at rest"
    else:
        text = "Could not tell whether the data directory is encrypted at rest"
    if encryption.get("device"):
        text += " (device %s)" % encryption["device"]
    evidence = encryption.get("evidence")
    box = '<div class="box info">%s %s.%s</div>' % (
        badge("info"), _e(text), "<br>%s" % _e(evidence) if evidence else "")
    return _part("Encryption at rest", [box])


def _notes(notes: list | None) -> str:
    if not notes:
        return ""
    return _part("Notes", ["<ul>%s</ul>" % "".join("<li>%s</li>" % _e(note) for note in notes)])
