# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""frende.db.report_document, report_html, report_stamp: the security report assembled on the controller."""

from __future__ import annotations

import datetime

from ansible.errors import AnsibleFilterError

from ansible_collections.frende.db.plugins.module_utils._report import document, html

GROUPS = ("frende_db", "frende_backup", "frende_app", "frende_monitoring")


def _part(host: str, hostvars) -> dict:
    """One host's facts from its registered frende_db_report result, or why there are none."""
    variables = hostvars[host]
    groups = [g for g in variables.get("group_names") or [] if g in GROUPS]
    result = variables.get("frende_db_report_part")
    if result is None:
        return dict(host=host, groups=groups, reachable=False,
                    error="not gathered: the host was not in the play (--limit?) or failed before the report task")
    if result.get("unreachable"):
        return dict(host=host, groups=groups, reachable=False, error=str(result.get("msg") or "unreachable"))
    if result.get("failed") or "report" not in result:
        return dict(host=host, groups=groups, reachable=False,
                    error="gathering failed: %s" % (result.get("msg") or "no report returned"))
    return dict(result["report"], host=host, groups=groups, reachable=True)


def report_document(hostvars, hosts: list, generated_at: str, targets: dict, window_days: int = 30) -> dict:
    """The report's document (its JSON twin) from every host's registered part, in ``hosts`` order."""
    try:
        parts = [_part(host, hostvars) for host in hosts]
        return document.build(parts, generated_at, dict(targets or {}), int(window_days))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("The security report could not be assembled: %s" % exc) from None


def report_html(value: dict) -> str:
    """The report's self-contained HTML page."""
    if not isinstance(value, dict) or "summary" not in value:
        raise AnsibleFilterError("report_html takes the document of frende.db.report_document, not %s"
                                 % type(value).__name__)
    return html.render(value)


def report_stamp(value: str) -> str:
    """'2026-12-07T06:00:00.123+00:00' -> '20261207T060000Z' (the file name's UTC stamp)."""
    try:
        moment = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        raise AnsibleFilterError("report_stamp takes an ISO 8601 time, not %r" % (value,)) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%Y%m%dT%H%M%SZ")


class FilterModule:
    def filters(self):
        return dict(report_document=report_document, report_html=report_html, report_stamp=report_stamp)
