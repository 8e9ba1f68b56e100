"""Check an image from its header, before anything is stored or enqueued (API, form, batches)."""

from __future__ import annotations

import io
import warnings
from typing import Any

from PIL import Image, UnidentifiedImageError

from worker.exceptions import CorruptImage, EmptyImage, ImageTooLarge, UnsupportedFormat
from worker.reuse import image_digest

# Pillow format name -> file extension of the stored input.
INPUT_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}


def probe_image(data: bytes, max_pixels: int) -> dict[str, Any]:
    """Check an image's header without decoding it; return its format, size and extension."""
    if not data:
        raise EmptyImage("the image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            # Checks structure and checksums without decoding pixels (cheap); anything it
            # misses, the worker finds when decoding and the job fails with a code.
            Image.open(io.BytesIO(data)).verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"the image declares too many pixels: {exc}") from None
    except UnidentifiedImageError:
        raise UnsupportedFormat("not an image in a supported format") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise CorruptImage(f"the image cannot be read: {exc}") from None
    if image.format not in INPUT_EXTENSIONS:
        raise UnsupportedFormat(f"{image.format} images are not supported")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} is more than {max_pixels} pixels")
    if width == 0 or height == 0:
        raise EmptyImage("the image has no pixels")
    return {
        "format": image.format.lower(),
        "width": width,
        "height": height,
        "bytes": len(data),
        "sha256": image_digest(data),
        "extension": INPUT_EXTENSIONS[image.format],
    }
