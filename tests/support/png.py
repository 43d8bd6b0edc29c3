"""A small PNG decoder (standard library only) for tests that look at a screenshot.

Handles what Chromium writes: 8-bit truecolour (colour type 2) or truecolour with alpha (6),
not interlaced, any of the five row filters.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {2: 3, 6: 4}


@dataclass
class Image:
    width: int
    height: int
    channels: int
    rows: list  # one bytes object per row, unfiltered, ``width * channels`` long

    def pixel(self, x: int, y: int) -> bytes:
        return self.rows[y][x * self.channels:(x + 1) * self.channels]

    def colours(self) -> Counter:
        """How many pixels have each colour (a pixel's bytes)."""
        counts: Counter = Counter()
        step = self.channels
        for row in self.rows:
            counts.update(row[i:i + step] for i in range(0, len(row), step))
        return counts


def chunks(data: bytes):
    """(type, body) of each chunk, checking the signature and each CRC."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG file")
    offset = len(SIGNATURE)
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError("bad CRC in %r chunk" % kind)
        yield kind, body
        offset += 12 + length
        if kind == b"IEND":
            return


def decode(data: bytes) -> Image:
    header, idat = None, []
    for kind, body in chunks(data):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    if header is None:
        raise ValueError("no IHDR chunk")
    width, height, depth, colour_type, _compression, _filter, interlace = header
    if depth != 8 or colour_type not in _CHANNELS or interlace:
        raise ValueError("unsupported PNG: bit depth %d, colour type %d, interlace %d"
                         % (depth, colour_type, interlace))
    channels = _CHANNELS[colour_type]
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError("image data is %d bytes, expected %d" % (len(raw), height * (stride + 1)))
    rows, previous = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), previous, channels)
        rows.append(row)
        previous = row
    return Image(width, height, channels, rows)


def unfilter(filter_type: int, row: bytearray, previous: bytes, bpp: int) -> bytes:
    """Undo one row's filter (PNG specification, section 9)."""
    if filter_type == 0:
        return bytes(row)
    if filter_type == 2:
        return bytes((a + b) & 0xFF for a, b in zip(row, previous))
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        if filter_type == 1:
            row[i] = (row[i] + left) & 0xFF
        elif filter_type == 3:
            row[i] = (row[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif filter_type == 4:
            row[i] = (row[i] + paeth(left, previous[i], previous[i - bpp] if i >= bpp else 0)) & 0xFF
        else:
            raise ValueError("unknown filter type %d" % filter_type)
    return bytes(row)


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
