"""A JPEG's structure, walked before Pillow reads it, so that no crafted file costs seconds.

Two shapes of file are cheap to send and dear to read: thousands of progressive scans (libjpeg
decodes the whole picture again for each one: 1,500 scans took 15 s where the same picture as
a baseline JPEG takes 0.3 s), and megabytes of APPn segments (Pillow joins them, costing 11 s
of CPU for a 40 MiB file). No real encoder writes either: libjpeg's progressive mode writes 10
scans for a colour picture and mozjpeg's at most about 20; EXIF is at most 64 KiB, and ICC
profiles and XMP take a few hundred KiB. The walk jumps from segment to segment and finds the
end of each scan with one regular-expression search, so it costs microseconds per segment.
"""

from __future__ import annotations

import re

from kcolors.errors import ImageTooComplex

MAX_SCANS = 100
MAX_METADATA_BYTES = 4 * 1024 * 1024  # APPn (EXIF, ICC, XMP, ...) and comments, all told
MAX_SEGMENTS = 4096  # real files have a few dozen
SOI = b"\xff\xd8\xff"
_SOS, _EOI = 0xDA, 0xD9
# Markers with no length: restart markers, and TEM.
_STANDALONE = {*range(0xD0, 0xD8), 0x01}
# The next marker after entropy-coded data: 0xFF followed by neither a stuffed 0x00, a restart
# marker nor another fill byte.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def is_jpeg(data: bytes) -> bool:
    """Whether the file starts as every JPEG (and MPO) does."""
    return data.startswith(SOI)


def check_structure(data: bytes) -> None:
    """Raise `ImageTooComplex` if a JPEG has more scans, metadata or segments than any real
    encoder writes. A damaged structure is left for the decoder to report."""
    position, scans, metadata, segments = 2, 0, 0, 0
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # a fill byte
            position += 1
            continue
        if marker == _EOI:
            return
        segments += 1
        if segments > MAX_SEGMENTS:
            raise ImageTooComplex(f"the JPEG has more than {MAX_SEGMENTS:,} segments")
        if marker in _STANDALONE:
            position += 2
            continue
        end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            metadata += end - position
            if metadata > MAX_METADATA_BYTES:
                raise ImageTooComplex(
                    f"the JPEG carries more than {MAX_METADATA_BYTES:,} bytes of metadata "
                    "(APPn segments and comments)"
                )
        if marker == _SOS:
            scans += 1
            if scans > MAX_SCANS:
                raise ImageTooComplex(
                    f"the JPEG has more than {MAX_SCANS} scans; real encoders write at most "
                    "about 20"
                )
            found = _NEXT_MARKER.search(data, end)
            if found is None:
                return
            end = found.start()
        position = end
