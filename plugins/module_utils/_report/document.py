# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The security report's document: the hosts' facts plus a summary, as described in SCHEMA.md.

Private to frende.db; standard library only. ``build`` is pure: it copies the facts gathered on
each host (inventory order) and works out what needs attention, so the HTML page (html.py) and
the JSON twin carry the same verdicts.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

FORMAT_VERSION = 1
KIND = "frende.db security report"

# Worst first: the attention list and the overall status are ordered by this.
SEVERITY_ORDER = ("fail", "warn", "unknown")
_RANK = {"fail": 0, "warn": 1, "unknown": 2, "pass": 3}


def build(hosts: list[dict], generated_at: Any, targets: dict | None, window_days: int = 30) -> dict:
    """The report document for ``hosts`` (a list of host facts, inventory order)."""
    hosts = copy.deepcopy(list(hosts))
    return {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "generated_at": _iso(generated_at),
        "window_days": int(window_days),
        "targets": dict(targets or {}),
        "summary": summary(hosts),
        "hosts": hosts,
    }


def summary(hosts: list[dict]) -> dict:
    """Overall status, the attention list and one line per host."""
    lines = [_host_line(facts) for facts in hosts]
    worst = "pass"
    for line in lines:
        status = "fail" if line["status"] == "unreachable" else line["status"]
        if _RANK[status] < _RANK[worst]:
            worst = status
    return {"status": worst, "attention": attention(hosts), "hosts": lines}


def attention(hosts: list[dict]) -> list[dict]:
    """Every failed, warning or unknown check and every unreachable host, worst first."""
    found = []
    for facts in hosts:
        if not facts.get("reachable", True):
            found.append({"severity": "fail", "host": facts["host"], "check": "reachable",
                          "title": "Host reachable", "message": facts.get("error") or "unreachable"})
            continue
        for check in facts.get("checks") or []:
            if check.get("status") in SEVERITY_ORDER:
                found.append({"severity": check["status"], "host": facts["host"], "check": check.get("id", ""),
                              "title": check.get("title") or check.get("id", ""),
                              "message": check.get("evidence") or ""})
    found.sort(key=lambda item: (_RANK[item["severity"]], item["host"], item["check"]))
    return found


def host_status(host_facts: dict) -> str:
    """pass, warn, fail or unreachable. An unknown check could not be confirmed, so it counts as warn."""
    if not host_facts.get("reachable", True):
        return "unreachable"
    statuses = {check.get("status") for check in host_facts.get("checks") or []}
    if "fail" in statuses:
        return "fail"
    if statuses & {"warn", "unknown"}:
        return "warn"
    return "pass"


def _host_line(facts: dict) -> dict:
    status = host_status(facts)
    if status == "unreachable":
        line = "unreachable: %s" % (facts.get("error") or "no error given")
    else:
        line = _counts_line(facts.get("checks") or [])
    return {"host": facts["host"], "groups": list(facts.get("groups") or []), "status": status, "line": line}


def _counts_line(checks: list[dict]) -> str:
    counts = {name: 0 for name in ("fail", "warn", "unknown", "pass")}
    for check in checks:
        if check.get("status") in counts:
            counts[check["status"]] += 1
    # unknown only when there is one: the usual line stays "0 fail, 0 warn, 16 pass".
    names = [name for name in counts if name != "unknown" or counts[name]]
    return ", ".join("%d %s" % (counts[name], name) for name in names)


def _iso(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")
    return str(value)
