# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Adding data offsets to a pg_dump custom archive that was written through a pipe.

Private to frende.db; stdlib only. pg_dump records where each table's data
starts only when it can seek back into its output file; a dump streamed into
zstd has none, so every ``pg_restore -j`` worker reads the archive from the
start to find its table. After decompressing to a file we can record them:
the offsets live in fixed-width fields of the table of contents, so they are
patched in place. Anything unexpected (another archive version, large objects,
a block not found in order) leaves the file as it is; pg_restore then works as
before, only slower. pg_restore itself checks the block id at every offset.

Layout (pg_backup_archiver.c / pg_backup_custom.c, archive version 1.14 as
written by pg_dump 12-15): integers are a sign byte plus ``intSize`` bytes
little-endian, strings an integer length (-1 = NULL) plus bytes; each TOC
entry ends with an offset flag byte (1 = not set, 2 = set, 3 = no data) and
``offSize`` bytes. Each data block is ``0x01``, the entry's dump id, chunks
of (length, bytes), and a zero length.
"""

from __future__ import annotations


MAGIC = b"PGDMP"
SUPPORTED_VERSIONS = {(1, 14)}
ARCH_CUSTOM = 1
OFFSET_NOT_SET, OFFSET_SET = 1, 2
BLK_DATA = 1
HEAD_BYTES = 16 * 1024 * 1024  # room for the TOC of a dump with tens of thousands of objects


class _Reader:
    def __init__(self, buf, pos, int_size):
        self.buf = buf
        self.pos = pos
        self.int_size = int_size

    def int(self):
        sign = self.buf[self.pos]
        value = int.from_bytes(self.buf[self.pos + 1:self.pos + 1 + self.int_size], "little")
        self.pos += 1 + self.int_size
        return -value if sign else value

    def str(self):
        length = self.int()
        if length < 0:
            return None
        value = bytes(self.buf[self.pos:self.pos + length])
        self.pos += length
        return value


def read_toc(buf):
    """(entries, data start, int size, offset size) or None when the archive is not one we know.

    Each entry: dict(dump_id, desc, flag, flag_pos, offset).
    """
    if bytes(buf[:5]) != MAGIC or (buf[5], buf[6]) not in SUPPORTED_VERSIONS or buf[10] != ARCH_CUSTOM:
        return None
    int_size, off_size = buf[8], buf[9]
    reader = _Reader(buf, 11, int_size)
    reader.int()  # compression level
    for dummy in range(7):
        reader.int()  # creation time
    for dummy in range(3):
        reader.str()  # database name, server version, pg_dump version
    entries = []
    for dummy in range(reader.int()):
        dump_id = reader.int()
        reader.int()  # has a data dumper
        reader.str()  # table oid
        reader.str()  # oid
        reader.str()  # tag
        desc = reader.str()
        reader.int()  # section
        for dummy in range(8):  # defn, drop, copy statement, namespace, tablespace, table AM, owner, "with oids"
            reader.str()
        while reader.str() is not None:  # dependencies
            pass
        flag_pos = reader.pos
        flag = buf[flag_pos]
        offset = int.from_bytes(buf[flag_pos + 1:flag_pos + 1 + off_size], "little")
        reader.pos += 1 + off_size
        entries.append(dict(dump_id=dump_id, desc=desc, flag=flag, flag_pos=flag_pos, offset=offset))
    return entries, reader.pos, int_size, off_size


def _find(handle, pattern, start, window=8 * 1024 * 1024):
    """Offset of ``pattern`` in the file at or after ``start`` (-1 if absent), reading in windows.

    Reading into one reused buffer (rather than mapping the file) keeps the
    process small and the copying low on a multi-GB dump.
    """
    handle.seek(start)
    buf = bytearray(window)
    keep = len(pattern) - 1
    carry, base = b"", start
    while True:
        size = handle.readinto(buf)
        if not size:
            return -1
        if carry:
            found = (carry + bytes(buf[:min(keep, size)])).find(pattern)
            if found >= 0:
                return base - len(carry) + found
        found = buf.find(pattern, 0, size)
        if found >= 0:
            return base + found
        carry = (carry + bytes(buf[max(0, size - keep):size]))[-keep:] if keep else b""
        base += size


def add_data_offsets(path):
    """Record data offsets in the archive at ``path``; returns how many entries were patched."""
    with open(path, "r+b") as handle:
        head = handle.read(HEAD_BYTES)
        try:
            parsed = read_toc(head)
        except IndexError:  # not an archive, or a TOC larger than HEAD_BYTES: leave it alone
            return 0
        if parsed is None:
            return 0
        entries, data_start, int_size, off_size = parsed
        todo = [e for e in entries if e["flag"] == OFFSET_NOT_SET]
        if not todo or any(e["desc"] == b"BLOBS" for e in todo):
            return 0
        end_marker = b"\x00" * (1 + int_size)
        search, patches = data_start, []
        for entry in todo:
            header = bytes([BLK_DATA, 0]) + entry["dump_id"].to_bytes(int_size, "little")
            handle.seek(search)
            if search == data_start and handle.read(len(header)) == header:
                found = search
            else:
                found = _find(handle, end_marker + header, search)
                if found < 0:
                    return 0
                found += len(end_marker)
            patches.append((entry["flag_pos"], found))
            search = found + len(header)
        for flag_pos, found in patches:
            handle.seek(flag_pos)
            handle.write(bytes([OFFSET_SET]) + found.to_bytes(off_size, "little"))
        handle.flush()  # a scratch file: no fsync, it lives only until pg_restore has read it
        return len(patches)
