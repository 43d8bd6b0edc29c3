# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Remembers, per host, the tasks of this run that changed it; playbooks/plays/audit_trail.yml writes them.

Next to the playbooks, so Ansible loads it for them without any setting (AWX too). It keeps the
names in a private file of the controller, named in FRENDE_DB_AUDIT_FILE for the run's lookups,
and removes the file at the end. Tasks delegated to the controller (certificates made there)
changed the controller, not the host.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: frende_db_audit
type: aggregate
short_description: Collects the changed tasks of each host for frende.db's audit trail
description:
  - Keeps the names of the tasks that changed each host during the run in a private file on the controller, named in
    the environment variable C(FRENDE_DB_AUDIT_FILE), for the play C(playbooks/plays/audit_trail.yml), which writes one
    line per changed host to C(/var/log/frende/audit.log). The file is removed when the run ends.
"""

import json
import os
import tempfile

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "frende_db_audit"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self):
        super().__init__()
        fd, self.path = tempfile.mkstemp(prefix="frende-db-audit.", suffix=".json")
        os.write(fd, b"{}")
        os.close(fd)
        os.environ["FRENDE_DB_AUDIT_FILE"] = self.path
        self.changed = {}

    def _save(self):
        partial = self.path + ".partial"
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(self.changed, handle)
        os.replace(partial, self.path)

    def v2_runner_on_ok(self, result):
        if not result._result.get("changed") or result._result.get("_ansible_delegated_vars"):
            return
        names = self.changed.setdefault(result._host.get_name(), [])
        name = result._task.get_name()
        if name not in names:
            names.append(name)
            self._save()

    def v2_playbook_on_stats(self, stats):
        for path in (self.path, self.path + ".partial"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
