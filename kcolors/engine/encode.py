"""Encoding: indexed PNG at the smallest bit depth, lossless WebP, and the truecolour comparison."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

OUTPUT_FORMATS = {"png": ("image/png", "png"), "webp": ("image/webp", "webp")}
# zlib levels for palette PNGs, measured on the benchmark photos: level 9 is 3-6 % smaller than
# level 5 and costs under 0.1 s up to a megapixel; on a 12-MP image it costs ~3 s for 4 %.
_SMALL_IMAGE_PIXELS = 1_000_000
_SMALL_IMAGE_LEVEL = 9
_LARGE_IMAGE_LEVEL = 5
# The truecolour comparison is one fixed, cheap encoding: unfiltered rows at zlib level 3. On the
# benchmark's k-colour pictures Pillow's default settings (filtered, level 6) give from 0.6x
# (k = 2) to 2x (k = 64) its size, in 3-4 times the time.
_TRUECOLOR_LEVEL = 3


def palette_image(indices: np.ndarray, palette: np.ndarray) -> Image.Image:
    """Build a Pillow "P" image from (h, w) uint8 indices and a (k, 3|4) uint8 palette."""
    height, width = indices.shape
    image = Image.frombuffer("P", (width, height), np.ascontiguousarray(indices), "raw", "P", 0, 1)
    raw_mode = "RGBA" if palette.shape[1] == 4 else "RGB"
    image.putpalette(np.ascontiguousarray(palette).tobytes(), raw_mode)
    return image


def png_compress_level(pixels: int) -> int:
    """The zlib level used for a palette PNG of this many pixels."""
    return _SMALL_IMAGE_LEVEL if pixels <= _SMALL_IMAGE_PIXELS else _LARGE_IMAGE_LEVEL


def encode_indexed(indices: np.ndarray, palette: np.ndarray, output_format: str = "png") -> bytes:
    """Encode a palette image: PNG with 1, 2, 4 or 8 bits per pixel, or lossless WebP."""
    image = palette_image(indices, palette)
    buffer = io.BytesIO()
    if output_format == "png":
        # Pillow picks the bit depth from the palette length, so a k-entry palette gives the
        # smallest depth that holds k colours; an RGBA palette is written as a tRNS chunk.
        image.save(buffer, "PNG", compress_level=png_compress_level(indices.size))
    elif output_format == "webp":
        mode = "RGBA" if palette.shape[1] == 4 else "RGB"
        image.convert(mode).save(buffer, "WEBP", lossless=True, quality=100, method=4)
    else:
        raise ValueError(f"unknown output format {output_format!r}")
    return buffer.getvalue()


def encode_truecolor_png(pixels: np.ndarray) -> bytes:
    """Encode (h, w, 3|4) uint8 pixels as a truecolour (RGB or RGBA, 8-bit) PNG."""
    height, width, channels = pixels.shape
    rows = np.zeros((height, width * channels + 1), dtype=np.uint8)  # filter byte 0: none
    rows[:, 1:] = pixels.reshape(height, -1)
    color_type = 6 if channels == 4 else 2
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.data, _TRUECOLOR_LEVEL)),
            _chunk(b"IEND", b""),
        ]
    )


def expand_palette(indices: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Return the (h, w, 3|4) pixels of a palette image (Pillow's C loop, no index arrays)."""
    mode = "RGBA" if palette.shape[1] == 4 else "RGB"
    return np.asarray(palette_image(indices, palette).convert(mode))


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
