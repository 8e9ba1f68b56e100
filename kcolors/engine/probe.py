"""Check an image from its header, before anything is stored or enqueued (API, form, batches)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from kcolors.engine.decode import open_image
from kcolors.engine.formats import InputFormat
from kcolors.errors import CorruptImage

_VERIFY_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError)


@dataclass(frozen=True)
class ProbedImage:
    """What the header says: the accepted format and the picture's size."""

    format: InputFormat
    width: int
    height: int
    byte_size: int


def probe_image(data: bytes, max_pixels: int) -> ProbedImage:
    """Check an image's header the way the decoder will, without decoding its pixels."""
    image, found = open_image(data, max_pixels)
    try:
        # Checks structure and checksums without decoding pixels (cheap); anything it misses,
        # the worker finds when decoding and the job fails with a code.
        Image.open(io.BytesIO(data)).verify()
    except _VERIFY_ERRORS as exc:
        raise CorruptImage(f"the image cannot be read: {exc}") from None
    return ProbedImage(found, image.width, image.height, len(data))
