# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of frende_db_report: its argument spec and their validation.

Private to frende.db. The health checks the report runs take frende_db_health's options through
``health`` (the same names, defaults and checks: _health/checks.py), so both judge alike.
"""

from __future__ import annotations

import re

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._health import checks as hc
from ansible_collections.frende.db.plugins.module_utils._postgres import (
    CONNECTION_MUTUALLY_EXCLUSIVE,
    connection_argument_spec,
    validate_connection_params,
)

KINDS = ("database", "backup", "application")
MAX_WINDOW_DAYS = 366
# The health options the report passes through; fail_on is not one (the report never fails on health).
HEALTH_KEYS = tuple(k for k in hc.DEFAULTS if k != "fail_on") + ("expected",)
DEFAULTS = dict(
    kinds=["database"],
    window_days=30,
    backup_dir=hc.DEFAULTS["backup_dir"],
    audit_log="/var/log/frende/audit.log",
    health_log="/var/log/frende/health.log",
    repository_report_dir="/var/lib/frende-db/drills",
    app_env_file="/etc/frende/db/database.env",
    firewall="nftables",
    firewall_metrics="/var/lib/prometheus/node-exporter/frende_db_firewall.prom",
    nologin_roles=[],
    pgbackrest_user="postgres",
)


def argument_spec() -> dict:
    d = DEFAULTS
    spec = connection_argument_spec()
    spec.update(
        kinds=dict(type="list", elements="str", choices=list(KINDS), default=d["kinds"]),
        database=dict(type="str"),
        window_days=dict(type="int", default=d["window_days"]),
        backup_dir=dict(type="path", default=d["backup_dir"]),
        repository_stanza=dict(type="str"),
        server_log=dict(type="path"),
        audit_log=dict(type="path", default=d["audit_log"]),
        health_log=dict(type="path", default=d["health_log"]),
        repository_report_dir=dict(type="path", default=d["repository_report_dir"]),
        app_env_file=dict(type="path", default=d["app_env_file"]),
        firewall=dict(type="str", choices=["nftables", "none", "unchecked"], default=d["firewall"]),
        firewall_metrics=dict(type="path", default=d["firewall_metrics"]),
        nologin_roles=dict(type="list", elements="str", default=d["nologin_roles"]),
        pgbackrest_user=dict(type="str", default=d["pgbackrest_user"]),
        health=dict(type="dict", default={}),
    )
    return spec


def module_spec() -> dict:
    return dict(argument_spec=argument_spec(), mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE,
                supports_check_mode=True)


def normalize(params: dict) -> tuple:
    """(params, health options) checked; FrendeDbError names the first bad option and what it takes."""
    params = dict(params)
    if not params.get("kinds"):
        raise FrendeDbError("kinds is empty: give at least one of %s." % ", ".join(KINDS))
    days = params.get("window_days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_WINDOW_DAYS:
        raise FrendeDbError("window_days must be a whole number of days from 1 to %d, not %r."
                            % (MAX_WINDOW_DAYS, days))
    for key in ("audit_log", "health_log", "repository_report_dir", "app_env_file", "firewall_metrics", "backup_dir"):
        if not str(params.get(key) or "").startswith("/"):
            raise FrendeDbError("%s must be an absolute path, not %r." % (key, params.get(key)))
    health = params.get("health") or {}
    unknown = sorted(set(health) - set(HEALTH_KEYS))
    if unknown:
        raise FrendeDbError("health has unknown option(s) %s; it takes frende_db_health's options: %s."
                            % (", ".join(unknown), ", ".join(sorted(HEALTH_KEYS))))
    if "database" in params.get("kinds"):
        validate_connection_params(params)
    if not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", params.get("pgbackrest_user") or ""):
        raise FrendeDbError("pgbackrest_user must be an OS user name such as postgres, not %r."
                            % params.get("pgbackrest_user"))
    if params.get("firewall") == "unchecked":
        params["firewall"] = None
    raw = dict(health, database=params.get("database"), backup_dir=params["backup_dir"],
               repository_stanza=params.get("repository_stanza"), server_log=params.get("server_log"))
    return params, hc.normalize_options(raw)
