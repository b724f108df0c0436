"""A small PNG made here (no image library, no file on disk): a flat background with one
filled rectangle, so a test knows where the object to box is."""

from __future__ import annotations

import base64
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_rectangle(width: int, height: int, rect: tuple[int, int, int, int],
                       background: tuple[int, int, int] = (170, 205, 240),
                       colour: tuple[int, int, int] = (220, 80, 40)) -> bytes:
    """An RGB PNG of ``width`` x ``height`` with ``rect`` = (x, y, w, h) filled with ``colour``."""
    x0, y0, w, h = rect
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")  # filter type: none
        for x in range(width):
            row += bytes(colour if x0 <= x < x0 + w and y0 <= y < y0 + h else background)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
            + _chunk(b"IEND", b""))


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
