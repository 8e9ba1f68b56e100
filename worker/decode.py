"""Decoding with Pillow: allowlisted formats, pixel limit from the header, any mode to RGB(A)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from worker import defaults
from worker.exceptions import CorruptImage, EmptyImage, ImageTooLarge, UnsupportedFormat

# Pillow format names accepted (MPO is how Pillow names many camera JPEGs).
ALLOWED_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "GIF": "gif",
                   "BMP": "bmp", "TIFF": "tiff"}  # fmt: skip
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
# Leading bytes of the allowed formats: an unreadable file that starts so is damaged, not foreign.
_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError)


@dataclass(frozen=True)
class DecodedImage:
    """Pixels as (h, w, 3) RGB or (h, w, 4) RGBA uint8, with the input's format and size."""

    pixels: np.ndarray
    format: str
    byte_size: int

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def has_alpha(self) -> bool:
        """Whether some pixel is not fully opaque (fully opaque alpha channels are dropped)."""
        return self.pixels.shape[2] == 4


def decode_image(data: bytes, *, max_pixels: int = defaults.MAX_PIXELS) -> DecodedImage:
    """Decode an image, orient it by its EXIF tag and convert it to RGB or RGBA uint8."""
    if not data:
        raise EmptyImage("the image is empty (0 bytes)")
    image = _open(data)
    input_format = ALLOWED_FORMATS[image.format]
    width, height = image.size
    if width == 0 or height == 0:
        raise EmptyImage(f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image has {width}x{height} = {width * height:,} pixels, "
            f"more than the limit of {max_pixels:,}"
        )
    try:
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        pixels = _to_rgb_or_rgba(image)
    except _DECODE_ERRORS as exc:
        raise CorruptImage(f"the image could not be decoded: {exc}") from exc
    return DecodedImage(pixels=pixels, format=input_format, byte_size=len(data))


def _open(data: bytes) -> Image.Image:
    """Open (header only) and check the format against the allowlist."""
    try:
        with warnings.catch_warnings():
            # The pixel limit is ours (checked next); Pillow's own bomb check is a second net.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"the image is far too large: {exc}") from exc
    except UnidentifiedImageError as exc:
        if data.startswith(_SIGNATURES):
            raise CorruptImage("the image is damaged: its header could not be read") from exc
        raise UnsupportedFormat(
            "not a recognised image; supported formats: PNG, JPEG, WebP, GIF, BMP, TIFF"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise CorruptImage(f"the image header could not be read: {exc}") from exc
    if image.format not in ALLOWED_FORMATS:
        raise UnsupportedFormat(
            f"{image.format} images are not supported; use PNG, JPEG, WebP, GIF, BMP or TIFF"
        )
    return image


def _to_rgb_or_rgba(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to RGB, or RGBA when some pixel is not fully opaque."""
    mode = image.mode
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        gray = _high_depth_gray_to_8bit(np.asarray(image))
        return np.repeat(gray[:, :, None], 3, axis=2)
    with_alpha = mode in _ALPHA_MODES or "transparency" in image.info
    if not with_alpha:
        return np.asarray(image.convert("RGB") if mode != "RGB" else image)
    pixels = np.array(image.convert("RGBA"))
    alpha = pixels[:, :, 3]
    if alpha.min() == 255:
        return np.ascontiguousarray(pixels[:, :, :3])
    # The colour of an invisible pixel is meaningless: make all of them one colour.
    pixels[alpha == 0] = 0
    return pixels


def _high_depth_gray_to_8bit(values: np.ndarray) -> np.ndarray:
    """Scale 16-bit (or float) grey levels to 0..255."""
    if values.dtype.kind == "f":
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    # Pillow opens 16-bit greyscale as "I;16" (uint16) or as 32-bit "I" holding 0..65535.
    if values.dtype == np.uint16 or values.max(initial=0) > 255:
        return (np.clip(values.astype(np.int64), 0, 65535) >> 8).astype(np.uint8)
    return np.clip(values, 0, 255).astype(np.uint8)
