# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit of pg_hba.conf as the server parsed it (rows of pg_hba_file_rules).

Private to frende.db. Pure functions: the collector reads the view, this judges
the rows against the security document ("restrict database access to
application servers only", SCRAM passwords, TLS).
"""

from __future__ import annotations

from ansible_collections.frende.db.plugins.module_utils._health.checks import (
    DEGRADED, HEALTHY, UNHEALTHY, UNKNOWN, make_check, worst,
)

WEAK_METHODS = ("md5", "password")
OPEN_NETMASKS = ("0.0.0.0", "::")

GRANT_HINT = (
    "Permission denied reading pg_hba_file_rules (superuser-only by default in PostgreSQL 15). "
    "Grant it to the monitoring role: GRANT SELECT ON pg_hba_file_rules TO %(role)s; "
    "GRANT EXECUTE ON FUNCTION pg_hba_file_rules() TO %(role)s;"
)


def _where(row):
    return "pg_hba.conf line %s (%s %s %s %s)" % (
        row.get("line_number"), row.get("type"), ",".join(row.get("database") or []) or "-",
        ",".join(row.get("user_name") or []) or "-", _address(row) or "-")


def _address(row):
    address, netmask = row.get("address"), row.get("netmask")
    if address and netmask:
        return "%s/%s" % (address, netmask)
    return address


def is_open_to_everyone(row):
    """True for host lines that match any client address (0.0.0.0/0, ::/0 or 'all')."""
    if row.get("type") == "local":
        return False
    address, netmask = row.get("address"), row.get("netmask")
    return address == "all" or netmask in OPEN_NETMASKS


def audit_rule(row):
    """Findings for one row: list of (status, text)."""
    if row.get("error"):
        return [(UNHEALTHY, "%s: error in the file: %s" % (_where(row), row["error"]))]
    method = row.get("auth_method")
    local = row.get("type") == "local"
    findings = []
    if method == "trust":
        if local:
            findings.append((DEGRADED, "%s: trust lets every local OS user log in as any of its roles "
                                       "without a password" % _where(row)))
        else:
            findings.append((UNHEALTHY, "%s: trust over the network admits anyone who can reach the "
                                        "port, without a password" % _where(row)))
    elif method in WEAK_METHODS and not local:
        findings.append((DEGRADED, "%s: method %s; the policy uses scram-sha-256" % (_where(row), method)))
    if method != "reject" and is_open_to_everyone(row):
        findings.append((DEGRADED, "%s: open to every client address; the policy admits only the "
                                   "application servers" % _where(row)))
    return findings


def evaluate_hba(rows):
    findings = [f for row in rows for f in audit_rule(row)]
    value = dict(rules=len(rows), findings=[text for status, text in findings])
    threshold = dict(methods_refused=["trust"] + list(WEAK_METHODS), open_addresses_refused=["0.0.0.0/0", "::/0", "all"])
    if not rows:
        return make_check("hba", UNHEALTHY, value, threshold, "pg_hba_file_rules is empty: nobody can log in.")
    if not findings:
        return make_check("hba", HEALTHY, value, threshold,
                          "%d pg_hba.conf rules: no errors, no trust/md5/password, none open to everyone."
                          % len(rows))
    return make_check("hba", worst(status for status, text in findings), value, threshold,
                      "; ".join(text for status, text in findings) + ".")


def permission_denied_check(role):
    return make_check("hba", UNKNOWN, None, None, GRANT_HINT % dict(role=role))
