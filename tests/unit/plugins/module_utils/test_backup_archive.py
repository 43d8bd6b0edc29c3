"""Data offsets for streamed custom-format dumps, and the row splitter, on hand-built archives."""

import pytest

from ansible_collections.frende.db.plugins.module_utils._backup_archive import add_data_offsets, read_toc
from ansible_collections.frende.db.plugins.module_utils._backup_load import (
    data_sizes, list_only, list_without, split_rows)
from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError


def i(value):
    return bytes([1 if value < 0 else 0]) + abs(value).to_bytes(4, "little")


def s(text):
    if text is None:
        return i(-1)
    return i(len(text)) + text.encode()


def entry(dump_id, desc, flag):
    body = i(dump_id) + i(1 if flag != 3 else 0) + s("1259") + s(str(16000 + dump_id)) + s("t%d" % dump_id)
    body += s(desc) + i(3) + s("") + s("") + s("COPY x FROM stdin;") + s("public") + s("") + s("heap")
    body += s("postgres") + s("false") + s("100") + s(None)
    return body + bytes([flag]) + bytes(8)


def block(dump_id, rows):
    data = bytes([1]) + i(dump_id)
    for row in rows:
        data += i(len(row)) + row
    return data + i(0)


def archive(version=(1, 14), descs=("TABLE DATA", "TABLE DATA"), flag=1):
    head = b"PGDMP" + bytes([version[0], version[1], 0, 4, 8, 1]) + i(0) + b"".join(i(n) for n in range(7))
    head += s("frende") + s("15.18") + s("15.18")
    toc = i(3) + entry(10, "TABLE", 3) + b"".join(entry(20 + n, d, flag) for n, d in enumerate(descs))
    data = b"".join(block(20 + n, [b"%d\trow\n" % r for r in range(50 * (n + 1))]) for n in range(len(descs)))
    return head + toc, data


def test_offsets_are_added_where_the_blocks_are(tmp_path):
    toc, data = archive()
    path = tmp_path / "dump"
    path.write_bytes(toc + data)
    assert add_data_offsets(str(path)) == 2
    entries = read_toc(path.read_bytes())[0]
    placed = [(e["dump_id"], e["flag"], e["offset"]) for e in entries if e["flag"] != 3]
    assert placed[0] == (20, 2, len(toc))
    second = len(toc) + len(block(20, [b"%d\trow\n" % r for r in range(50)]))
    assert placed[1] == (21, 2, second)
    assert path.read_bytes()[second:second + 2] == b"\x01\x00"
    assert add_data_offsets(str(path)) == 0  # nothing left to do
    sizes = data_sizes(str(path))
    assert sizes[20] == second - len(toc) and sizes[21] == len(toc) + len(data) - second


@pytest.mark.parametrize("kwargs", [dict(version=(1, 15)), dict(descs=("TABLE DATA", "BLOBS")), dict(flag=2)])
def test_unknown_or_unneeded_archives_are_left_alone(tmp_path, kwargs):
    toc, data = archive(**kwargs)
    path = tmp_path / "dump"
    path.write_bytes(toc + data)
    assert add_data_offsets(str(path)) == 0
    assert path.read_bytes() == toc + data


def test_a_missing_block_leaves_the_file_alone(tmp_path):
    toc, data = archive()
    path = tmp_path / "dump"
    path.write_bytes(toc + data[: len(data) // 3])
    assert add_data_offsets(str(path)) == 0
    assert path.read_bytes() == toc + data[: len(data) // 3]
    (tmp_path / "empty").write_bytes(b"")
    assert add_data_offsets(str(tmp_path / "empty")) == 0
    (tmp_path / "text").write_bytes(b"-- plain SQL\n")
    assert add_data_offsets(str(tmp_path / "text")) == 0


LISTING = """;
; Archive created at ...
;
214; 1259 16385 TABLE public messages postgres
3364; 0 16385 TABLE DATA public messages postgres
3363; 0 16392 TABLE DATA public users postgres
"""


def test_list_filters():
    assert ";3364; 0 16385 TABLE DATA public messages postgres" in list_without(LISTING, {3364})
    assert "\n3363; 0 16392 TABLE DATA public users postgres" in list_without(LISTING, {3364})
    assert list_only(LISTING, 3364) == "3364; 0 16385 TABLE DATA public messages postgres\n"


def script(rows, chunk):
    text = (b"--\n-- PostgreSQL database dump\n--\nSET client_encoding = 'LATIN1';\nSET x = on;\n\n"
            b"COPY public.messages (id, body) FROM stdin;\n" + b"".join(rows) + b"\\.\n\n\n-- done\n")
    return [text[n:n + chunk] for n in range(0, len(text), chunk)]


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 22])
def test_split_rows_deals_whole_lines_and_stops_at_the_terminator(chunk):
    rows = [b"%d\tline with \\\\. and \\n escapes %d\n" % (n, n) for n in range(3000)]
    header = []
    got = {}
    size = split_rows(script(rows, chunk), lambda stmt, enc: header.append((stmt, enc)),
                      lambda index, block: got.setdefault(index % 2, []).append(block))
    assert header == [("COPY public.messages (id, body) FROM stdin;", "LATIN1")]
    out = b"".join(b"".join(v) for v in got.values())
    assert size == len(b"".join(rows)) == len(out)
    assert sorted(out.splitlines(keepends=True)) == sorted(rows)
    for blocks in got.values():
        assert all(b.endswith(b"\n") for b in blocks)


def test_split_rows_refuses_damaged_streams():
    with pytest.raises(FrendeDbError, match="not a COPY stream"):
        split_rows([b"SET x = 1;\nINSERT INTO t VALUES (1);\n"], lambda *a: None, lambda *a: None)
    with pytest.raises(FrendeDbError, match="without its COPY terminator"):
        split_rows([b"COPY t (a) FROM stdin;\n1\n2\n"], lambda *a: None, lambda *a: None)


@pytest.mark.parametrize("window", [3, 5, 7, 64, 4096])
def test_patterns_across_read_windows_are_found(tmp_path, window):
    from ansible_collections.frende.db.plugins.module_utils._backup_archive import _find
    path = tmp_path / "f"
    path.write_bytes(b"abcdefgh" * 10 + b"\x00\x00\x00XYZ" + b"tail")
    with open(path, "rb") as handle:
        assert _find(handle, b"\x00\x00\x00XYZ", 0, window) == 80
        assert _find(handle, b"\x00\x00\x00XYZ", 81, window) == -1
        assert _find(handle, b"ghab", 0, window) == 6
