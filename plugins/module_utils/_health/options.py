# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of frende_db_health: its argument spec (defaults from checks.py, the policy's one source).

Private to frende.db. Every module of the collection keeps its spec in its
area's ``options.py``, as ``module_spec()``.
"""

from __future__ import annotations

from ansible_collections.frende.db.plugins.module_utils._health import checks as hc
from ansible_collections.frende.db.plugins.module_utils._postgres import (
    CONNECTION_MUTUALLY_EXCLUSIVE,
    connection_argument_spec,
)


def argument_spec():
    """The options of frende_db_health, the connection options included."""
    d = hc.DEFAULTS
    e = hc.EXPECTED_DEFAULTS
    spec = connection_argument_spec()
    spec.update(
        database=dict(type="str"),
        expected=dict(type="dict", default={}, options=dict(
            max_connections=dict(type="int", default=e["max_connections"]),
            authentication_timeout=dict(type="str", default=e["authentication_timeout"]),
            log_connections=dict(type="bool", default=e["log_connections"]),
            log_disconnections=dict(type="bool", default=e["log_disconnections"]),
            password_encryption=dict(type="str", default=e["password_encryption"],
                                     choices=list(hc.PASSWORD_ENCRYPTIONS)),
            ssl_min_protocol_version=dict(type="str", default=e["ssl_min_protocol_version"],
                                          choices=list(hc.TLS_VERSIONS)),
        )),
        connections_warn_pct=dict(type="int", default=d["connections_warn_pct"]),
        connections_crit_pct=dict(type="int", default=d["connections_crit_pct"]),
        long_transaction_warn=dict(type="str", default=d["long_transaction_warn"]),
        long_transaction_crit=dict(type="str", default=d["long_transaction_crit"]),
        idle_in_transaction_warn=dict(type="str", default=d["idle_in_transaction_warn"]),
        idle_in_transaction_crit=dict(type="str", default=d["idle_in_transaction_crit"]),
        server_log=dict(type="path"),
        failed_auth_window=dict(type="str", default=d["failed_auth_window"]),
        failed_auth_warn=dict(type="int", default=d["failed_auth_warn"]),
        backup_dir=dict(type="path", default=d["backup_dir"]),
        max_backup_age=dict(type="str", default=d["max_backup_age"]),
        wal_archive_max_age=dict(type="str", default=d["wal_archive_max_age"]),
        repository_stanza=dict(type="str"),
        repository_max_age=dict(type="str", default=d["repository_max_age"]),
        app_role=dict(type="str"),
        managed_roles=dict(type="list", elements="str", default=[]),
        require_encrypted_backups=dict(type="bool", default=False),
        password_record=dict(type="path"),
        password_max_age=dict(type="str", default=d["password_max_age"], no_log=False),
        fail_on=dict(type="str", default=d["fail_on"], choices=list(hc.FAIL_ON)),
        metrics_file=dict(type="str", default="none"),
    )
    return spec


def module_spec():
    """AnsibleModule(**module_spec()) for frende_db_health."""
    return dict(argument_spec=argument_spec(), mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE,
                supports_check_mode=True)
