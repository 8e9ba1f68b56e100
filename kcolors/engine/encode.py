"""Encoding: indexed PNG at the smallest bit depth, lossless WebP, and the truecolour comparison."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
import oxipng
from PIL import Image, PngImagePlugin
from zlib_ng import zlib_ng

from kcolors.engine import kernels
from kcolors.engine.png import SIGNATURE, chunk, chunks

OUTPUT_FORMATS = {"png": ("image/png", "png"), "webp": ("image/webp", "webp")}
# zlib levels for palette PNGs by size class, measured on the benchmark's photos and mosaics
# (docs/ENGINE.md, "Encoding"): levels 7-9 save at most 1-2 % over 6 for 2-10 times its time
# (level 9: 0.1-0.3 s per output just under 1 MP, 0.9 s at 3 MP); below 0.5 MP level 6 costs at
# most ~10 ms; level 5 is 0.5-4 % smaller than 4 for a third more time.
_PNG_LEVELS = ((500_000, 6), (4_000_000, 5))  # (up to this many pixels, level)
# Above 4 MP Pillow only filters the rows (level 0, stored) and zlib-ng deflates them at this
# level: Pillow's zlib is the system's (1.2.13 on Debian), and on the 12-MP mosaic (k = 2-256)
# this gave 0.92-1.006 times the bytes of Pillow's level 4 (used before) in 0.6-0.9 times the
# time (k = 16: 118 ms against 166 ms). At 1-3 MP it was 1.5-3 % larger than Pillow's level 5
# for k <= 16, so Pillow's levels stay there.
_LARGEST_IMAGE_ZLIB_NG_LEVEL = 5
# Dithered palette PNGs are written by the engine itself with unfiltered rows (filter byte 0), as
# pngquant writes them: Pillow filters packed (1-4 bit) palette rows (sub, up, Paeth), which turns
# dither dots into more symbols. Measured on the benchmark's dithered photos (docs/ENGINE.md,
# "Encoding"): at the same level, unfiltered rows were 1-11 % smaller than Pillow's at k <= 16 and
# 0-1 % at 8 bits (which Pillow leaves unfiltered; zlib's default memory level, 8, beat its 9),
# and without Pillow's per-row trial of filters one level higher took about Pillow's time. Levels
# by size class and bit depth, the lowest that kept every benchmark photo under pngquant's bytes
# where any level did: below 0.5 MP, 8 for packed rows (0.3 MP at k = 2: level 7 even with
# pngquant, 8 1.5 % under, 6 ms) and 6 for 8-bit ones (8: 0-0.7 % smaller for 2-3 times the
# time); to 4 MP 6 (5 left 1 MP at k = 32 0.4 % over pngquant; 7-9 saved 0-2 % more for 1.2-9
# times the time); above, 5 for packed rows (4 left 12 MP at k = 8 1.1 % over) and 4 for 8-bit
# ones (0.90-0.998 of pngquant's bytes; 5 saved 0.4-2.5 % for 1.2-2 times the time).
_DITHERED_PNG_LEVELS = ((500_000, 8, 6), (4_000_000, 6, 6))  # (pixels, packed, 8-bit rows)
_LARGEST_DITHERED_IMAGE_LEVELS = (5, 4)  # (packed, 8-bit rows)
# Undithered packed rows, unfiltered, were 0.3-6.6 % smaller than Pillow's filtered ones on the 0.1
# and 0.3 MP photos but up to 9 % larger on some from 1 MP up (k = 2-16), so below this many
# pixels both are written (the second costs 1-8 ms) and the smaller kept; above, Pillow's.
_MOST_PIXELS_TRYING_BOTH = 500_000
_ZLIB_MEMORY_LEVEL = 8
# The truecolour comparison is one fixed, cheap encoding: unfiltered rows deflated by zlib-ng at
# level 2, a pass over three or four bytes per pixel for every output. On the benchmark's
# mosaics (k = 2-256) that is within -4 % to +10 % of zlib's level 1 in 0.4-0.7 times its time
# (12 MP at k = 16: 70 ms against 130 ms); zlib-ng's level 1 is faster still but 30 % larger.
# Pillow's default settings (filtered, level 6) give about half to twice its size, in several
# times the time.
_TRUECOLOR_LEVEL = 2
# oxipng for `optimize`, chosen by measurement (docs/ENGINE.md, "Optimized PNG"): unfiltered
# rows (oxipng's quick trial of row filters gained only at k = 2, and its full trial 3-6 % at
# k = 256, for 1.3-3 and 4-8 times the time), libdeflate at 11 (12 saves
# 0-0.7 % more for 1.3-1.7 times the time, zopfli 0.3-4.7 % for 4-13 times). No timeout: the
# output must not depend on the machine's load.
_OXIPNG_OPTIONS: dict[str, Any] = {
    "filter": [oxipng.RowFilter.NoOp],
    "deflate": oxipng.Deflaters.libdeflater(11),
}
# With 9-16 colours, packed 4-bit rows hide from deflate the repeats that one byte a pixel shows
# it: 8 bits were up to 4 % smaller on every benchmark photo (0.1-12 MP), never more than a byte
# larger. With 5-8 colours it went either way (-2.5 % to +2 %), and with 2-4 colours it was 2-17 %
# larger. oxipng tries the wider depth only in its full trial, at 3 times the time, so the engine
# hands it the 8-bit rows itself.
_MOST_COLORS_PACKED = 8
# Outputs are sRGB (the decoder converts inputs with an ICC profile), and PNG says so in a
# 13-byte sRGB chunk (rendering intent 0, perceptual) rather than a 0.4-3 KB sRGB ICC profile.
# WebP has no such marker, only an ICC profile, and "if [the ICCP] chunk is not present, sRGB
# SHOULD be assumed" (RFC 9649, 2.7.1.4): WebP outputs stay untagged.
_SRGB_PNG_CHUNK = PngImagePlugin.PngInfo()
_SRGB_PNG_CHUNK.add(b"sRGB", b"\x00")


def palette_image(indices: np.ndarray, palette: np.ndarray) -> Image.Image:
    """Build a Pillow "P" image from (h, w) uint8 indices and a (k, 3|4) uint8 palette."""
    height, width = indices.shape
    image = Image.frombuffer("P", (width, height), np.ascontiguousarray(indices), "raw", "P", 0, 1)
    raw_mode = "RGBA" if palette.shape[1] == 4 else "RGB"
    image.putpalette(np.ascontiguousarray(palette).tobytes(), raw_mode)
    return image


def png_compress_level(pixels: int, dithered: bool = False, bit_depth: int = 8) -> int:
    """The zlib level used for a palette PNG of this many pixels (and bits per pixel, if
    `dithered`); above the last size class of undithered ones, zlib-ng's."""
    if dithered:
        for most_pixels, packed, eight_bit in _DITHERED_PNG_LEVELS:
            if pixels <= most_pixels:
                return packed if bit_depth < 8 else eight_bit
        packed, eight_bit = _LARGEST_DITHERED_IMAGE_LEVELS
        return packed if bit_depth < 8 else eight_bit
    for most_pixels, level in _PNG_LEVELS:
        if pixels <= most_pixels:
            return level
    return _LARGEST_IMAGE_ZLIB_NG_LEVEL


def png_bit_depth(colors: int) -> int:
    """The smallest PNG palette bit depth holding this many colours: 1, 2, 4 or 8."""
    return next(bits for bits in (1, 2, 4, 8) if colors <= 1 << bits)


def encode_indexed(
    indices: np.ndarray, palette: np.ndarray, output_format: str = "png", *, dithered: bool = False
) -> bytes:
    """Encode a palette image: PNG with 1, 2, 4 or 8 bits per pixel, or lossless WebP.

    A `dithered` picture's PNG has unfiltered rows, at its own zlib levels; otherwise Pillow's
    PNG (filtered rows below 8 bits), or below `_MOST_PIXELS_TRYING_BOTH` pixels the smaller of
    it and the unfiltered one."""
    if output_format == "png":
        level = png_compress_level(indices.size, dithered, png_bit_depth(len(palette)))
        if dithered:
            return unfiltered_png(indices, palette, level)
        # Pillow picks the bit depth from the palette length, so a k-entry palette gives the
        # smallest depth that holds k colours; an RGBA palette is written as a tRNS chunk.
        largest = indices.size > _PNG_LEVELS[-1][0]
        buffer = io.BytesIO()
        palette_image(indices, palette).save(
            buffer, "PNG", compress_level=0 if largest else level, pnginfo=_SRGB_PNG_CHUNK
        )
        data = buffer.getvalue()
        if largest:
            return _redeflated(data, level)
        if indices.size <= _MOST_PIXELS_TRYING_BOTH and png_bit_depth(len(palette)) < 8:
            data = min(data, unfiltered_png(indices, palette, level), key=len)  # tie: Pillow's
        return data
    if output_format == "webp":
        image = palette_image(indices, palette)
        mode = "RGBA" if palette.shape[1] == 4 else "RGB"
        buffer = io.BytesIO()
        image.convert(mode).save(buffer, "WEBP", lossless=True, quality=100, method=4)
        return buffer.getvalue()
    raise ValueError(f"unknown output format {output_format!r}")


def unfiltered_png(indices: np.ndarray, palette: np.ndarray, level: int) -> bytes:
    """The palette PNG of (h, w) uint8 `indices` and a (k, 3|4) uint8 palette at the smallest bit
    depth, every row unfiltered (filter byte 0) and deflated by zlib at `level` in one IDAT, with
    the chunks Pillow writes: IHDR, sRGB, PLTE, tRNS (if any entry is not opaque), IDAT, IEND."""
    height, width = indices.shape
    bits = png_bit_depth(len(palette))
    image = palette_image(indices, palette)
    compressor = zlib.compressobj(level, zlib.DEFLATED, 15, _ZLIB_MEMORY_LEVEL)
    parts = []
    band = max(1, (1 << 20) // max(1, width))  # about a megapixel of rows at a time
    for top in range(0, height, band):
        rows_in_band = min(band, height - top)
        piece = image.crop((0, top, width, top + rows_in_band))
        packed = np.frombuffer(piece.tobytes("raw", "P" if bits == 8 else f"P;{bits}"), np.uint8)
        rows = np.zeros((rows_in_band, packed.size // rows_in_band + 1), dtype=np.uint8)
        rows[:, 1:] = packed.reshape(rows_in_band, -1)  # column 0: filter type 0, none
        parts.append(compressor.compress(rows.data))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, bits, 3, 0, 0, 0)  # colour type 3: palette
    written = [chunk(b"IHDR", header), chunk(b"sRGB", b"\x00")]  # perceptual, as _SRGB_PNG_CHUNK
    written.append(chunk(b"PLTE", np.ascontiguousarray(palette[:, :3]).tobytes()))
    if palette.shape[1] == 4:
        alpha = palette[:, 3]
        not_opaque = np.flatnonzero(alpha != 255)
        if not_opaque.size:  # tRNS up to the last entry that is not opaque
            written.append(chunk(b"tRNS", alpha[: not_opaque[-1] + 1].tobytes()))
    written += [chunk(b"IDAT", b"".join(parts)), chunk(b"IEND", b"")]
    return SIGNATURE + b"".join(written)


def _redeflated(png: bytes, level: int) -> bytes:
    """`png` with its image data (filtered rows, as they are) deflated again by zlib-ng at
    `level`, in one IDAT; every other chunk as it was."""
    inflater = zlib.decompressobj()
    deflater = zlib_ng.compressobj(level, zlib_ng.DEFLATED, 15, _ZLIB_MEMORY_LEVEL)
    before: list[bytes] = []
    parts: list[bytes] = []
    after: list[bytes] = []
    for kind, data in chunks(png):
        if kind == b"IDAT":
            parts.append(deflater.compress(inflater.decompress(data)))
        else:
            (after if parts else before).append(chunk(kind, bytes(data)))
    parts.append(deflater.flush())
    return b"".join([SIGNATURE, *before, chunk(b"IDAT", b"".join(parts)), *after])


def optimize_png(data: bytes, indices: np.ndarray, palette: np.ndarray) -> bytes:
    """Recompress `data`, the palette PNG of `indices` and `palette`, losslessly with oxipng;
    never larger than `data`."""
    if len(palette) > _MOST_COLORS_PACKED:
        return min(data, eight_bit_png(data, indices, palette), key=len)
    return oxipng.optimize_from_memory(data, **_OXIPNG_OPTIONS)


def eight_bit_png(data: bytes, indices: np.ndarray, palette: np.ndarray) -> bytes:
    """The palette PNG `data` with one byte a pixel, recompressed by oxipng."""
    height, width = indices.shape
    entries = [[*map(int, color), 255][:4] for color in palette]  # RGBA, opaque unless given
    raw = oxipng.RawImage(
        np.ascontiguousarray(indices).tobytes(),
        width,
        height,
        color_type=oxipng.ColorType.indexed(entries),
    )
    for kind, body in _ancillary_chunks(data):
        raw.add_png_chunk(kind, body)
    return raw.create_optimized_png(bit_depth_reduction=False, **_OXIPNG_OPTIONS)


def _ancillary_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """The ancillary chunks of a PNG (`sRGB`, ...) but `tRNS`, which the palette carries."""
    return [
        (kind, bytes(data)) for kind, data in chunks(png) if kind[:1].islower() and kind != b"tRNS"
    ]


def encode_truecolor_png(pixels: np.ndarray) -> bytes:
    """Encode (h, w, 3|4) uint8 pixels as a truecolour (RGB or RGBA, 8-bit) PNG."""
    height, width, channels = pixels.shape
    rows = np.zeros((height, width * channels + 1), dtype=np.uint8)  # filter byte 0: none
    rows[:, 1:] = pixels.reshape(height, -1)
    color_type = 6 if channels == 4 else 2
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"".join(
        [
            SIGNATURE,
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib_ng.compress(rows.data, _TRUECOLOR_LEVEL)),
            chunk(b"IEND", b""),
        ]
    )


def truecolor_png_size(indices: np.ndarray, palette: np.ndarray) -> int:
    """The byte size of `encode_truecolor_png(expand_palette(indices, palette))`, computed a band
    of rows at a time (the truecolour pixels of a 50-MP image never exist at once)."""
    height, width = indices.shape
    channels = palette.shape[1]
    compressor = zlib_ng.compressobj(_TRUECOLOR_LEVEL)
    size = 0
    band = max(1, (1 << 20) // max(1, width))  # about a megapixel per band
    rows = np.empty((min(band, height), width * channels + 1), dtype=np.uint8)
    for top in range(0, height, band):
        part = kernels.truecolor_rows(indices[top : top + band], palette, rows)
        size += len(compressor.compress(part.data))
    size += len(compressor.flush())
    # signature, IHDR (13 bytes of data), IDAT, IEND: each chunk adds 12 bytes to its data.
    return 8 + (12 + 13) + (12 + size) + 12


def expand_palette(indices: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Return the (h, w, 3|4) pixels of a palette image (Pillow's C loop, no index arrays)."""
    mode = "RGBA" if palette.shape[1] == 4 else "RGB"
    return np.asarray(palette_image(indices, palette).convert(mode))
