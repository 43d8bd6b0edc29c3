# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which gauges each job reports: pure functions from a job's result to samples.

Private to frende.db; standard library only. A sample is ``(name, labels, value)``.
The alert rules (roles/frende_db/templates/frende_db.rules.yml.j2) read exactly
these names; nothing here ever carries a password, a key or a passphrase, only
times, sizes, counts and statuses.

Labels: ``job`` is backup, verify, cleanup, drill, maintenance or health on a
database host, and backup_full, backup_diff, backup_incr, verify, expire, copy
or drill on a backup host. ``kind`` says which backups a figure is about:
logical (frende-db-backup's sets), full, diff, incr (pgBackRest), repository
(the whole pgBackRest repository), physical (the backup host's drill).
"""

from __future__ import annotations

HELP = {
    "frende_db_backup_last_success_timestamp_seconds": "End of the newest successful backup (Unix time).",
    "frende_db_backup_last_size_bytes": "Size of the newest successful backup, as stored.",
    "frende_db_backup_last_duration_seconds": "How long the newest successful backup took.",
    "frende_db_backup_last_verified": "1 when the newest backup passed its last verification, 0 when it failed "
                                      "or was not verified yet.",
    "frende_db_job_last_exit_code": "Exit status of the job's last run (0 success, 1 failure, 2 bad usage, "
                                    "3 a drill that missed its target).",
    "frende_db_job_last_run_timestamp_seconds": "When the job last ran (Unix time).",
    "frende_db_drill_last_rto_seconds": "Restore time achieved by the last drill.",
    "frende_db_drill_last_rpo_seconds": "Age of the restored data in the last drill.",
    "frende_db_drill_last_success_timestamp_seconds": "When the last drill that met both targets finished.",
    "frende_db_drill_rto_target_seconds": "The drill's restore time target.",
    "frende_db_drill_rpo_target_seconds": "The drill's data age target.",
    "frende_db_health_status": "Health check status: 0 healthy, 1 degraded, 2 unhealthy, 3 unknown.",
    "frende_db_failed_auth_attempts": "Failed logins in the server log within the window.",
    "frende_db_tls_certificate_expiry_timestamp_seconds": "When the server's TLS certificate expires (Unix time).",
    "frende_db_wal_last_sealed_timestamp_seconds": "When the backup host last moved arrived WAL into the "
                                                   "repository (Unix time).",
    # In frende_db_firewall.prom, written as root by the role's libexec/firewall-metrics (only root reads nft).
    "frende_db_firewall_dropped_packets": "Packets to a frende.db port that the firewall dropped.",
    "frende_db_firewall_loaded": "1 when frende.db's nftables table is loaded.",
}

STATUS_VALUES = {"healthy": 0, "degraded": 1, "unhealthy": 2, "unknown": 3}
# Worst first, for a check reported more than once: unknown never hides a real problem.
_RANK = {3: 0, 0: 1, 1: 2, 2: 3}
# The window of failed_auth's recent_count (_health/report.BURST_WINDOW_S), as the burst alert names it.
BURST_WINDOW = "10min"


def job_run(job, exit_code, now):
    return [("frende_db_job_last_exit_code", dict(job=job), exit_code),
            ("frende_db_job_last_run_timestamp_seconds", dict(job=job), now)]


def backup_taken(database, kind, finished, size, duration, verified=False):
    """A successful backup; unless it was verified in the same run, its verification is still to come (0)."""
    labels = dict(database=database, kind=kind)
    return [("frende_db_backup_last_success_timestamp_seconds", labels, finished),
            ("frende_db_backup_last_size_bytes", labels, size),
            ("frende_db_backup_last_duration_seconds", labels, duration),
            ("frende_db_backup_last_verified", labels, 1 if verified else 0)]


def backup_verified(database, kind, ok):
    return [("frende_db_backup_last_verified", dict(database=database, kind=kind), 1 if ok else 0)]


def drill_done(database, kind, rto_s, rpo_s, rto_target_s, rpo_target_s, passed, now):
    labels = dict(database=database, kind=kind)
    found = [("frende_db_drill_rto_target_seconds", labels, rto_target_s),
             ("frende_db_drill_rpo_target_seconds", labels, rpo_target_s)]
    if rto_s is not None:
        found.append(("frende_db_drill_last_rto_seconds", labels, rto_s))
    if rpo_s is not None:
        found.append(("frende_db_drill_last_rpo_seconds", labels, rpo_s))
    if passed:
        found.append(("frende_db_drill_last_success_timestamp_seconds", labels, now))
    return found


def health(checks, database):
    """The health report's checks: one status per check, the failed-login counts, the backup and certificate dates.

    A check reported more than once (the settings, one entry each) counts with its worst status.
    """
    found, worst = [], {}
    for check in checks:
        name = check["name"].split(".", 1)[0]
        status = STATUS_VALUES[check["status"]]
        if name not in worst or _RANK[status] > _RANK[worst[name]]:
            worst[name] = status
        value = check.get("value") if isinstance(check.get("value"), dict) else {}
        if check["name"] == "failed_auth" and "count" in value:
            window = (check.get("threshold") or {}).get("window")
            found.append(("frende_db_failed_auth_attempts", dict(window=window), value["count"]))
            if value.get("recent_count") is not None:
                found.append(("frende_db_failed_auth_attempts", dict(window=BURST_WINDOW), value["recent_count"]))
        if check["name"] == "certificate" and value.get("not_after_timestamp") is not None:
            found.append(("frende_db_tls_certificate_expiry_timestamp_seconds", {}, value["not_after_timestamp"]))
        if check["name"] == "backup_age" and value.get("finished_timestamp") is not None:
            found.append(("frende_db_backup_last_success_timestamp_seconds",
                          dict(database=value.get("database") or database, kind="logical"),
                          value["finished_timestamp"]))
    found += [("frende_db_health_status", dict(check=name), status) for name, status in sorted(worst.items())]
    return found
