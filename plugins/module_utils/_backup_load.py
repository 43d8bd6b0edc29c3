# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Loading a custom-format dump fast: pg_restore -j, with big tables split over several COPY streams.

Private to frende.db; stdlib only. ``pg_restore -j`` restores different tables
in parallel, but one table's data goes through one COPY: with one big table
(Frende's messages) the other cores wait. So the restore runs as pg_restore's
three sections (its documented equivalent of a full restore): pre-data; data,
where pg_restore -j loads the small tables while each big table's rows are
dealt out, line by line, to ``jobs`` concurrent ``COPY ... FROM STDIN``
sessions; then post-data (indexes, constraints, triggers, grants) with -j.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

from ansible_collections.frende.db.plugins.module_utils._backup_archive import HEAD_BYTES, OFFSET_SET, read_toc
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._process import (
    CHUNK, Worker, _describe_status, _grow_pipe, _tail, run)

SPLIT_MIN_BYTES = 64 * 1024 * 1024
BLOCK = 1024 * 1024
TERMINATOR = b"\\.\n"


def data_sizes(path):
    """{dump id: bytes of its data block} from the archive's offsets ({} when it has none)."""
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
        end = handle.seek(0, os.SEEK_END)
    try:
        parsed = read_toc(head)
    except IndexError:
        return {}
    if parsed is None:
        return {}
    placed = sorted((e["offset"], e["dump_id"], e["desc"]) for e in parsed[0] if e["flag"] == OFFSET_SET)
    sizes = {}
    for index, (offset, dump_id, desc) in enumerate(placed):
        following = placed[index + 1][0] if index + 1 < len(placed) else end
        if desc == b"TABLE DATA":
            sizes[dump_id] = following - offset
    return sizes


def list_without(listing, excluded):
    """``pg_restore --list`` text with the entries ``excluded`` (dump ids) commented out."""
    lines = []
    for line in listing.splitlines():
        head = line.split(";", 1)[0].strip()
        if head.isdigit() and int(head) in excluded:
            line = ";" + line
        lines.append(line)
    return "\n".join(lines) + "\n"


def list_only(listing, dump_id):
    return "".join(line + "\n" for line in listing.splitlines()
                   if line.split(";", 1)[0].strip() == str(dump_id))


def split_rows(chunks, on_header, write):
    """Deal the rows of a ``pg_restore --data-only`` COPY script round-robin, whole lines only.

    ``on_header(copy statement, client encoding)`` is called once before the
    first ``write(index, block)``. Returns the bytes of rows. Pure apart from
    its callbacks.
    """
    chunks = iter(chunks)
    buffer = b""
    at = -1
    for chunk in chunks:
        buffer += chunk
        at = buffer.find(b" FROM stdin;\n")
        if at >= 0 or len(buffer) > 1024 * 1024:
            break
    start = buffer.rfind(b"\n", 0, max(at, 0)) + 1
    copy_stmt = buffer[start:at + len(b" FROM stdin;")] if at >= 0 else b""
    if not copy_stmt.startswith(b"COPY "):
        raise FrendeDbError("The archive's table data is not a COPY stream; cannot split it.")
    encoding = None
    for line in buffer[:start].decode("utf-8", "replace").splitlines():
        if line.startswith("SET client_encoding = '"):
            encoding = line.split("'")[1]
    on_header(copy_stmt.decode("utf-8"), encoding)
    pending = buffer[at + len(b" FROM stdin;\n"):]
    index, size = 0, 0
    while True:
        # Whole lines, at least BLOCK bytes per write: fewer, larger pipe writes keep the COPY sessions busy.
        while len(pending) < BLOCK:
            chunk = next(chunks, None)
            if chunk is None:
                break
            pending += chunk
        cut = pending.rfind(b"\n") + 1
        block, pending = pending[:cut], pending[cut:]
        end = (b"\n" + block).find(b"\n" + TERMINATOR)
        if end >= 0:
            block = block[:end]
        if block:
            write(index, block)
            size += len(block)
            index += 1
        if end >= 0:
            break
        if not pending and not block:
            raise FrendeDbError("The table data ended without its COPY terminator; the archive is damaged.")
    for dummy in chunks:  # drain, so the producer can finish
        pass
    return size


def _read_chunks(fd):
    while True:
        chunk = os.read(fd, CHUNK)
        if not chunk:
            return
        yield chunk


def split_copy(ctx, dump_path, listing, dump_id, dbname, streams):
    """Load one table's data over ``streams`` concurrent COPY sessions; returns the bytes of rows."""
    env = ctx.env(restore=True)
    errs = [tempfile.TemporaryFile() for dummy in range(streams + 1)]
    consumers = []
    producer = None
    with tempfile.NamedTemporaryFile("w", prefix=".frende-list-", suffix=".txt") as lst:
        lst.write(list_only(listing, dump_id))
        lst.flush()
        try:
            producer = subprocess.Popen([ctx.binary("pg_restore"), "--data-only", "--use-list=%s" % lst.name,
                                         "--file=-", dump_path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=errs[0], env=env)
            _grow_pipe(producer.stdout)

            def on_header(copy_stmt, encoding):
                session_env = dict(env, PGCLIENTENCODING=encoding) if encoding else env
                for n in range(streams):
                    consumers.append(subprocess.Popen(
                        [ctx.binary("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--dbname=%s" % dbname,
                         "-c", copy_stmt], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                        stderr=errs[1 + n], env=session_env))
                    _grow_pipe(consumers[-1].stdin)

            def write(index, block):
                n = index % len(consumers)
                try:
                    consumers[n].stdin.write(block)
                except BrokenPipeError:
                    consumers[n].wait()
                    raise FrendeDbError("A COPY session into %s ended early: %s" % (dbname, _tail(errs[1 + n])))

            size = split_rows(_read_chunks(producer.stdout.fileno()), on_header, write)
            for proc in consumers:
                proc.stdin.close()
            failures = []
            code = producer.wait()
            if code != 0:
                failures.append("pg_restore %s: %s" % (_describe_status(code), _tail(errs[0])))
            for n, proc in enumerate(consumers):
                code = proc.wait()
                if code != 0:
                    failures.append("COPY session %d %s: %s" % (n + 1, _describe_status(code), _tail(errs[1 + n])))
            if failures:
                raise FrendeDbError("Loading table data into %s failed: %s" % (dbname, "; ".join(failures)))
            return size
        except BaseException:
            for proc in consumers + ([producer] if producer else []):
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
            raise
        finally:
            if producer and producer.stdout:
                producer.stdout.close()
            for err in errs:
                err.close()


def restore_custom(ctx, dump_path, dbname, no_owner=False):
    """Restore the custom archive at ``dump_path`` into the empty database ``dbname``.

    Returns the dump ids of the tables whose data was split over several COPY sessions.
    """
    jobs = ctx.p["jobs"]
    base = [ctx.binary("pg_restore"), "--exit-on-error", "--dbname=%s" % dbname]
    if no_owner:
        base += ["--no-owner", "--no-privileges"]
    env = ctx.env(restore=True)
    what = "pg_restore into %s" % dbname
    sizes = data_sizes(dump_path) if jobs > 1 else {}
    big = sorted(dump_id for dump_id, size in sizes.items() if size >= SPLIT_MIN_BYTES)
    if not big:
        run(base + ["--jobs=%d" % jobs, dump_path], env, what)
        return []
    listing = run([ctx.binary("pg_restore"), "--list", dump_path], env, "pg_restore --list")
    run(base + ["--section=pre-data", dump_path], env, what + " (pre-data)")
    with tempfile.NamedTemporaryFile("w", prefix=".frende-list-", suffix=".txt") as lst:
        lst.write(list_without(listing, set(big)))
        lst.flush()
        small = Worker(lambda: run(base + ["--section=data", "--jobs=%d" % max(1, jobs - 1),
                                           "--use-list=%s" % lst.name, dump_path], env, what + " (data)"))
        small.start()
        try:
            for dump_id in big:
                split_copy(ctx, dump_path, listing, dump_id, dbname, jobs)
        finally:
            small.get()
    run(base + ["--section=post-data", "--jobs=%d" % jobs, dump_path], env, what + " (post-data)")
    return big
