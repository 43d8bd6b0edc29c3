# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of frende_db_role: its argument spec and the constraints between options.

Private to frende.db. Every module of the collection keeps its spec in its
area's ``options.py``, as ``module_spec()``: the keyword arguments of
AnsibleModule, so that main() stays one line and the constraints live in the
spec, not in hand-written checks.
"""

from __future__ import annotations

from ansible_collections.frende.db.plugins.module_utils._postgres import (
    CONNECTION_MUTUALLY_EXCLUSIVE,
    connection_argument_spec,
)
from ansible_collections.frende.db.plugins.module_utils._role.privileges import PRESET_NAMES


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        password=dict(type="str", no_log=True),
        update_password=dict(type="str", default="always", choices=["always", "on_create"], no_log=False),
        login=dict(type="bool", default=True),
        superuser=dict(type="bool", default=False),
        createdb=dict(type="bool", default=False),
        createrole=dict(type="bool", default=False),
        replication=dict(type="bool", default=False),
        bypassrls=dict(type="bool", default=False),
        connection_limit=dict(type="int"),
        valid_until=dict(type="str"),
        database=dict(type="str"),
        privileges=dict(type="str", choices=PRESET_NAMES),
        schemas=dict(type="list", elements="str", default=["public"]),
        owner=dict(type="str"),
        member_of=dict(type="list", elements="str"),
        reassign_owned_to=dict(type="str"),
    )
    return spec


def module_spec():
    """AnsibleModule(**module_spec()) for frende_db_role."""
    return dict(
        argument_spec=argument_spec(),
        mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE,
        required_by=dict(privileges="database"),
        required_if=[("privileges", "app", ["owner"]), ("privileges", "readonly", ["owner"])],
        supports_check_mode=True,
    )
