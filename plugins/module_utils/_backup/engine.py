# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup engine: one entry point for the frende_db_backup module and the frende-db-backup command.

Private to frende.db; stdlib + psycopg2 only (it runs on the database host
without Ansible). ``run_action(params, check_mode)`` returns a JSON-able result
dict with ``changed`` and ``msg``, or raises FrendeDbError.
"""

from __future__ import annotations

import datetime
import os
import pwd
import time

from ansible_collections.frende.db.plugins.module_utils._backup import catalog
from ansible_collections.frende.db.plugins.module_utils._backup.context import Context
from ansible_collections.frende.db.plugins.module_utils._backup.options import DEFAULT_LOG_FILE
from ansible_collections.frende.db.plugins.module_utils._backup.create import backup
from ansible_collections.frende.db.plugins.module_utils._backup.drill import drill
from ansible_collections.frende.db.plugins.module_utils._backup.files import (
    BackupLock, remove_files, resolve_backup_file, write_json)
from ansible_collections.frende.db.plugins.module_utils._backup.restore import restore, scratch_restore
from ansible_collections.frende.db.plugins.module_utils._backup.retention import select_for_cleanup
from ansible_collections.frende.db.plugins.module_utils._backup.verify import (
    VerifyFailed, check_identity_file, quick_verify)
from ansible_collections.frende.db.plugins.module_utils import _command as command
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError, mark_logged, was_logged
from ansible_collections.frende.db.plugins.module_utils._metrics import samples as metric_samples
from ansible_collections.frende.db.plugins.module_utils._metrics.record import mark_recorded
from ansible_collections.frende.db.plugins.module_utils._metrics.record import record as record_metrics
from ansible_collections.frende.db.plugins.module_utils._units import format_duration


def read_verify_state(directory, name):
    try:
        state = catalog.read_json(os.path.join(directory, name + catalog.VERIFY_SUFFIX))
    except (OSError, ValueError):
        return dict(state="never")
    if not isinstance(state, dict):
        return dict(state="never")
    return dict(state="ok" if state.get("ok") else "failed", at=state.get("verified_at"), level=state.get("level"),
                error=state.get("error"))


def set_file_paths(directory, entry):
    """Every file that belongs to ``entry`` (for sizes and for removal); the manifest first."""
    if entry["format"] != "custom":
        paths = [entry["path"]]
    else:
        names = sorted(n for n in os.listdir(directory)
                       if (catalog.parse_backup_filename(n) or ("",))[0] == entry["name"])
        names.sort(key=lambda n: not n.endswith(catalog.MANIFEST_SUFFIX))
        paths = [os.path.join(directory, n) for n in names]
    verify = os.path.join(directory, entry["name"] + catalog.VERIFY_SUFFIX)
    if os.path.exists(verify) and verify not in paths:
        paths.append(verify)
    return paths


def describe(directory, entry, now):
    manifest = entry.get("manifest") or {}
    if entry["format"] == "custom":
        size = manifest.get("size") or 0
    else:
        size = os.path.getsize(entry["path"]) if os.path.exists(entry["path"]) else 0
    age = (now - entry["finished_at"]).total_seconds()
    return dict(
        name=entry["name"], database=entry.get("database"), format=entry["format"],
        finished_at=entry["finished_at"].isoformat(), age_s=round(age, 1), age=format_duration(max(age, 0)),
        size=size, encrypted=bool(manifest.get("encrypted")), recipients=manifest.get("recipients") or [],
        compression=manifest.get("compression") or ("gzip" if entry["format"] != "custom" else None),
        tables=len(manifest.get("tables") or {}) if manifest else None,
        verified=read_verify_state(directory, entry["name"]), path=entry["path"],
    )


def verified_state(directory, entry):
    """ok, failed or never (a set whose manifest is not valid counts as failed)."""
    if entry["format"] == "custom" and catalog.validate_manifest(entry["manifest"], entry["name"]):
        return "failed"
    return read_verify_state(directory, entry["name"])["state"]


def list_action(ctx):
    directory = ctx.p["backup_dir"]
    now = catalog.utc_now()
    backups = [describe(directory, e, now) for e in catalog.list_backups(directory, ctx.p.get("database"))]
    return dict(changed=False, backups=backups, msg="%d backup(s) in %s." % (len(backups), directory))


def verify_action(ctx):
    p = ctx.p
    directory = p["backup_dir"]
    entry = resolve_backup_file(directory, p.get("backup_file") or "latest", p.get("database"))
    identity = p.get("identity_file")
    if identity:
        check_identity_file(identity)
    encrypted = bool((entry.get("manifest") or {}).get("encrypted"))
    if p["deep"] and encrypted and not identity:
        raise FrendeDbError("A deep verify restores %s, which is encrypted: it needs identity_file." % entry["name"])
    ctx.log.open_check()
    started = catalog.utc_now()
    error, rows = None, None
    try:
        if p["deep"] and not ctx.check_mode:
            verification, loaded, seconds = scratch_restore(ctx, entry, identity, "verify")
            verification["level"] = "deep"
            verification["checks"].append(dict(check="rows", ok=True, detail=(
                "restored into a scratch database in %.1f s; row counts of %d tables match the manifest"
                % (seconds, len(loaded["tables"])) if loaded["rows_checked"] else
                "restored into a scratch database in %.1f s (legacy dump: no counts to compare)" % seconds)))
            rows = loaded["tables"]
        else:
            verification = quick_verify(ctx, entry, identity)
            verification.pop("dump_path", None)
    except VerifyFailed as exc:
        verification, error = exc.details["verification"], str(exc)
    except FrendeDbError as exc:
        verification = dict(name=entry["name"], format=entry["format"], level="failed", checks=[
            dict(check="rows" if p["deep"] else "verify", ok=False, detail=str(exc))])
        error = "Backup %s failed verification: %s" % (entry["name"], exc)
    record = dict(name=entry["name"], verified_at=started.isoformat(), ok=error is None,
                  level=verification.get("level"), deep=bool(p["deep"]), checks=verification.get("checks"),
                  error=error, rows=rows)
    if not ctx.check_mode:
        write_json(directory, entry["name"] + catalog.VERIFY_SUFFIX, record, ctx.ids)
        ctx.log.write("INFO" if error is None else "ERROR", "verify", "ok" if error is None else "failed",
                      backup=entry["name"], level=record["level"], msg=error)
    if error:
        failure = FrendeDbError(error, verification=record)
        raise mark_logged(failure) if not ctx.check_mode else failure
    note = ""
    if record["level"] == "checksum-only":
        note = " (checksums only: the set is encrypted and no identity_file was given)"
    elif p["deep"] and ctx.check_mode:
        note = " (check mode: quick checks only; the deep restore would run outside check mode)"
    return dict(changed=False, verification=record, msg="Backup %s verified (%s)%s." % (
        entry["name"], record["level"], note))


def cleanup_action(ctx):
    p = ctx.p
    directory = p["backup_dir"]
    entries = catalog.list_backups(directory, p.get("database"))
    candidates = [dict(name=e["name"], database=e.get("database"), finished_at=e["finished_at"],
                       verified=verified_state(directory, e)) for e in entries]
    remove, keep = select_for_cleanup(candidates, catalog.utc_now(), p["retention_days"], p["keep_min"])
    by_name = dict((e["name"], e) for e in entries)
    diff = dict(before="\n".join(sorted(by_name)) + "\n", after="\n".join(sorted(keep)) + "\n")
    if ctx.check_mode or not remove:
        # A run that removes nothing still says so in the log: the nightly job's last step left a trace.
        ctx.log.info("cleanup", "done", removed=0, kept=len(keep))
        return dict(changed=bool(remove), removed=sorted(remove), kept=sorted(keep), diff=diff,
                    msg=("Would remove %d backup(s): %s." % (len(remove), ", ".join(sorted(remove))) if remove
                         else "Nothing to remove: %d backup(s) kept." % len(keep)))
    ctx.log.open_check()
    removed_files = []
    with BackupLock(directory, "cleanup", p["lock_timeout_s"], ctx.ids):
        for name in sorted(remove):
            files = remove_files(set_file_paths(directory, by_name[name]))
            removed_files += [os.path.basename(f) for f in files]
            ctx.log.info("cleanup", "removed", backup=name, files=len(files),
                         finished_at=by_name[name]["finished_at"].isoformat())
        ctx.log.info("cleanup", "done", removed=len(remove), kept=len(keep))
    return dict(changed=True, removed=sorted(remove), kept=sorted(keep), removed_files=sorted(removed_files),
                diff=diff, msg="Removed %d backup(s) older than %d days (kept the newest %d): %s." % (
                    len(remove), p["retention_days"], p["keep_min"], ", ".join(sorted(remove))))


def restore_action(ctx):
    return restore(ctx)


ACTIONS = dict(backup=backup, list=list_action, verify=verify_action, cleanup=cleanup_action,
               restore=restore_action, drill=drill)


# The actions that are jobs of their own in the metrics (frende_db_job_last_exit_code{job=...}).
METRIC_JOBS = ("backup", "verify", "cleanup", "drill")
EXIT_FAILED, EXIT_MISSED = 1, 3


def exit_code(action, exc):
    """The command's exit status for a failed ``action``: 3 for a drill that ran but missed a target, else 1."""
    report = exc.details.get("report")
    if action == "drill" and isinstance(report, dict) and report.get("error") is None:
        return EXIT_MISSED
    return EXIT_FAILED


def job_samples(ctx, result, exc, now):
    """The gauges of one run: the job's exit status and, by action, the backup's, verification's or drill's figures."""
    action = ctx.p["action"]
    found = metric_samples.job_run(action, 0 if exc is None else exit_code(action, exc), now)
    if action == "backup" and exc is None and result.get("backup"):
        manifest = result["backup"]
        finished = datetime.datetime.fromisoformat(manifest["finished_at"]).timestamp()
        found += metric_samples.backup_taken(manifest["database"], "logical", finished, manifest["size"],
                                             manifest["duration_s"])
    elif action == "verify":
        record = result["verification"] if exc is None else exc.details.get("verification")
        newest = catalog.newest_backup(ctx.p["backup_dir"], ctx.p.get("database"))
        # Only the newest set speaks for "the backups are verified"; an old set checked again does not.
        if record and newest and newest["name"] == record.get("name"):
            found += metric_samples.backup_verified(newest.get("database"), "logical", bool(record.get("ok")))
    elif action == "drill":
        report = (result or {}).get("report") if exc is None else exc.details.get("report")
        if isinstance(report, dict) and report.get("rto_target_s") is not None:
            found += metric_samples.drill_done(report.get("database"), "logical", report.get("achieved_rto_s"),
                                               report.get("achieved_rpo_s"), report["rto_target_s"],
                                               report["rpo_target_s"], exc is None, now)
    return found


def _record(ctx, result, exc):
    if ctx.check_mode or ctx.p["action"] not in METRIC_JOBS:
        return
    record_metrics(ctx.p["metrics_file"], job_samples(ctx, result, exc, time.time()), ctx.log, ctx.p["action"])


def run_action(params, check_mode=False, tool="frende-db-backup"):
    """Run one action; every failure is in the log as one ERROR line (unless check mode), then raised.

    The run's figures go to the metrics textfile (metrics_file), a failure's too.
    """
    try:
        ctx = Context(params, check_mode=check_mode, tool=tool)
    except FrendeDbError as exc:
        path = params.get("log_file")
        log_failure(path if isinstance(path, str) and os.path.isabs(path) else DEFAULT_LOG_FILE, tool,
                    params.get("action") or "-", exc, enabled=not check_mode)
        raise
    try:
        try:
            result = ACTIONS[ctx.p["action"]](ctx)
        except OSError as exc:  # a path the engine did not expect to be refused: say which, never a traceback
            user = pwd.getpwuid(os.geteuid()).pw_name
            raise FrendeDbError("%s: %s (the command runs as OS user %s). Check the owner and mode of that path; "
                                "nothing else was changed." % (exc.filename or "a file", exc.strerror or exc, user))
    except FrendeDbError as exc:
        if not was_logged(exc):
            log_failure(ctx.p["log_file"], tool, ctx.p["action"], exc, enabled=not check_mode, owner=ctx.p["owner"])
        _record(ctx, None, exc)
        raise mark_recorded(exc)
    _record(ctx, result, None)
    return result


def log_failure(path, tool, action, exc, enabled=True, owner=None):
    """One ERROR line for ``exc`` (command.log_failure), then ``exc`` counts as logged."""
    command.log_failure(path, tool, action, str(exc), enabled=enabled, owner=owner)
    mark_logged(exc)
