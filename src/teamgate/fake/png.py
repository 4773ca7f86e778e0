"""A tiny PNG encoder for the fake's generated images (no image library needed)."""

from __future__ import annotations

import hashlib
import struct
import zlib

IMAGE_SIZE = 16


def _chunk(kind: bytes, data: bytes) -> bytes:
    checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)


def render_png(seed: str, size: int = IMAGE_SIZE) -> bytes:
    """Render a ``size``×``size`` RGB gradient PNG whose colours depend only on ``seed``."""
    red, green, blue = hashlib.sha256(seed.encode()).digest()[:3]
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter type "None" for this scanline
        for x in range(size):
            shade = (x + y) * 255 // (2 * size - 2)
            rows += bytes(((red + shade) % 256, (green + x * 8) % 256, (blue + y * 8) % 256))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows)))
        + _chunk(b"IEND", b"")
    )
