# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of frende_db_settings. Every module keeps its spec in its area's options.py."""

from __future__ import annotations

from ansible_collections.frende.db.plugins.module_utils._postgres import (
    CONNECTION_MUTUALLY_EXCLUSIVE,
    connection_argument_spec,
)


def argument_spec():
    """The options of frende_db_settings, the connection options included."""
    spec = connection_argument_spec()
    spec.update(
        conf_file=dict(type="path", required=True),
        settings=dict(type="list", elements="str"),
    )
    return spec


def module_spec():
    """AnsibleModule(**module_spec()) for frende_db_settings."""
    return dict(argument_spec=argument_spec(), mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE,
                supports_check_mode=True)
