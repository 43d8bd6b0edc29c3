#!/usr/bin/python
# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: frende_db_health
short_description: Report the health of the Frende PostgreSQL server against its security policy
version_added: 0.1.0
description:
  - Connects to the server and reports one health document with an overall RV(status) and a list of
    RV(checks), as the security document's "Health Checks" and "Monitoring" sections ask.
  - Checks are C(connection) (reachable, latency, version), C(ssl) (this connection uses TLS, server
    C(ssl=on), C(ssl_min_protocol_version)), C(certificate) (days until the server certificate expires, C(degraded)
    under 30 and C(unhealthy) under 7), C(data_checksums) (C(degraded) when the cluster has none), one C(settings.<name>) entry per policy setting
    (O(expected)), C(connections) (use of C(max_connections)), C(long_transactions) (oldest open
    transaction and idle-in-transaction sessions), C(database_size), C(hba) (audit of
    C(pg_hba_file_rules)), C(password_age) (when the application password was set), C(roles) (powers,
    unmanaged login roles, the application role's privileges beyond its preset), C(failed_auth) (failed logins in the server log), C(backup_age) (age of
    the newest backup set, the recovery point objective), C(wal_archive) (continuous archiving, from
    C(pg_stat_archiver)) and C(repository) (the newest backup on the backup host).
  - A connection over the server's Unix socket (O(login_unix_socket)) never leaves the host and cannot use
    TLS; the C(ssl) check does not ask TLS of it (its value has C(local_socket=true)) but still checks the
    server's C(ssl) and C(ssl_min_protocol_version), which protect every TCP client. The socket is
    recognised by the server (C(inet_server_addr()) is null), not by the options given.
  - A check that cannot be measured (no permission, log not readable, no backups yet) has status
    C(unknown); it is listed but does not change the overall status.
  - A server that is down is a result, not a crash; the C(connection) check is C(unhealthy) and the others
    C(unknown). Whether the task fails is decided by O(fail_on).
  - Works for a non-superuser member of C(pg_monitor). In PostgreSQL 15 the C(hba) check additionally needs
    C(SELECT) on the view C(pg_hba_file_rules) and C(EXECUTE) on the function of the same name granted to
    that role; without them it is C(unknown) and its message gives the two C(GRANT) statements.
  - Read-only. The same checks run in C(frende-db-maintenance --action health).
options:
  database:
    description:
      - Database whose size the C(database_size) check reports (the sizes of all databases are reported too).
      - Defaults to the database the module connects to (O(login_db)).
    type: str
  expected:
    description: The settings the security policy asks for; each differing setting is C(degraded).
    type: dict
    default: {}
    suboptions:
      max_connections:
        description: Expected C(max_connections).
        type: int
        default: 200
      authentication_timeout:
        description: Expected C(authentication_timeout), a duration such as V(60s) or V(1min).
        type: str
        default: 60s
      log_connections:
        description: Expected C(log_connections).
        type: bool
        default: true
      log_disconnections:
        description: Expected C(log_disconnections).
        type: bool
        default: true
      password_encryption:
        description: Expected C(password_encryption).
        type: str
        default: scram-sha-256
        choices: [scram-sha-256, md5]
      ssl_min_protocol_version:
        description: Lowest acceptable C(ssl_min_protocol_version) (checked by the C(ssl) check).
        type: str
        default: TLSv1.2
        choices: [TLSv1, TLSv1.1, TLSv1.2, TLSv1.3]
  connections_warn_pct:
    description:
      - C(connections) is C(degraded) when more than this percentage of C(max_connections) is in use.
      - Between 1 and 100, lower than O(connections_crit_pct).
    type: int
    default: 80
  connections_crit_pct:
    description:
      - C(connections) is C(unhealthy) (connection pool exhaustion) above this percentage. Between 1 and 100.
    type: int
    default: 95
  long_transaction_warn:
    description: Age of the oldest open transaction above which C(long_transactions) is C(degraded).
    type: str
    default: 5min
  long_transaction_crit:
    description: Age of the oldest open transaction above which C(long_transactions) is C(unhealthy).
    type: str
    default: 30min
  idle_in_transaction_warn:
    description: Time a session may sit C(idle in transaction) before C(long_transactions) is C(degraded).
    type: str
    default: 5min
  idle_in_transaction_crit:
    description: Time a session may sit C(idle in transaction) before C(long_transactions) is C(unhealthy).
    type: str
    default: 30min
  server_log:
    description:
      - The PostgreSQL server log to count failed logins in, a file or a directory (its files written within
        O(failed_auth_window) are read). Text format with C(log_line_prefix) starting with C(%m) or C(%t).
      - By default the file C(pg_current_logfile) returns when the logging collector runs and the role may call it, else
        Debian's C(/var/log/postgresql/postgresql-<version>-<cluster>.log).
      - When the log cannot be read, C(failed_auth) is C(unknown).
    type: path
  failed_auth_window:
    description: How far back C(failed_auth) counts, a duration such as V(24h).
    type: str
    default: 24h
  failed_auth_warn:
    description: C(failed_auth) is C(degraded) when more failed logins than this were seen in the window.
    type: int
    default: 10
  backup_dir:
    description: Directory of the backup sets written by C(frende-db-backup).
    type: path
    default: /var/backups/frende/database
  max_backup_age:
    description:
      - C(backup_age) is C(degraded) when the newest complete backup is older than this (the RPO is 24 hours
        with daily backups; the default leaves 2 hours for the backup to run).
    type: str
    default: 26h
  wal_archive_max_age:
    description:
      - C(wal_archive) is C(degraded) when the last WAL segment was archived longer ago than this while finished
        segments wait (the point-in-time recovery objective); C(unhealthy) while archiving fails. C(unknown) when
        C(archive_mode) is off (no backup host).
    type: str
    default: 5min
  repository_stanza:
    description:
      - The pgBackRest stanza of this database on the backup host. C(repository) reports the age of its newest
        backup, read with C(pgbackrest info) from this host. Not given, C(repository) is C(unknown).
    type: str
  repository_max_age:
    description: C(repository) is C(degraded) when the newest backup in the repository is older than this.
    type: str
    default: 26h
  password_record:
    description:
      - The record of the application password rotations (JSON with C(active) and C(set_at); the role keeps it in
        C(/etc/frende/db/app-login.json)). The C(password_age) check reports the age of the password in use.
      - Not given, C(password_age) is C(unknown).
    type: path
  password_max_age:
    description: C(password_age) is C(degraded) when the password in use is older than this.
    type: str
    default: 90d
  require_encrypted_backups:
    description: C(backup_age) is C(degraded) when the newest backup set is not encrypted (the role's policy).
    type: bool
    default: false
  app_role:
    description:
      - The application role. The C(roles) check reports its privileges in the connected database beyond the C(app)
        preset of M(frende.db.frende_db_role) (CONNECT; USAGE on schemas; SELECT, INSERT, UPDATE, DELETE on tables;
        USAGE, SELECT on sequences), objects it owns and roles it is a member of. Not given, that part is skipped.
    type: str
  managed_roles:
    description:
      - The LOGIN roles the collection manages. The C(roles) check reports every other LOGIN role (C(postgres) aside);
        empty, that part is skipped. Roles with SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS other than
        C(postgres) are always reported.
    type: list
    elements: str
    default: []
  metrics_file:
    description:
      - node_exporter's textfile (C(*.prom)) that gets the report as Prometheus gauges
        (C(frende_db_health_status{check}), C(frende_db_failed_auth_attempts{window}), the certificate's
        expiry and the newest backup's time), replacing only those series. It is written only when its
        directory exists and not in check mode. The scheduled check (C(frende-db-maintenance --action health)) writes
        the same.
      - V(none) writes nothing.
    type: str
    default: none
  fail_on:
    description:
      - Fail the task (the full report stays in the result) when the overall status reaches this level.
      - V(never) always succeeds; use it to act on RV(status) yourself.
    type: str
    default: unhealthy
    choices: [unhealthy, degraded, never]
notes:
  - Durations are written like V(90s), V(30min), V(26h) or V(7d); a bare number is seconds.
  - Log lines are matched in English (C(lc_messages=C)), as the frende_db role sets it. When the server's
    C(lc_messages) is another language, C(failed_auth) is C(unknown), never a count of 0.
seealso:
  - name: The statistics views of PostgreSQL 15
    description: pg_stat_activity, pg_stat_ssl and pg_hba_file_rules, where the checks read.
    link: https://www.postgresql.org/docs/15/monitoring-stats.html
author:
  - Frende database team (@frende)
extends_documentation_fragment:
  - frende.db._postgres
  - frende.db._postgres.ATTRIBUTES
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same checks in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything; C(changed) is always false.
"""

EXAMPLES = r"""
- name: Check the database health as the monitoring role over TLS
  frende.db.frende_db_health:
    login_host: db.frende.internal
    login_user: frende_monitor
    login_password: "{{ frende_db_monitor_password }}"
    ssl_mode: verify-full
    ssl_rootcert: /etc/frende/db/ca.crt
    database: frende
  register: frende_db_health_report

- name: Report without failing, and alert on anything not healthy
  frende.db.frende_db_health:
    login_unix_socket: /var/run/postgresql
    database: frende
    fail_on: never
    connections_warn_pct: 70
    long_transaction_warn: 10min
    max_backup_age: 26h
  register: frende_db_health_report

- name: Show what drifts from the policy
  ansible.builtin.debug:
    msg: "{{ frende_db_health_report.checks | rejectattr('status', 'in', ['healthy', 'unknown']) | list }}"

- name: A stricter policy on a host with a custom log directory
  frende.db.frende_db_health:
    login_unix_socket: /var/run/postgresql
    expected:
      max_connections: 300
      ssl_min_protocol_version: TLSv1.3
    server_log: /var/lib/postgresql/15/main/log
    fail_on: degraded
"""

RETURN = r"""
status:
  description: Overall status, the worst of the checks (C(unknown) checks do not count).
  returned: always
  type: str
  sample: healthy
  choices: [healthy, degraded, unhealthy]
checks:
  description: One entry per check, in a fixed order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: C(connection), C(ssl), C(certificate), C(data_checksums), C(settings.<name>), C(connections), C(long_transactions),
        C(database_size), C(hba), C(roles), C(password_age), C(failed_auth), C(backup_age), C(wal_archive) or C(repository).
      type: str
      sample: settings.max_connections
    status:
      description: C(healthy), C(degraded), C(unhealthy) or C(unknown) (could not be measured).
      type: str
      sample: healthy
    value:
      description: What was measured (a number, a string or a dict, depending on the check).
      type: raw
      sample: {used: 12, max: 200, pct: 6.0, by_state: {active: 2, idle: 10}}
    threshold:
      description: What the value is compared with, or null when nothing is.
      type: raw
      sample: {warn_pct: 80, crit_pct: 95}
    message:
      description: The result in words, with what to do when it is not healthy.
      type: str
      sample: 12 of 200 connections in use (6.0%).
  sample:
    - name: connection
      status: healthy
      value: {reachable: true, latency_ms: 7.9, server_version: '15.10'}
      threshold: null
      message: Connected in 7.9 ms to PostgreSQL 15.10.
    - name: settings.authentication_timeout
      status: degraded
      value: 120s
      threshold: 60s
      message: authentication_timeout is 120s; the policy says 60s.
msg:
  description: When the task fails, the checks that made it fail.
  returned: failure
  type: str
  sample: "PostgreSQL health is unhealthy: connection is unhealthy: The server is not reachable: ..."
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._health.options import module_spec
from ansible_collections.frende.db.plugins.module_utils._health.report import HealthReport


def main():
    module = AnsibleModule(**module_spec())
    try:
        report = HealthReport(module.params)
        result = report.run()
    except FrendeDbError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    if not module.check_mode:
        problem = report.record_metrics()
        if problem:
            module.warn(problem)
    if report.fails:
        module.fail_json(msg=report.failure_message(), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
