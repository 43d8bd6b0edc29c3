# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which settings of a configuration file something else overrides, and how to undo it. Pure, no server.

Private to frende.db. PostgreSQL reads its files in order (postgresql.conf, the
files it includes, postgresql.auto.conf last) and the last entry of a setting
wins; pg_file_settings lists every entry with its order (seqno). An entry of
the managed file that a later one contradicts is drift, whichever file the
later one is in. ALTER SYSTEM writes postgresql.auto.conf, so:

- when the managed file is the last word apart from postgresql.auto.conf, the
  fix is ALTER SYSTEM RESET (the override goes, the file's value applies);
- when another file comes after it, the fix is ALTER SYSTEM SET to the managed
  value (postgresql.auto.conf is read last, so the policy wins again) - the
  other file is the operator's and is never edited.

Values are compared as written (a setting written '60s' in one file and '1min'
in the other counts as different, and the fix makes them the same text).
"""

from __future__ import annotations

import os
import re

AUTO_CONF = "postgresql.auto.conf"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def where(entry):
    return "%s:%s" % (entry["sourcefile"], entry["sourceline"])


def is_auto_conf(entry):
    return os.path.basename(entry["sourcefile"] or "") == AUTO_CONF


def plan_overrides(entries, conf_file, names=None):
    """Each setting of ``conf_file`` (or only ``names``) whose last word is not the file's own value.

    ``entries``: rows of pg_file_settings (seqno, sourcefile, sourceline, name, setting,
    error). Returns a list, in the file's order, of dicts: ``name``, ``wanted`` and
    ``wanted_from`` (the managed entry), ``effective`` and ``effective_from`` (the entry
    that wins now), and ``fix``: ``reset`` or ``set``.
    """
    ordered = sorted((e for e in entries if not e.get("error") and e.get("name")), key=lambda e: e["seqno"])
    by_name = {}
    for entry in ordered:
        by_name.setdefault(entry["name"], []).append(entry)
    managed = {}
    for entry in ordered:
        if os.path.realpath(entry["sourcefile"]) == os.path.realpath(conf_file):
            managed[entry["name"]] = entry  # its last entry counts, as for the server
    wanted_names = [n for n in managed if names is None or n in names]
    plan = []
    for name in sorted(wanted_names, key=lambda n: managed[n]["seqno"]):
        own, chain = managed[name], by_name[name]
        winner = chain[-1]
        if winner["setting"] == own["setting"] or not NAME_RE.match(name):
            continue
        last_file = [e for e in chain if not is_auto_conf(e)][-1]
        plan.append(dict(name=name, wanted=own["setting"], wanted_from=where(own), effective=winner["setting"],
                         effective_from=where(winner), fix="reset" if last_file is own else "set"))
    return plan


def diff(plan):
    """before/after for --diff: each drifted setting with the file and line its value comes from."""
    def source(item):
        return item["wanted_from"] if item["fix"] == "reset" else "postgresql.auto.conf, as in " + item["wanted_from"]

    return dict(before=dict((p["name"], "%s (%s)" % (p["effective"], p["effective_from"])) for p in plan),
                after=dict((p["name"], "%s (%s)" % (p["wanted"], source(p))) for p in plan))
