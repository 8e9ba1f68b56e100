"""Check an image from its header, before anything is stored or enqueued (API, form, batches)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from kcolors import defaults
from kcolors.engine.decode import open_image
from kcolors.engine.formats import InputFormat
from kcolors.errors import CorruptImage, ImageTooLarge

_VERIFY_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError)


@dataclass(frozen=True)
class ProbedImage:
    """What the header says: the accepted format and the picture's size."""

    format: InputFormat
    width: int
    height: int
    byte_size: int


def probe_image(
    data: bytes, max_pixels: int, max_pixels_per_byte: int = defaults.MAX_PIXELS_PER_BYTE
) -> ProbedImage:
    """Check an image's header the way the decoder will, without decoding its pixels; refuse
    a file far too small for the picture it declares (a decompression bomb)."""
    image, found = open_image(data, max_pixels)
    pixels = image.width * image.height
    if pixels > max_pixels_per_byte * len(data):
        raise ImageTooLarge(
            f"the image declares {image.width}x{image.height} = {pixels:,} pixels in "
            f"{len(data):,} bytes, more than the limit of {max_pixels_per_byte:,} pixels per byte"
        )
    try:
        # Checks structure and checksums without decoding pixels (cheap); anything it misses,
        # the worker finds when decoding and the job fails with a code.
        Image.open(io.BytesIO(data)).verify()
    except _VERIFY_ERRORS as exc:
        raise CorruptImage(f"the image cannot be read: {exc}") from None
    return ProbedImage(found, image.width, image.height, len(data))
