#!/usr/bin/python
# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: frende_db_settings
short_description: Make the settings of a PostgreSQL configuration file take effect, whatever overrides them
version_added: 0.1.0
description:
  - PostgreSQL reads C(postgresql.conf), the files it includes and C(postgresql.auto.conf) in that order, and the
    last entry of a setting wins. A value in the managed file O(conf_file) can therefore be overridden without the
    file changing, by C(ALTER SYSTEM SET) (which writes C(postgresql.auto.conf)) or by a later included file, and
    a template task that writes O(conf_file) reports no change.
  - This module reads C(pg_file_settings) (every entry of every file, in the order the server reads them) and finds
    each setting of O(conf_file) whose last entry says something else. The diff names the file and line of the
    entry that overrides it.
  - When only C(postgresql.auto.conf) comes after O(conf_file), the override is removed with
    C(ALTER SYSTEM RESET). When another file comes after it, that file is the operator's and is never edited;
    C(ALTER SYSTEM SET) writes the managed value into C(postgresql.auto.conf), which is read last.
  - The module changes the files only; the server applies them at the next reload (or restart, for settings such
    as C(max_connections)). Notify a handler that reloads.
  - Values are compared as they are written, so V(60s) and V(1min) count as different and are made the same.
author:
  - Frende database team (@frende)
extends_documentation_fragment:
  - frende.db._postgres
  - frende.db._postgres.ATTRIBUTES
attributes:
  check_mode:
    support: full
    details: Only reads; RV(overridden) and the diff show what would be put back, RV(queries) the statements.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  conf_file:
    description:
      - The configuration file whose settings must take effect, for example
        C(/etc/postgresql/15/main/conf.d/frende.conf). It must be one the server reads.
    type: path
    required: true
  settings:
    description:
      - Only these settings of O(conf_file). Default, all of them.
    type: list
    elements: str
notes:
  - C(pg_file_settings) is readable by superusers only; run the module as C(postgres) over the local socket.
  - Settings given on the server's command line or per database or role (C(ALTER DATABASE ... SET)) are not in
    configuration files and are not looked at.
seealso:
  - name: pg_file_settings
    description: The view of every entry of the configuration files.
    link: https://www.postgresql.org/docs/15/view-pg-file-settings.html
"""

EXAMPLES = r"""
- name: Undo ALTER SYSTEM and later files that override the policy settings
  frende.db.frende_db_settings:
    conf_file: /etc/postgresql/15/main/conf.d/frende.conf
    login_unix_socket: /var/run/postgresql
  become: true
  become_user: postgres
  notify: Reload PostgreSQL

- name: Only look at the logging settings
  frende.db.frende_db_settings:
    conf_file: /etc/postgresql/15/main/conf.d/frende.conf
    settings: [log_connections, log_disconnections]
    login_unix_socket: /var/run/postgresql
  become: true
  become_user: postgres
"""

RETURN = r"""
overridden:
  description: Each setting of O(conf_file) that something else overrode, and the fix (before it was applied).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The setting.
      type: str
      sample: log_connections
    wanted:
      description: Its value in O(conf_file).
      type: str
      sample: "on"
    wanted_from:
      description: File and line of that value.
      type: str
      sample: /etc/postgresql/15/main/conf.d/frende.conf:31
    effective:
      description: The value that wins now.
      type: str
      sample: "off"
    effective_from:
      description: File and line of the entry that wins now.
      type: str
      sample: /var/lib/postgresql/15/main/postgresql.auto.conf:3
    fix:
      description: V(reset) (C(ALTER SYSTEM RESET)) or V(set) (C(ALTER SYSTEM SET) to the wanted value).
      type: str
      sample: reset
queries:
  description: The C(ALTER SYSTEM) statements run (in check mode, that would run).
  returned: always
  type: list
  elements: str
  sample: [ALTER SYSTEM RESET log_connections]
diff:
  description: Each overridden setting with the file and line its value comes from, before and after.
  returned: always
  type: dict
  sample:
    before: {log_connections: "off (/var/lib/postgresql/15/main/postgresql.auto.conf:3)"}
    after: {log_connections: "on (/etc/postgresql/15/main/conf.d/frende.conf:31)"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._settings.manager import SettingsManager
from ansible_collections.frende.db.plugins.module_utils._settings.options import module_spec


def main():
    module = AnsibleModule(**module_spec())
    manager = SettingsManager(module.params, check_mode=module.check_mode)
    try:
        result = manager.run()
    except FrendeDbError as exc:
        module.fail_json(msg=exc.msg, queries=manager.queries, **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
