# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Taking a backup set: globals, dump and manifest, atomically. Private to frende.db.

pg_dump reads a snapshot exported by a REPEATABLE READ transaction that stays
open for the whole dump; the same transaction counts every table's rows, so
the manifest's counts describe exactly the data in the dump.
"""

from __future__ import annotations

import datetime
import os
import signal
import socket
import time

from ansible_collections.frende.db.plugins.module_utils._backup import catalog
from ansible_collections.frende.db.plugins.module_utils._backup import db as bdb
from ansible_collections.frende.db.plugins.module_utils._backup.context import TOOL_VERSION
from ansible_collections.frende.db.plugins.module_utils._backup.files import (
    BackupLock, PartialFile, ensure_dir, fsync_dir, orphan_files, remove_files, stale_partials, write_json)
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError, mark_logged
from ansible_collections.frende.db.plugins.module_utils._postgres import Db
from ansible_collections.frende.db.plugins.module_utils._backup.pipeline import HashingFile, Pipeline, Worker, run


def compressor(ctx):
    level = ctx.p["compression_level"]
    if ctx.p["compression"] == "zstd":
        argv = [ctx.program("zstd"), "-q", "-c", "-T0", "-%d" % level]
        # Matches of at least 7 bytes (zstd takes 4-5 at these levels): COPY text is words, digits and
        # separators, where short matches cost more than the literals they replace, and pg_dump -Fc -Z0
        # frames every row with a 5-byte length. Smaller and faster on every shape measured (bench/).
        # At levels up to 4, a 2^19-entry match table (zstd uses 2^17 there) finds more of the repeats.
        if level <= 4:
            argv.append("--zstd=hlog=19,mml=7")
        elif level <= 9:
            argv.append("--zstd=mml=7")
        return argv
    return [ctx.program("gzip"), "-c", "-n", "-%d" % level]


def encryptor(ctx):
    if not (ctx.p["recipients"] or ctx.p.get("encrypt_recipients_file")):
        return []
    argv = [ctx.program("age"), "--encrypt"]
    for recipient in ctx.p["recipients"]:
        argv += ["--recipient", recipient]
    if ctx.p.get("encrypt_recipients_file"):
        argv += ["--recipients-file", ctx.p["encrypt_recipients_file"]]
    return [argv]


def recipients_for_manifest(ctx):
    """The public recipients, for the manifest's record of whom the set is encrypted for."""
    found = list(ctx.p["recipients"])
    path = ctx.p.get("encrypt_recipients_file")
    if path:
        try:
            with open(path, "r", encoding="utf-8") as handle:
                lines = [line.strip() for line in handle]
        except OSError as exc:
            raise FrendeDbError("encrypt_recipients_file %s cannot be read: %s." % (path, exc.strerror))
        for line in lines:
            if line.startswith("AGE-SECRET-KEY-"):
                raise FrendeDbError("encrypt_recipients_file %s holds a private age identity; it must hold "
                                    "public recipients only (age-keygen -y turns an identity into one)." % path)
            if line and not line.startswith("#"):
                found.append(line)
        if not found:
            raise FrendeDbError("encrypt_recipients_file %s lists no recipients." % path)
    return found


def unique_name(directory, database, moment):
    """``<db>-<stamp>``, one second later while that name is taken (two runs in one second)."""
    names = set(os.listdir(directory))
    while True:
        name = catalog.set_name(database, moment)
        if not any(n.startswith(name + ".") or (catalog.parse_partial(n) or ("",))[0].startswith(name + ".")
                   for n in names):
            return name, moment
        moment += datetime.timedelta(seconds=1)


def _pump_to(pipe, part):
    sink = HashingFile(part.fd, part.path)
    pipe.pump(sink)
    return sink


def backup(ctx):
    """Take one backup set of ``database``: globals, dump, manifest (written last)."""
    p = ctx.p
    recipients = recipients_for_manifest(ctx) if encryptor(ctx) else []
    # The log opens before the server is asked anything: a run that cannot connect leaves its trace too.
    ctx.log.open_check()
    conn = ctx.connect(p["database"], autocommit=True)
    try:
        admin = Db(conn)
        server_version = admin.query_one("SHOW server_version")["server_version"]
        props = bdb.database_properties(admin, p["database"])
        if ctx.check_mode:
            return _planned(ctx, server_version, recipients)
        ensure_dir(p["backup_dir"], ctx.ids)
        with BackupLock(p["backup_dir"], "backup", p["lock_timeout_s"], ctx.ids):
            leftovers = _remove_leftovers(ctx)
            return _take_set(ctx, conn, server_version, props, recipients, leftovers)
    finally:
        conn.close()


def _planned(ctx, server_version, recipients):
    p = ctx.p
    planned = catalog.set_name(p["database"], catalog.utc_now())
    return dict(changed=True, backup=None, msg="Would back up database %s (PostgreSQL %s) into %s as %s%s%s."
                % (p["database"], server_version, p["backup_dir"], planned, catalog.DUMP_SUFFIXES[p["compression"]],
                   ", encrypted for %d recipient(s)" % len(recipients) if recipients else ""))


def _remove_leftovers(ctx):
    """Partial files of dead runs and set files without a manifest; each is logged. Call under the lock."""
    directory = ctx.p["backup_dir"]
    leftovers = remove_files(stale_partials(directory) + orphan_files(directory))
    if ctx.p.get("work_dir"):
        leftovers += remove_files(stale_partials(ctx.p["work_dir"]))
    for path in leftovers:
        ctx.log.warning("backup", "leftover-removed", file=os.path.basename(path))
    return leftovers


def _take_set(ctx, conn, server_version, props, recipients, leftovers):
    """Write the set's files as partial files, commit them, then the manifest; on any failure, nothing stays."""
    p = ctx.p
    started = catalog.utc_now()
    clock = time.monotonic()
    name = unique_name(p["backup_dir"], p["database"], started)[0]
    files = catalog.set_files(name, p["compression"], bool(recipients))
    ctx.log.info("backup", "start", database=p["database"], name=name, compression=p["compression"],
                 encrypted=bool(recipients))
    parts, committed, snaps = [], [], []
    try:
        roles = bdb.needed_roles(conn.cursor())
        # Globals first: cheap, and a role without the rights to read them fails before the long dump.
        globals_sink = _dump_globals(ctx, _partial(ctx, files["globals"], parts))
        dump_sink, counts = _dump_database(ctx, _partial(ctx, files["dump"], parts), snaps)
        for part in parts:
            part.sync()
        manifest = _manifest(ctx, conn, name, files, started, clock, server_version, recipients, props, roles,
                             counts, dump_sink, globals_sink)
        _commit(ctx, name, files, parts, committed, manifest)
    except BaseException as exc:
        for part in parts:
            part.discard()
        remove_files(committed)
        ctx.log.error("backup", "failed", database=p["database"], name=name, msg=str(exc) or type(exc).__name__)
        mark_logged(exc)
        raise
    finally:
        for snap in snaps:
            if not snap.closed:
                snap.close()
    ctx.log.info("backup", "done", database=p["database"], name=name, size=manifest["size"],
                 duration_s=manifest["duration_s"], tables=len(counts), encrypted=bool(recipients))
    return dict(changed=True, backup=manifest, path=os.path.join(p["backup_dir"], files["dump"]),
                duration_s=manifest["duration_s"], leftovers_removed=[os.path.basename(x) for x in leftovers],
                msg="Backed up database %s as %s (%d bytes, %.1f s)." % (
                    p["database"], name, manifest["size"], manifest["duration_s"]))


def _partial(ctx, final, parts):
    """A new partial file in the backup directory, already in ``parts`` (so a failure from here on removes it)."""
    # A SIGTERM between creating the file and recording it would leave it behind: hold signals for that moment.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        part = PartialFile(ctx.p["backup_dir"], final, ctx.ids)
        parts.append(part)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return part


def _dump_globals(ctx, part):
    """pg_dumpall --globals-only, compressed (and encrypted), into ``part``; returns its hashing sink."""
    argv = [ctx.binary("pg_dumpall"), "--globals-only", "--database=%s" % (ctx.p.get("login_db") or "postgres")]
    with Pipeline([argv, compressor(ctx)] + encryptor(ctx), ctx.env(), "pg_dumpall --globals-only") as pipe:
        sink = _pump_to(pipe, part)
        pipe.wait()
    return sink


def _dump_database(ctx, part, snaps):
    """pg_dump of the database from an exported snapshot, while the same snapshot counts every table's rows.

    Returns (hashing sink, {table: rows}). The snapshot's connection goes into ``snaps`` for the caller to close.
    """
    database = ctx.p["database"]
    snap = ctx.connect(database, autocommit=False)
    snaps.append(snap)
    snap.set_session(isolation_level="REPEATABLE READ", readonly=True)
    cur = snap.cursor()
    cur.execute("SELECT pg_export_snapshot()")
    snapshot = cur.fetchone()[0]
    tables = bdb.user_tables(cur)
    dump_cmd = [ctx.binary("pg_dump"), "--format=custom", "--compress=0", "--snapshot=%s" % snapshot,
                "--dbname=%s" % database]
    counter = Worker(lambda: bdb.count_rows(cur, tables))
    try:
        with Pipeline([dump_cmd, compressor(ctx)] + encryptor(ctx), ctx.env(), "pg_dump of %s" % database) as pipe:
            counter.start()
            sink = _pump_to(pipe, part)
            pipe.wait()
            counts = counter.get()
    except BaseException:
        if counter.is_alive():
            snap.cancel()  # stop the counting query before the connection goes away
            counter.join()
        raise
    snap.rollback()
    return sink, counts


def _manifest(ctx, conn, name, files, started, clock, server_version, recipients, props, roles, counts,
              dump_sink, globals_sink):
    p = ctx.p
    manifest = dict(
        format_version=catalog.MANIFEST_VERSION, name=name, database=p["database"],
        server_version=server_version, server_version_num=conn.server_version,
        started_at=started.isoformat(), finished_at=catalog.utc_now().isoformat(),
        duration_s=round(time.monotonic() - clock, 3),
        tool=ctx.tool, tool_version=TOOL_VERSION,
        pg_dump_version=run([ctx.binary("pg_dump"), "--version"], ctx.env(), "pg_dump --version").strip(),
        host=socket.gethostname(),
        compression=p["compression"], compression_level=p["compression_level"],
        encrypted=bool(recipients), recipients=recipients,
        files=dict(
            dump=dict(name=files["dump"], size=dump_sink.size, sha256=dump_sink.sha256.hexdigest()),
            globals=dict(name=files["globals"], size=globals_sink.size, sha256=globals_sink.sha256.hexdigest()),
        ),
        size=dump_sink.size + globals_sink.size,
        tables=counts, roles=roles, database_properties=_jsonable(props),
    )
    problems = catalog.validate_manifest(manifest, name)
    if problems:  # a bug, not an operator error: never write a manifest that verify would refuse
        raise FrendeDbError("Internal error, the new manifest is invalid: %s" % "; ".join(problems))
    return manifest


def _commit(ctx, name, files, parts, committed, manifest):
    """Rename the synced files into place; the manifest is written last: its presence marks the set complete."""
    directory = ctx.p["backup_dir"]
    for part in parts:
        committed.append(part.commit())
    fsync_dir(directory)
    write_json(directory, files["manifest"], manifest, ctx.ids)


def _jsonable(props):
    if props is None:
        return None
    return dict((k, v) for k, v in props.items())
