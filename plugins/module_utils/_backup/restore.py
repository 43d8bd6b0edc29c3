# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Restoring a backup set: into a new database, checked, then swapped in. Private to frende.db.

The live database is not touched until the restored copy has been loaded and
its row counts match the manifest. The swap then renames both databases in one
transaction; the old one is kept as ``<db>_pre_restore_<time>`` unless asked not to.
"""

from __future__ import annotations

import os
import queue
import time

from ansible_collections.frende.db.plugins.module_utils._backup import db as bdb
from ansible_collections.frende.db.plugins.module_utils._backup.catalog import utc_now
from ansible_collections.frende.db.plugins.module_utils._backup.files import BackupLock, resolve_backup_file
from ansible_collections.frende.db.plugins.module_utils._backup.globals import plan_globals
from ansible_collections.frende.db.plugins.module_utils._backup.verify import (
    VerifyFailed, check_identity_file, decompress_stages, quick_verify, set_path)
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError, mark_logged
from ansible_collections.frende.db.plugins.module_utils._postgres import MAX_IDENTIFIER_BYTES, validate_identifier
from ansible_collections.frende.db.plugins.module_utils._backup.pipeline import CountingSink, Pipeline, Worker, run


def stamp_now():
    return utc_now().strftime("%Y%m%d%H%M%S")


def derived_name(base, word, stamp):
    """``<base>_<word>_<stamp>`` within PostgreSQL's 63-byte limit (the base is shortened)."""
    suffix = "_%s_%s" % (word, stamp)
    keep = MAX_IDENTIFIER_BYTES - len(suffix)
    short = base.encode("utf-8")[:keep].decode("utf-8", "ignore")
    return short + suffix


class _Collect(CountingSink):
    def __init__(self):
        super().__init__()
        self.data = bytearray()

    def write(self, chunk):
        super().write(chunk)
        self.data += chunk


def globals_text(ctx, entry, identity_file):
    manifest = entry["manifest"]
    path = set_path(os.path.dirname(entry["path"]), manifest, "globals")
    sink = _Collect()
    with Pipeline(decompress_stages(ctx, path, manifest["compression"], manifest["encrypted"], identity_file),
                  ctx.env(), "reading %s" % os.path.basename(path)) as pipe:
        pipe.pump(sink)
        pipe.wait()
    return bytes(sink.data).decode("utf-8")


def role_plan(admin, entry, mode):
    """Roles the set needs that this server lacks, and whether the globals file will be applied."""
    needed = set((entry.get("manifest") or {}).get("roles") or [])
    existing = bdb.existing_roles(admin)
    missing = sorted(needed - existing)
    apply = entry["format"] == "custom" and (mode == "always" or (mode == "auto" and bool(missing)))
    if missing and mode == "never":
        raise FrendeDbError("The backup needs roles missing on this server: %s. Create them, or set globals to "
                            "auto to recreate them from the backup's globals file." % ", ".join(missing))
    return dict(needed=sorted(needed), missing=missing, apply=apply, mode=mode)


def apply_globals(ctx, admin, entry, identity_file, plan):
    """Run the globals statements the plan allows; returns what was created/updated."""
    text = globals_text(ctx, entry, identity_file)
    steps = plan_globals(text, bdb.existing_roles(admin), bdb.bootstrap_superuser(admin), plan["mode"])
    with admin.conn.cursor() as cur:
        # The statements carry password verifiers: keep them out of the server log.
        cur.execute("SET log_statement = 'none'")
        try:
            for stmt in steps["statements"]:
                cur.execute(stmt)
        except Exception as exc:
            raise FrendeDbError("Applying the backup's globals failed: %s" % str(exc).strip().splitlines()[0])
        finally:
            cur.execute("RESET log_statement")
    still = sorted(set(plan["needed"]) - bdb.existing_roles(admin))
    if still:
        raise FrendeDbError("Roles %s are still missing after applying the globals file." % ", ".join(still))
    return dict(applied=True, created=steps["created"], updated=steps["updated"], skipped=steps["skipped"])


def count_rows_parallel(ctx, database, workers):
    """Exact row counts of every user table, with up to ``workers`` connections."""
    conn = ctx.connect(database)
    try:
        tables = bdb.user_tables(conn.cursor())
    finally:
        conn.close()
    todo = queue.Queue()
    for table in sorted(tables, key=lambda t: t[1]):
        todo.put(table)
    counts = {}

    def work():
        c = ctx.connect(database)
        try:
            cur = c.cursor()
            while True:
                try:
                    table = todo.get_nowait()
                except queue.Empty:
                    return
                counts.update(bdb.count_rows(cur, [table]))
        finally:
            c.close()

    threads = [Worker(work) for dummy in range(max(1, min(workers, len(tables))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.get()
    return counts


def compare_counts(expected, actual):
    """Differences between manifest counts and restored counts (empty when equal)."""
    problems = []
    for key in sorted(set(expected) | set(actual)):
        if key not in actual:
            problems.append("%s missing" % key)
        elif key not in expected:
            problems.append("%s not in the backup" % key)
        elif expected[key] != actual[key]:
            problems.append("%s has %d rows, the backup %d" % (key, actual[key], expected[key]))
    return problems


def restore_into(ctx, admin, entry, new_db, props, dump_path, no_owner=False, scratch=False, analyze=True):
    """Create ``new_db``, load the set, check row counts, analyze, give it ``props``. Drops ``new_db`` on failure.

    ``scratch``: ``new_db`` is a copy under a derived name, labelled so that a later run drops it if
    this one is killed; its comment is left to the swap. ``analyze``: collect planner statistics, which
    pg_restore does not, so the restored database does not start on guessed query plans.
    """
    roles = bdb.existing_roles(admin)
    bdb.create_database(admin, new_db, props, roles)
    notes = []
    try:
        if scratch:
            bdb.mark_scratch(admin, new_db)
        start = time.monotonic()
        if entry["format"] == "custom":
            argv = [ctx.binary("pg_restore"), "--jobs=%d" % ctx.p["jobs"], "--exit-on-error", "--dbname=%s" % new_db]
            if no_owner:
                argv += ["--no-owner", "--no-privileges"]
                notes.append("restored without owners and grants (roles missing here)")
            run(argv + [dump_path], ctx.env(restore=True), "pg_restore into %s" % new_db)
        else:
            with Pipeline([[ctx.program("gzip"), "-d", "-c", entry["path"]],
                           [ctx.binary("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                            "--dbname=%s" % new_db]],
                          ctx.env(restore=True), "gunzip | psql into %s" % new_db) as pipe:
                pipe.pump(CountingSink())
                pipe.wait()
        load_s = time.monotonic() - start
        counts = count_rows_parallel(ctx, new_db, ctx.p["jobs"])
        count_s = time.monotonic() - start - load_s
        expected = (entry.get("manifest") or {}).get("tables")
        if expected is not None:
            problems = compare_counts(expected, counts)
            if problems:
                raise FrendeDbError("The restored copy does not match the backup's row counts: %s"
                                    % "; ".join(problems[:5]))
        analyze_s = None
        if analyze:
            run([ctx.binary("vacuumdb"), "--analyze-only", "--quiet", "--jobs=%d" % ctx.p["jobs"],
                 "--dbname=%s" % new_db], ctx.env(restore=True), "vacuumdb --analyze-only on %s" % new_db)
            analyze_s = round(time.monotonic() - start - load_s - count_s, 3)
        if props:
            notes += bdb.apply_properties(admin, new_db, props, bdb.existing_roles(admin), with_comment=not scratch)
        return dict(database=new_db, load_s=round(load_s, 3), count_s=round(count_s, 3), analyze_s=analyze_s,
                    tables=counts, rows_checked=expected is not None, notes=notes)
    except BaseException:
        bdb.drop_database(admin, new_db)
        raise


def swap_in(ctx, admin, live, new_db, previous, allow, comment):
    """Block and empty ``live``, then rename live -> previous and new_db -> live (with ``comment``) in one
    transaction."""
    bdb.set_allow_connections(admin, live, False)
    try:
        for attempt in range(3):
            bdb.terminate_sessions(admin, live)
            conn = ctx.connect(admin.conn.info.dbname, autocommit=False)
            try:
                bdb.rename_pair(conn, live, previous, new_db, comment)
                break
            except Exception as exc:
                if attempt == 2 or "being accessed by other users" not in str(exc):
                    raise FrendeDbError("Swapping in the restored database failed: %s"
                                        % str(exc).strip().splitlines()[0])
            finally:
                conn.close()
    except BaseException:
        bdb.set_allow_connections(admin, live, allow)
        raise
    bdb.set_allow_connections(admin, previous, allow)
    if not allow:
        bdb.set_allow_connections(admin, live, False)


def resolve_for_restore(ctx):
    p = ctx.p
    latest_db = p.get("database") if p["backup_file"] == "latest" else None
    entry = resolve_backup_file(p["backup_dir"], p["backup_file"], latest_db)
    manifest = entry.get("manifest")
    source_db = manifest["database"] if manifest else entry.get("database")
    identity = p.get("identity_file")
    if manifest and manifest.get("encrypted"):
        if not identity:
            raise FrendeDbError("Backup %s is encrypted (for %s); restoring it needs identity_file, the private "
                                "age identity kept off the database host." % (entry["name"], ", ".join(
                                    manifest.get("recipients") or [])))
        check_identity_file(identity)
    return entry, source_db, identity


def restore(ctx):
    """Restore a set: verify it, load it into a new database, check it, then swap it in (or create the target)."""
    entry, source_db, identity = resolve_for_restore(ctx)
    ctx.log.open_check()
    admin = None
    try:
        live = _live_name(ctx, entry, source_db)
        admin = ctx.admin(avoid=live)
        target = _plan_target(ctx, admin, entry, live)
        if ctx.check_mode:
            return _planned(ctx, entry, identity, target)
        with BackupLock(ctx.p["backup_dir"], "restore", ctx.p["lock_timeout_s"], ctx.ids):
            ctx.log.info("restore", "start", backup=entry["name"], database=live)
            done = _restore_and_swap(ctx, admin, entry, identity, target)
            ctx.log.info("restore", "done", backup=entry["name"], database=live, previous=done["kept"],
                         duration_s=done["duration_s"])
        return _restored(entry, target, done)
    finally:
        if admin is not None:
            admin.close()


def _live_name(ctx, entry, source_db):
    """The database the restore ends in: target_database, else database, else the one in the set."""
    p = ctx.p
    target_mode = bool(p.get("target_database"))
    live = p.get("target_database") or p.get("database") or source_db
    if not live:
        raise FrendeDbError("%s does not say which database it holds; set database to the database to restore."
                            % os.path.basename(entry["path"]))
    return validate_identifier(live, "target_database" if target_mode else "database")


def _plan_target(ctx, admin, entry, live):
    """What the restore will create and replace: names, the live database's properties, the roles plan."""
    p = ctx.p
    target_mode = bool(p.get("target_database"))
    exists = bdb.database_exists(admin, live)
    if target_mode and exists:
        raise FrendeDbError("target_database %s already exists; restore into a new name, or drop it first. "
                            "(To replace a live database safely, leave target_database unset.)" % live)
    stamp = stamp_now()
    return dict(
        live=live,
        live_props=bdb.database_properties(admin, live) if exists else None,
        roles=role_plan(admin, entry, p["globals"]),
        new_db=live if target_mode or not exists else derived_name(live, "restore", stamp),
        previous=derived_name(live, "pre_restore", stamp) if exists and not target_mode else None,
    )


def _planned(ctx, entry, identity, target):
    p = ctx.p
    verification = quick_verify(ctx, entry, identity)
    live, previous, missing = target["live"], target["previous"], target["roles"]["missing"]
    what = ("replace %s (kept as %s)" % (live, previous) if previous and p["keep_previous"]
            else "replace %s (the old copy dropped)" % live if previous else "create %s" % live)
    return dict(changed=True, verification=verification, restore=dict(
        backup=entry["name"], database=live, previous_database=previous if p["keep_previous"] else None,
        roles_missing=missing, globals_applied=target["roles"]["apply"]),
        msg="Would restore %s and %s%s." % (
            entry["name"], what, "; would create roles %s" % ", ".join(missing) if missing else ""))


def _restore_and_swap(ctx, admin, entry, identity, target):
    """Under the lock: verify and write out the dump, apply globals, load, then swap. The live database is
    only touched by the swap, after the copy loaded and matched the set's row counts."""
    p = ctx.p
    start = time.monotonic()
    verification = _verify_before_restore(ctx, entry, identity, target["live"])
    verify_s = time.monotonic() - start
    try:
        leftovers = drop_leftovers(ctx, admin, "restore")
        globals_result = (apply_globals(ctx, admin, entry, identity, target["roles"]) if target["roles"]["apply"]
                          else dict(applied=False, created=[], updated=[], skipped=[]))
        props = target["live_props"] or (entry.get("manifest") or {}).get("database_properties")
        loaded = restore_into(ctx, admin, entry, target["new_db"], props, verification.get("dump_path"),
                              scratch=bool(target["previous"]))
        if target["previous"]:
            _swap(ctx, admin, target)
    except BaseException as exc:
        ctx.log.error("restore", "failed", backup=entry["name"], database=target["live"],
                      msg=str(exc) or type(exc).__name__)
        mark_logged(exc)
        raise
    finally:
        if verification.get("dump_path") and os.path.exists(verification["dump_path"]):
            os.unlink(verification["dump_path"])
    verification.pop("dump_path", None)
    kept = target["previous"] if target["previous"] and p["keep_previous"] else None
    return dict(verification=verification, verify_s=round(verify_s, 3), leftovers=leftovers,
                globals=globals_result, loaded=loaded, kept=kept, duration_s=round(time.monotonic() - start, 3))


def _verify_before_restore(ctx, entry, identity, live):
    work_dir = ctx.p.get("work_dir") or ctx.p["backup_dir"]
    try:
        return quick_verify(ctx, entry, identity, materialize_dir=work_dir)
    except VerifyFailed as exc:
        ctx.log.error("restore", "refused", backup=entry["name"], database=live, msg=str(exc))
        raise mark_logged(FrendeDbError("Refusing to restore: %s. Nothing was changed." % exc,
                                        verification=exc.details.get("verification")))


def _swap(ctx, admin, target):
    """Swap the loaded copy in; drop it when the swap fails, drop the old database unless it is kept."""
    try:
        swap_in(ctx, admin, target["live"], target["new_db"], target["previous"],
                target["live_props"]["allow_connections"], target["live_props"]["comment"])
    except BaseException:
        bdb.drop_database(admin, target["new_db"])
        raise
    if not ctx.p["keep_previous"]:
        bdb.drop_database(admin, target["previous"])


def _restored(entry, target, done):
    loaded, kept = done["loaded"], done["kept"]
    result = dict(backup=entry["name"], database=target["live"], previous_database=kept,
                  duration_s=done["duration_s"], verify_s=done["verify_s"], load_s=loaded["load_s"],
                  count_s=loaded["count_s"], analyze_s=loaded["analyze_s"], tables=loaded["tables"],
                  rows_checked=loaded["rows_checked"], leftovers_dropped=done["leftovers"],
                  globals=done["globals"], roles_missing=target["roles"]["missing"], notes=loaded["notes"])
    return dict(changed=True, restore=result, verification=done["verification"], duration_s=done["duration_s"],
                msg="Restored %s into %s in %.1f s%s." % (
                    entry["name"], target["live"], done["duration_s"],
                    "; the previous database is kept as %s" % kept if kept else ""))


def drop_leftovers(ctx, admin, action):
    """Drop scratch databases that killed runs left behind (each logged); their names."""
    names = bdb.drop_leftover_scratch(admin)
    for name in names:
        ctx.log.write("WARNING", action, "leftover_dropped", database=name,
                      msg="dropped a scratch database left behind by a run that did not finish")
    return names


def scratch_restore(ctx, entry, identity, word, analyze=False):
    """Quick-verify ``entry``, restore it into a scratch database, compare rows, drop it.

    Returns (verification, restore details, seconds taken). Used by deep verify and drills (which
    analyze too, to time what a real restore does); never creates roles: when roles are missing it
    restores without owners and grants. Scratch databases of killed earlier runs are dropped first.
    """
    p = ctx.p
    db = (entry.get("manifest") or {}).get("database") or entry.get("database") or p.get("database") or "restore"
    scratch = derived_name(db, word, stamp_now())
    work_dir = p.get("work_dir") or p["backup_dir"]
    admin = ctx.admin()
    verification = None
    try:
        leftovers = drop_leftovers(ctx, admin, word)
        start = time.monotonic()
        plan = role_plan(admin, entry, "auto")
        verification = quick_verify(ctx, entry, identity, materialize_dir=work_dir)
        props = (entry.get("manifest") or {}).get("database_properties")
        loaded = restore_into(ctx, admin, entry, scratch, props if not plan["missing"] else None,
                              verification.get("dump_path"), no_owner=bool(plan["missing"]), scratch=True,
                              analyze=analyze)
        seconds = round(time.monotonic() - start, 3)
        bdb.drop_database(admin, scratch)
        loaded["leftovers_dropped"] = leftovers
        return verification, loaded, seconds
    finally:
        if verification and verification.get("dump_path") and os.path.exists(verification["dump_path"]):
            os.unlink(verification["dump_path"])
        if verification:
            verification.pop("dump_path", None)
        admin.close()
