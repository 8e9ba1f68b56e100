"""A picture a browser can show, for an input it cannot (HEIC, TIFF, BMP): the decoded original
(oriented, in sRGB), at most `PREVIEW_SIDE` pixels a side, as WebP. Made once, by the worker."""

from __future__ import annotations

import io

from PIL import Image

from kcolors.engine.decode import decode_image
from kcolors.engine.formats import BROWSER_FORMATS

PREVIEW_SIDE = 2048  # as large as a job page or the compare viewer draws it
PREVIEW_QUALITY = 85


def needs_preview(format_name: str | None) -> bool:
    """Whether a browser cannot draw an input of this format as it is."""
    return format_name is not None and format_name not in BROWSER_FORMATS


def browser_preview(data: bytes, max_pixels: int) -> bytes:
    """The WebP preview of an input."""
    image = Image.fromarray(decode_image(data, max_pixels=max_pixels).pixels)
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=PREVIEW_QUALITY)
    return buffer.getvalue()
