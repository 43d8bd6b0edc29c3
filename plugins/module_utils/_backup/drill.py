# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Restore drills: does the newest backup restore, how fast (RTO), how old is its data (RPO)?

Private to frende.db; stdlib + psycopg2. The security document asks for an RTO
of 30 minutes, an RPO of 24 hours, and monthly drills.
"""

from __future__ import annotations

import os
import socket

from ansible_collections.frende.db.plugins.module_utils._backup import catalog
from ansible_collections.frende.db.plugins.module_utils._backup.context import TOOL_VERSION
from ansible_collections.frende.db.plugins.module_utils._backup.files import ensure_dir, write_json
from ansible_collections.frende.db.plugins.module_utils._backup.restore import scratch_restore
from ansible_collections.frende.db.plugins.module_utils._backup.verify import check_identity_file
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError, mark_logged
from ansible_collections.frende.db.plugins.module_utils._units import format_duration

REPORT_PREFIX = "drill-"


def evaluate_drill(restore_s, data_age_s, rto_target_s, rpo_target_s, restored=True):
    """Pure: compare achieved RTO/RPO with the targets."""
    findings = []
    rto_met = restored and restore_s is not None and restore_s <= rto_target_s
    rpo_met = data_age_s is not None and data_age_s <= rpo_target_s
    if not restored:
        findings.append("the backup did not restore")
    elif not rto_met:
        findings.append("restore took %s, over the RTO target of %s" % (
            format_duration(restore_s), format_duration(rto_target_s)))
    if not rpo_met:
        findings.append("the restored data is %s old, over the RPO target of %s"
                        % (format_duration(data_age_s), format_duration(rpo_target_s)))
    return dict(rto_met=rto_met, rpo_met=rpo_met, passed=bool(rto_met and rpo_met), findings=findings)


def drill(ctx):
    """Restore the newest set into a scratch database, time it (RTO), age its data (RPO), report, judge."""
    entry, identity = _newest_set(ctx)
    started = catalog.utc_now()
    if ctx.check_mode:
        return _planned(ctx, entry, started)
    ctx.log.open_check()
    ensure_dir(ctx.p["backup_dir"], ctx.ids)
    ctx.log.info("drill", "start", backup=entry["name"])
    restored = _restore_into_scratch(ctx, entry, identity)
    report = _report(ctx, entry, started, restored)
    _log_verdict(ctx, entry, report)
    if not report["passed"]:
        raise mark_logged(FrendeDbError("Restore drill failed: %s. Report: %s" % (
            report["error"] or "; ".join(report["findings"]), report["report_file"]), report=report, changed=True))
    return dict(changed=True, report=report, duration_s=report["restore_s"], msg=_summary(ctx, report) +
                ". Report: %s" % report["report_file"])


def _newest_set(ctx):
    p = ctx.p
    entry = catalog.newest_backup(p["backup_dir"], p.get("database"))
    if entry is None:
        raise FrendeDbError("There is no complete backup%s in %s to drill with; take one first (--action backup)."
                            % (" of database %s" % p["database"] if p.get("database") else "", p["backup_dir"]))
    identity = p.get("identity_file")
    if (entry.get("manifest") or {}).get("encrypted"):
        if not identity:
            raise FrendeDbError("The newest backup %s is encrypted; a drill restores it and needs identity_file."
                                % entry["name"])
        check_identity_file(identity)
    return entry, identity


def _planned(ctx, entry, started):
    p = ctx.p
    data_age = (started - entry["finished_at"]).total_seconds()
    return dict(changed=True, report=dict(backup=entry["name"], data_age_s=round(data_age, 1),
                                          rpo_met=data_age <= p["rpo_target_s"], rpo_target=p["rpo_target"],
                                          rto_target=p["rto_target"]),
                msg="Would restore %s into a scratch database, time it against the RTO target %s, and report "
                    "its data age %s against the RPO target %s." % (
                        entry["name"], p["rto_target"], format_duration(data_age), p["rpo_target"]))


def _restore_into_scratch(ctx, entry, identity):
    """(verification, load details, seconds, error): a failed restore is a drill result, not a crash."""
    try:
        verification, loaded, seconds = scratch_restore(ctx, entry, identity, "drill", analyze=True)
        return dict(verification=verification, loaded=loaded, seconds=seconds, error=None)
    except FrendeDbError as exc:
        return dict(verification=None, loaded=None, seconds=None, error=str(exc))


def _report(ctx, entry, started, restored):
    """The drill report, written as drill-<stamp>.json next to the backups; returns it with report_file."""
    p = ctx.p
    manifest = entry.get("manifest") or {}
    loaded, seconds, error = restored["loaded"], restored["seconds"], restored["error"]
    finished = catalog.utc_now()
    data_age = (finished - entry["finished_at"]).total_seconds()
    verdict = evaluate_drill(seconds, data_age, p["rto_target_s"], p["rpo_target_s"], restored=error is None)
    report = dict(
        kind="frende.db restore drill", tool_version=TOOL_VERSION, host=socket.gethostname(),
        started_at=started.isoformat(), finished_at=finished.isoformat(),
        database=manifest.get("database") or entry.get("database"), backup=entry["name"],
        backup_finished_at=entry["finished_at"].isoformat(),
        scratch_database=loaded["database"] if loaded else None,
        restore_s=seconds, achieved_rto_s=seconds, achieved_rpo_s=round(data_age, 1),
        rto_target=p["rto_target"], rto_target_s=p["rto_target_s"],
        rpo_target=p["rpo_target"], rpo_target_s=p["rpo_target_s"],
        rows_checked=loaded["rows_checked"] if loaded else False,
        tables=len(loaded["tables"]) if loaded else None,
        rows=sum(loaded["tables"].values()) if loaded else None,
        verification_level=(restored["verification"] or {}).get("level"),
        analyze_s=loaded["analyze_s"] if loaded else None,
        leftovers_dropped=loaded["leftovers_dropped"] if loaded else [],
        error=error, notes=loaded["notes"] if loaded else [], **verdict)
    name = "%s%s.json" % (REPORT_PREFIX, catalog.stamp(finished))
    report["report_file"] = write_json(p["backup_dir"], name, report, ctx.ids)
    return report


def _summary(ctx, report):
    seconds = report["restore_s"]
    return ("drill %s: restore %s (target %s), data age %s (target %s)"
            % ("passed" if report["passed"] else "FAILED",
               format_duration(seconds) if seconds is not None else "failed", ctx.p["rto_target"],
               format_duration(report["achieved_rpo_s"]), ctx.p["rpo_target"]))


def _log_verdict(ctx, entry, report):
    ctx.log.write("INFO" if report["passed"] else "ERROR", "drill", "passed" if report["passed"] else "failed",
                  backup=entry["name"], achieved_rto_s=report["restore_s"], achieved_rpo_s=report["achieved_rpo_s"],
                  rto_target=ctx.p["rto_target"], rpo_target=ctx.p["rpo_target"],
                  report=os.path.basename(report["report_file"]),
                  msg=report["error"] or "; ".join(report["findings"]) or None)
