#!/usr/bin/python
# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: frende_db_backup
short_description: Back up, list, verify, restore, clean up and drill the Frende PostgreSQL database
version_added: 0.1.0
description:
  - Runs the frende.db backup engine, the same code as the C(frende-db-backup) command on the database host.
  - V(backup) writes a set into O(backup_dir) - C(<db>-<UTC time>.dump.zst) (C(pg_dump) custom format compressed with
    multi-threaded zstd, or C(.dump.gz)), C(<db>-<time>.globals.sql.zst) (roles and grants from
    C(pg_dumpall --globals-only)) and a JSON manifest written last (checksums, exact per-table row counts taken in the
    dump's snapshot, server version, encryption). Files appear under their final names only when every process of
    the pipeline succeeded; a failed or killed run leaves nothing that V(list), V(verify) or V(restore) accept.
  - V(list) shows backups newest first, including legacy C(*.sql.gz) files made by C(pg_dump | gzip).
  - V(verify) checks the manifest, the SHA-256 of each file, that the archive decompresses (and decrypts with
    O(identity_file)) and that C(pg_restore --list) reads it; with O(deep=true) it also restores into a scratch
    database and compares row counts. The result is recorded in C(<name>.verify.json).
  - V(restore) verifies first and refuses a backup that fails. By default it restores into a new database, checks
    row counts, collects planner statistics (C(vacuumdb --analyze-only), which C(pg_restore) does not), then swaps
    names in one transaction, keeping the old database as C(<db>_pre_restore_<time>).
  - V(restore), deep V(verify) and V(drill) first drop scratch databases (C(<db>_restore_<time>),
    C(<db>_verify_<time>), C(<db>_drill_<time>)) that an earlier run left behind when it was killed. Only databases
    this module labelled as its scratch copies, whose making session has ended, are dropped; never
    C(<db>_pre_restore_<time>), never a scratch copy a concurrent run is using.
  - V(cleanup) removes backups older than O(retention_days) but always keeps the newest O(keep_min) that passed
    verification; while fewer than O(keep_min) have, it removes no set that has not failed verification.
  - V(drill) restores the newest backup into a scratch database (and analyzes it, as a restore does), measures the
    achieved RTO and RPO, writes
    C(drill-<time>.json) next to the backups, and fails when a target is missed.
  - The password of O(login_user) reaches C(pg_dump) and friends through the environment only, never a command line.
author:
  - Frende database team (@frende)
extends_documentation_fragment:
  - frende.db._postgres
  - frende.db._postgres.ATTRIBUTES
attributes:
  check_mode:
    support: full
    details:
      - V(backup), V(restore), V(cleanup) and V(drill) change nothing and say what they would do (V(restore) still runs
        the read-only quick verification). V(verify) does not write C(verify.json) in check mode.
  diff_mode:
    support: partial
    details:
      - V(cleanup) returns the backup names before and after.
  idempotent:
    support: partial
    details:
      - V(list), V(verify) and V(cleanup) are idempotent. V(backup), V(restore) and V(drill) act every time they run.
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [backup, list, restore, verify, cleanup, drill]
  database:
    description:
      - The database to back up (required for V(backup)).
      - For V(list), V(cleanup), V(drill) and O(backup_file=latest), only backups of this database are considered.
      - For V(restore), the live database to replace; defaults to the database named in the backup.
    type: str
  backup_dir:
    description:
      - Directory of the backups. Created with mode C(0700), owned by O(owner), when a backup runs.
    type: path
    default: /var/backups/frende/database
  backup_file:
    description:
      - The backup for V(restore) (required) and V(verify) (default V(latest)) - a file inside O(backup_dir), a set
        name such as V(frende-20261128T020000Z), or V(latest).
      - Paths outside O(backup_dir) (after resolving symlinks and C(..)) and partial files are refused.
    type: str
  target_database:
    description:
      - Restore into this new database instead of replacing the live one. It must not exist yet.
    type: str
  retention_days:
    description: V(cleanup) removes backups older than this many days (at least 1).
    type: int
    default: 30
  keep_min:
    description:
      - V(cleanup) always keeps this many newest backups per database that passed verification, whatever their
        age (at least 1). A set never verified does not count; while fewer than this many are verified, no set
        that has not failed verification is removed.
    type: int
    default: 3
  compression:
    description: Compressor of new backups. V(zstd) runs multi-threaded; V(gzip) writes C(.dump.gz).
    type: str
    default: zstd
    choices: [zstd, gzip]
  compression_level:
    description:
      - Compression level (zstd 1-19, gzip 1-9). Defaults to 4 for zstd and 6 for gzip.
    type: int
  encrypt_recipients:
    description:
      - Public age recipients (C(age1...)); when set (or O(encrypt_recipients_file)), backups are encrypted with age
        and the files end in C(.age). The host needs no private key to back up.
    type: list
    elements: str
  encrypt_recipients_file:
    description: A file of age recipients (one per line, SSH public keys allowed), passed to C(age -R).
    type: path
  identity_file:
    description:
      - The private age identity file, needed to V(restore), deep-V(verify) or V(drill) an encrypted backup (a quick
        V(verify) without it checks checksums only). Its content is never printed or logged.
    type: path
  log_file:
    description: One line per event is appended here (not in check mode, not for V(list)).
    type: path
    default: /var/log/frende/backup.log
  jobs:
    description: Parallel jobs of C(pg_restore) and of the row count check. Defaults to the number of CPUs.
    type: int
  rto_target:
    description: Longest acceptable restore time for V(drill), for example V(30min).
    type: str
    default: 30min
  rpo_target:
    description: Oldest acceptable age of the newest backup's data for V(drill), for example V(24h).
    type: str
    default: 24h
  owner:
    description:
      - OS user that owns the backup directory and files when the module runs as root.
      - The command C(frende-db-backup) started as root becomes this user before it does anything (as Debian's
        C(pg_ctlcluster) does), so peer authentication over the local socket works and every file belongs to it.
    type: str
    default: postgres
  lock_timeout:
    description:
      - How long a V(backup), V(restore) or V(cleanup) waits for another run holding the backup directory's lock,
        for example V(10min). V(0s) fails at once with a message naming the other run.
    type: str
    default: 0s
  deep:
    description: With V(verify), also restore into a scratch database and compare row counts, then drop it.
    type: bool
    default: false
  keep_previous:
    description: With V(restore), keep the replaced database as C(<db>_pre_restore_<time>); V(false) drops it after success.
    type: bool
    default: true
  globals:
    description:
      - With V(restore), when to apply the backup's globals file (roles and memberships) first. V(auto) only when
        roles the backup needs are missing; V(always) also resets existing roles to their dumped attributes;
        V(never) fails when roles are missing. The bootstrap superuser is never touched.
    type: str
    default: auto
    choices: [auto, always, never]
  work_dir:
    description:
      - Where V(restore), deep V(verify) and V(drill) decompress the dump for C(pg_restore -j) (removed afterwards).
        Defaults to O(backup_dir).
    type: path
  metrics_file:
    description:
      - node_exporter's textfile (C(*.prom)) that gets the run's Prometheus gauges, for V(backup), V(verify),
        V(cleanup) and V(drill), such as C(frende_db_job_last_exit_code{job}), C(frende_db_job_last_run_timestamp_seconds{job})
        and the backup's time, size, duration and verification, or the drill's RTO and RPO. A failed run
        updates them too. Only these series are replaced; the file is written atomically, and only when its
        directory exists (node_exporter's textfile collector is installed) and not in check mode.
      - A metrics file that cannot be written is a warning in O(log_file), never the job's failure.
      - V(none) writes nothing.
    type: str
    default: /var/lib/prometheus/node-exporter/frende_db.prom
notes:
  - The engine needs C(pg_dump), C(pg_dumpall), C(pg_restore) and C(psql) of the server's major version, C(zstd),
    C(gzip), and C(age) for encryption.
  - O(login_user) must be a superuser (reading roles for the globals file and replacing databases need it).
seealso:
  - name: age
    description: The encryption tool used for backups.
    link: https://age-encryption.org
"""

EXAMPLES = r"""
- name: Back up the Frende database, encrypted for the ops team's key
  frende.db.frende_db_backup:
    action: backup
    database: frende
    encrypt_recipients:
      - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
    login_unix_socket: /var/run/postgresql
  become: true
  become_user: postgres

- name: List the backups
  frende.db.frende_db_backup:
    action: list
  register: frende_backups

- name: Verify the newest backup deeply (restore into a scratch database)
  frende.db.frende_db_backup:
    action: verify
    backup_file: latest
    deep: true
    identity_file: /root/frende-backup.agekey

- name: Restore the newest backup, keeping the current database as frende_pre_restore_<time>
  frende.db.frende_db_backup:
    action: restore
    backup_file: latest
    database: frende
    identity_file: /root/frende-backup.agekey

- name: Remove backups older than 30 days, keeping at least 3
  frende.db.frende_db_backup:
    action: cleanup
    retention_days: 30
    keep_min: 3

- name: Monthly restore drill against the document's RTO and RPO
  frende.db.frende_db_backup:
    action: drill
    database: frende
    rto_target: 30min
    rpo_target: 24h
    identity_file: /root/frende-backup.agekey
"""

RETURN = r"""
msg:
  description: One line saying what was done (or would be done in check mode).
  returned: always
  type: str
  sample: Backed up database frende as frende-20261128T020000Z (123456789 bytes, 41.2 s).
backup:
  description: The manifest of the new backup set (V(backup); null in check mode).
  returned: when O(action=backup)
  type: dict
  sample:
    name: frende-20261128T020000Z
    database: frende
    finished_at: "2026-11-28T02:00:41+00:00"
    size: 123456789
    encrypted: true
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
    tables: {public.users: 1200, public.messages: 98000}
path:
  description: Path of the new dump file.
  returned: when O(action=backup) and not in check mode
  type: str
backups:
  description: Backups newest first.
  returned: when O(action=list)
  type: list
  elements: dict
  contains:
    name: {description: Set name (legacy files - the file name without C(.sql.gz)), type: str}
    database: {description: Database of the backup, type: str}
    format: {description: V(custom) or V(legacy-sql-gz), type: str}
    finished_at: {description: When the backup finished (ISO 8601 UTC), type: str}
    age_s: {description: Age in seconds, type: float}
    age: {description: Age for humans (V(3h)), type: str}
    size: {description: Bytes of all files, type: int}
    encrypted: {description: Whether the files are age-encrypted, type: bool}
    verified: {description: "Last verification: C(state) (V(ok), V(failed), V(never)), C(at), C(level)", type: dict}
    path: {description: Manifest (or legacy file) path, type: str}
verification:
  description:
    - Result of the verification - C(ok), C(level) (V(quick), V(deep), V(checksum-only)), C(checks) (each with
      C(check), C(ok), C(detail)) and C(error). Also returned when O(action=verify) fails.
  returned: when O(action) is V(verify) or V(restore)
  type: dict
restore:
  description:
    - What was restored - C(backup), C(database), C(previous_database) (the kept old copy or null), C(duration_s)
      with its parts C(verify_s), C(load_s), C(count_s), C(analyze_s), C(tables) (restored row counts),
      C(rows_checked), C(globals) (roles created), C(leftovers_dropped) (scratch databases of killed runs dropped
      first), C(notes).
  returned: when O(action=restore)
  type: dict
duration_s:
  description: Seconds the backup, restore or drill restore took.
  returned: when O(action) is V(backup), V(restore) or V(drill), not in check mode
  type: float
removed:
  description: Names of the backups removed (or that would be removed in check mode).
  returned: when O(action=cleanup)
  type: list
  elements: str
kept:
  description: Names of the backups kept.
  returned: when O(action=cleanup)
  type: list
  elements: str
report:
  description:
    - The drill report, also written to C(drill-<time>.json) - C(backup), C(achieved_rto_s), C(achieved_rpo_s),
      C(rto_target), C(rpo_target), C(rto_met), C(rpo_met), C(passed), C(findings), C(rows_checked), C(analyze_s),
      C(leftovers_dropped), C(report_file). Also returned when the drill fails.
  returned: when O(action=drill)
  type: dict
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.frende.db.plugins.module_utils._backup.engine import run_action
from ansible_collections.frende.db.plugins.module_utils._backup.options import module_spec
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError


def main():
    module = AnsibleModule(**module_spec())
    try:
        result = run_action(module.params, check_mode=module.check_mode, tool="frende.db.frende_db_backup")
    except FrendeDbError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
