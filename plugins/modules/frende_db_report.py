#!/usr/bin/python
# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: frende_db_report
short_description: Gather one host's part of the Frende database security report
version_added: 0.1.0
description:
  - Reads what the security report shows about a host and returns it as RV(report); the playbook
    C(frende.db.report) renders every host's part into one HTML page and its JSON twin.
  - A database host (O(kinds) C(database)) is read through the health checks of M(frende.db.frende_db_health)
    (the monitoring role is enough, catalogs and the views of C(pg_monitor)), the server log (failed logins by day
    and client, C(pgaudit) events by class and day), the backup directory (logical sets, their verification and
    the drill reports), C(pgbackrest info) (physical backups, with O(repository_stanza)), the health log
    (connection peak) and C(findmnt)/C(lsblk) (is the data directory on dm-crypt).
  - A backup host (C(backup)) adds the physical drill reports; an application server (C(application)) the TLS
    settings and mode of its C(database.env) (never its password). Every host adds its audit trail
    (O(audit_log)) and its firewall table.
  - Read-only, in check mode too. Whatever cannot be read becomes a note and an C(unknown) check.
    Reading the firewall table and other users' logs needs root on the host (C(become)); the database needs no
    superuser.
options:
  kinds:
    description: What the host is. Several may apply.
    type: list
    elements: str
    choices: [database, backup, application]
    default: [database]
  database:
    description: The application database (its backups, the application role's privileges). Defaults to O(login_db).
    type: str
  window_days:
    description: How many days back the series reach (1 to 366).
    type: int
    default: 30
  backup_dir:
    description: Directory of the logical backup sets and the logical drill reports.
    type: path
    default: /var/backups/frende/database
  repository_stanza:
    description: pgBackRest stanza whose backups are listed (pgBackRest's file log is off for this read). Not given,
      no physical backups are listed.
    type: str
  server_log:
    description: PostgreSQL's log file or directory. Defaults to what the server says, else Debian's file.
    type: path
  audit_log:
    description: The collection's own audit trail on the host.
    type: path
    default: /var/log/frende/audit.log
  health_log:
    description: The scheduled health check's log, whose lines carry the connections in use (the peak).
    type: path
    default: /var/log/frende/health.log
  repository_report_dir:
    description: Where the backup host's physical drills write their reports.
    type: path
    default: /var/lib/frende-db/drills
  app_env_file:
    description: The application's connection settings on an application server.
    type: path
    default: /etc/frende/db/database.env
  firewall:
    description:
      - What the host's firewall should be. V(nftables) checks that the table C(inet frende_db) is loaded and reads
        its dropped-packet counters from O(firewall_metrics); V(none) reports that the role keeps no firewall here;
        V(unchecked) leaves the check out.
    type: str
    choices: [nftables, none, unchecked]
    default: nftables
  firewall_metrics:
    description: node_exporter's textfile with C(frende_db_firewall_dropped_packets).
    type: path
    default: /var/lib/prometheus/node-exporter/frende_db_firewall.prom
  nologin_roles:
    description: Roles without LOGIN the collection manages (owner, auditor); with the health option C(managed_roles)
      they are the roles not highlighted as unmanaged.
    type: list
    elements: str
    default: []
  pgbackrest_user:
    description:
      - The OS user C(pgbackrest info) runs as when the module runs as root (the owner of pgBackRest's config and
        TLS key on the database host); pgBackRest refuses, as root, a key that is not root's alone.
    type: str
    default: postgres
  health:
    description:
      - Options of the health checks the report runs, by the names and with the defaults of
        M(frende.db.frende_db_health) (C(expected), C(app_role), C(managed_roles), C(password_record), C(max_backup_age)
        and the others; not C(fail_on)). An unknown name is refused.
    type: dict
    default: {}
notes:
  - The report never fails because the host is unhealthy; only bad options fail the task.
author:
  - Frende database team (@frende)
extends_documentation_fragment:
  - frende.db._postgres
  - frende.db._postgres.ATTRIBUTES
attributes:
  check_mode:
    support: full
    details: Read-only; gathers the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything; C(changed) is always false.
"""

EXAMPLES = r"""
- name: Gather the database host's part of the security report as the monitoring role
  frende.db.frende_db_report:
    kinds: [database]
    login_user: frende_monitor
    login_unix_socket: /var/run/postgresql
    login_db: frende
    repository_stanza: frende
    health:
      app_role: frende_app
      managed_roles: [frende_app, frende_app_alt, frende_monitor]
  become: true
  register: frende_db_report_part

- name: An application server's part
  frende.db.frende_db_report:
    kinds: [application]
    firewall: unchecked
  become: true
  register: frende_db_report_part
"""

RETURN = r"""
report:
  description:
    - The host's facts; the format of the report's JSON twin (docs/report.md) without the host name and groups.
    - C(checks) (id, title, status C(pass)/C(warn)/C(fail)/C(unknown), evidence, section of the security document,
      CIS recommendation), C(roles), C(failed_logins), C(backups), C(drills), C(audit), C(connections),
      C(encryption_at_rest) and C(notes) (what could not be read).
  returned: always
  type: dict
  sample:
    gathered_at: "2026-12-07T06:00:00+00:00"
    window_days: 30
    checks:
      - {id: tls, title: TLS and its protocols, status: pass, evidence: "ssl = on, ssl_min_protocol_version = TLSv1.2",
         section: "Security Features: 1. SSL/TLS Encryption", cis: "6.7, 6.8"}
    failed_logins: {window_days: 30, total: 25, by_day: {"2026-12-07": 25}, by_client: {"10.89.0.7": 25},
                    firewall_dropped: {postgresql: 3}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._report.gather import HostGatherer
from ansible_collections.frende.db.plugins.module_utils._report.options import module_spec, normalize


def main():
    module = AnsibleModule(**module_spec())
    try:
        params, health_options = normalize(module.params)
        report = HostGatherer(params, health_options).gather()
    except FrendeDbError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(changed=False, report=report)


if __name__ == "__main__":
    main()
