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
import socket
import time

from ansible_collections.frende.db.plugins.module_utils._backup import catalog as catalog
from ansible_collections.frende.db.plugins.module_utils._backup import db as bdb
from ansible_collections.frende.db.plugins.module_utils._backup.context import TOOL_VERSION
from ansible_collections.frende.db.plugins.module_utils._backup.files import (
    BackupLock, PartialFile, ensure_dir, fsync_dir, orphan_files, remove_files, stale_partials, write_json)
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._postgres import Db
from ansible_collections.frende.db.plugins.module_utils._backup.pipeline import HashingFile, Pipeline, Worker, run


def compressor(ctx):
    level = ctx.p["compression_level"]
    if ctx.p["compression"] == "zstd":
        argv = [ctx.program("zstd"), "-q", "-c", "-T0", "-%d" % level]
        if level <= 4:
            # A 2^19-entry match table (zstd uses 2^17 at these levels) finds the repeats in
            # COPY data that make gzip -6 win by ~1% otherwise, for ~20% more CPU (bench/).
            argv.append("--zstd=hlog=19")
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
    p = ctx.p
    database = p["database"]
    directory = p["backup_dir"]
    encrypted = bool(encryptor(ctx))
    recipients = recipients_for_manifest(ctx) if encrypted else []
    conn = ctx.connect(database, autocommit=True)
    try:
        admin = Db(conn)
        server_version = admin.query_one("SHOW server_version")["server_version"]
        props = bdb.database_properties(admin, database)
        if ctx.check_mode:
            planned = catalog.set_name(database, catalog.utc_now())
            return dict(changed=True, backup=None, msg="Would back up database %s (PostgreSQL %s) into %s as %s%s%s."
                        % (database, server_version, directory, planned, catalog.DUMP_SUFFIXES[p["compression"]],
                           ", encrypted for %d recipient(s)" % len(recipients) if encrypted else ""))
        ctx.log.open_check()
        ensure_dir(directory, ctx.ids)
        with BackupLock(directory, "backup", p["lock_timeout_s"], ctx.ids):
            leftovers = remove_files(stale_partials(directory) + orphan_files(directory))
            if p.get("work_dir"):
                leftovers += remove_files(stale_partials(p["work_dir"]))
            for path in leftovers:
                ctx.log.warning("backup", "leftover-removed", file=os.path.basename(path))
            return _backup_locked(ctx, conn, server_version, props, encrypted, recipients, leftovers)
    finally:
        conn.close()


def _backup_locked(ctx, conn, server_version, props, encrypted, recipients, leftovers):
    p = ctx.p
    database = p["database"]
    directory = p["backup_dir"]
    started = catalog.utc_now()
    clock = time.monotonic()
    name = unique_name(directory, database, started)[0]
    files = catalog.set_files(name, p["compression"], encrypted)
    ctx.log.info("backup", "start", database=database, name=name, compression=p["compression"],
                 encrypted=encrypted)
    parts = []
    committed = []
    snap = None
    try:
        roles = bdb.needed_roles(conn.cursor())
        env = ctx.env()
        # Globals first: cheap, and a role without the rights to read them fails before the long dump.
        globals_part = PartialFile(directory, files["globals"], ctx.ids)
        parts.append(globals_part)
        with Pipeline([[ctx.binary("pg_dumpall"), "--globals-only", "--database=%s" % (p.get("login_db") or "postgres")],
                       compressor(ctx)] + encryptor(ctx), env, "pg_dumpall --globals-only") as pipe:
            globals_sink = _pump_to(pipe, globals_part)
            pipe.wait()

        snap = ctx.connect(database, autocommit=False)
        snap.set_session(isolation_level="REPEATABLE READ", readonly=True)
        cur = snap.cursor()
        cur.execute("SELECT pg_export_snapshot()")
        snapshot = cur.fetchone()[0]
        tables = bdb.user_tables(cur)
        dump_part = PartialFile(directory, files["dump"], ctx.ids)
        parts.append(dump_part)
        dump_cmd = [ctx.binary("pg_dump"), "--format=custom", "--compress=0", "--snapshot=%s" % snapshot,
                    "--dbname=%s" % database]
        counter = Worker(lambda: bdb.count_rows(cur, tables))
        try:
            with Pipeline([dump_cmd, compressor(ctx)] + encryptor(ctx), env, "pg_dump of %s" % database) as pipe:
                counter.start()
                dump_sink = _pump_to(pipe, dump_part)
                pipe.wait()
                counts = counter.get()
        except BaseException:
            if counter.is_alive():
                snap.cancel()  # stop the counting query before the connection goes away
                counter.join()
            raise
        snap.rollback()

        globals_part.sync()
        dump_part.sync()
        finished = catalog.utc_now()
        manifest = dict(
            format_version=catalog.MANIFEST_VERSION, name=name, database=database,
            server_version=server_version, server_version_num=conn.server_version,
            started_at=started.isoformat(), finished_at=finished.isoformat(),
            duration_s=round(time.monotonic() - clock, 3),
            tool=ctx.tool, tool_version=TOOL_VERSION,
            pg_dump_version=run([ctx.binary("pg_dump"), "--version"], env, "pg_dump --version").strip(),
            host=socket.gethostname(),
            compression=p["compression"], compression_level=p["compression_level"],
            encrypted=encrypted, recipients=recipients,
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
        for part in parts:
            committed.append(part.commit())
        fsync_dir(directory)
        # The manifest is written last: its presence marks the set complete.
        write_json(directory, files["manifest"], manifest, ctx.ids)
    except BaseException as exc:
        for part in parts:
            part.discard()
        remove_files(committed)
        if snap is not None:
            snap.close()
        ctx.log.error("backup", "failed", database=database, name=name, msg=str(exc) or type(exc).__name__)
        raise
    finally:
        if snap is not None and not snap.closed:
            snap.close()
    ctx.log.info("backup", "done", database=database, name=name, size=manifest["size"],
                 duration_s=manifest["duration_s"], tables=len(counts), encrypted=encrypted)
    return dict(changed=True, backup=manifest, path=os.path.join(directory, files["dump"]),
                duration_s=manifest["duration_s"], leftovers_removed=[os.path.basename(x) for x in leftovers],
                msg="Backed up database %s as %s (%d bytes, %.1f s)." % (
                    database, name, manifest["size"], manifest["duration_s"]))


def _jsonable(props):
    if props is None:
        return None
    return dict((k, v) for k, v in props.items())
