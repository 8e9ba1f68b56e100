"""PNG chunks, read and written: the one walk over a PNG's chunks that decoding and encoding use."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunks(png: bytes) -> Iterator[tuple[bytes, memoryview]]:
    """Each chunk after the signature, in order, as (type, data), the data a view (no copy). A
    chunk the end of the file cuts short comes with the data there is, and ends the walk."""
    view = memoryview(png)
    position = len(SIGNATURE)
    while position + 8 <= len(png):
        length = int.from_bytes(view[position : position + 4], "big")
        yield bytes(view[position + 4 : position + 8]), view[position + 8 : position + 8 + length]
        position += 12 + length


def chunk(kind: bytes, data: bytes) -> bytes:
    """One chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
