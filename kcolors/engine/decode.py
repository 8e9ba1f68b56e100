"""Decoding with Pillow: allowlisted formats, pixel limit from the header, any mode to RGB(A),
embedded ICC profiles to sRGB. Plain 8-bit RGB(A) PNGs, the most common input, are decoded by
libspng (pyspng) instead: Pillow unfilters PNG rows a byte at a time, libspng with SIMD."""

from __future__ import annotations

import functools
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from kcolors import defaults
from kcolors.engine import jpeg
from kcolors.engine.formats import (
    FORMAT_NAMES,
    InputFormat,
    has_accepted_signature,
    input_format,
    may_be_heic,
)
from kcolors.engine.png import chunks
from kcolors.errors import CorruptImage, EmptyImage, ImageTooLarge, UnsupportedFormat

if TYPE_CHECKING:
    from PIL.ImageCms import ImageCmsTransform

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
# libavif and libheif (AVIF, HEIC) raise RuntimeError for damaged files, and for sizes beyond
# libheif's own limit (far above ours).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, RuntimeError)
# What can orient a PNG, anywhere in the file (Pillow reads it, after the pixels if it comes
# last): an eXIf chunk, or a text chunk with EXIF (ImageMagick's) or XMP. Such a PNG is left to
# Pillow.
_PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_PNG_ORIENTING_KEYWORDS = (b"Raw profile type exif", b"XML:com.adobe.xmp")
_PNG_RGB, _PNG_RGBA = 2, 6  # IHDR colour types
# Colours on which a profile is compared with sRGB: 18 levels a channel (0, 15, ..., 255).
_TEST_COLORS = np.stack(
    np.meshgrid(*[np.arange(0, 256, 15, dtype=np.uint8)] * 3, indexing="ij"), axis=-1
).reshape(1, -1, 3)


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
    """Decode an image, orient it by its EXIF tag, convert its colours to sRGB by its ICC
    profile, and convert it to RGB or RGBA uint8."""
    image, input_format = open_image(data, max_pixels)
    try:
        pixels = decode_plain_png(data, image)
        if pixels is None:
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            pixels = _to_rgb_or_rgba(_to_srgb(image))
    except _DECODE_ERRORS as exc:
        raise CorruptImage(f"the image could not be decoded: {exc}") from exc
    return DecodedImage(pixels=pixels, format=input_format.name, byte_size=len(data))


def open_image(data: bytes, max_pixels: int) -> tuple[Image.Image, InputFormat]:
    """Open an image's header (no pixels decoded); check its format, size and pixel count."""
    if not data:
        raise EmptyImage("the image is empty (0 bytes)")
    if may_be_heic(data):
        _register_heic_plugin()
    if jpeg.is_jpeg(data):
        jpeg.check_structure(data)  # before Pillow spends seconds on a crafted one
    try:
        with warnings.catch_warnings():
            # The pixel limit is ours (checked next); Pillow's own bomb check is a second net.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageTooLarge(
            f"the image declares more pixels than the limit of {max_pixels:,}"
        ) from None
    except UnidentifiedImageError:
        if has_accepted_signature(data):
            raise CorruptImage("the image is damaged: its header could not be read") from None
        raise UnsupportedFormat(
            f"not a recognised image; supported formats: {FORMAT_NAMES}"
        ) from None
    except _DECODE_ERRORS as exc:
        raise CorruptImage(f"the image header could not be read: {exc}") from None
    found = input_format(image.format)
    if found is None:
        raise UnsupportedFormat(
            f"{image.format} images are not supported; supported formats: {FORMAT_NAMES}"
        )
    width, height = image.size
    if width == 0 or height == 0:
        raise EmptyImage(f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image has {width}x{height} = {width * height:,} pixels, "
            f"more than the limit of {max_pixels:,}"
        )
    return image, found


def decode_plain_png(data: bytes, image: Image.Image) -> np.ndarray | None:
    """The pixels of a plain PNG (8-bit RGB or RGBA, no transparent colour, nothing that could
    orient it) decoded by libspng, as `decode_image` would give them; None for any other image,
    or if libspng fails (Pillow then decodes it, or says what is wrong with it)."""
    # IHDR is always the first chunk: bit depth at byte 24, colour type at 25.
    if image.format != "PNG" or len(data) < 26 or data[24] != 8:
        return None
    if data[25] not in (_PNG_RGB, _PNG_RGBA) or "transparency" in image.info:
        return None
    if _may_be_oriented(data):
        return None
    import pyspng  # 1 ms, paid by the first PNG

    try:
        pixels = pyspng.load(data)
    except RuntimeError:
        return None
    channels = 4 if data[25] == _PNG_RGBA else 3
    if pixels.dtype != np.uint8 or pixels.shape != (image.height, image.width, channels):
        return None
    profile = image.info.get("icc_profile")
    if profile:
        tagged = Image.fromarray(pixels)
        tagged.info["icc_profile"] = profile
        pixels = np.array(_to_srgb(tagged))
    return _drop_opaque_alpha(pixels) if channels == 4 else pixels


def _may_be_oriented(png: bytes) -> bool:
    """Whether a PNG has a chunk that may orient it (walking the chunks' headers only; a
    damaged chunk list counts as yes, and Pillow then decides)."""
    for kind, data in chunks(png):
        if kind == b"eXIf":
            return True
        keyword = bytes(data[:80]).split(b"\0", 1)[0]
        if kind in _PNG_TEXT_CHUNKS and keyword in _PNG_ORIENTING_KEYWORDS:
            return True
        if kind == b"IEND":
            return False
    return True


@functools.cache
def _register_heic_plugin() -> None:
    """Let Pillow open HEIC files (imported on the first one: 25 ms that other inputs skip)."""
    import pillow_heif

    # Only the primary picture is used: no handles on thumbnails, depth maps or aux pictures.
    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert an image with an embedded RGB ICC profile (Display P3, Adobe RGB, ...) to sRGB.

    Images without a profile, or with one that is sRGB already, are returned as they are. A
    profile that cannot be read or used, or that is not an RGB one (grey, CMYK), is ignored and
    the pixels are taken as sRGB, as browsers do."""
    profile = image.info.get("icc_profile")
    if not profile or image.mode not in ("RGB", "RGBA", "P"):
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    transform = _srgb_transform(bytes(profile), image.mode)
    if transform is not None:
        transform.apply_in_place(image)
    return image


@functools.lru_cache(maxsize=16)
def _srgb_transform(profile: bytes, mode: str) -> ImageCmsTransform | None:
    """The transform from this profile to sRGB; None when the profile is unusable or is sRGB
    already (every test colour lands within 1 of itself), so that sRGB inputs pay nothing.
    Cached: the photos of one camera or phone carry the same profile."""
    from PIL import ImageCms  # 3 ms, paid only by images that carry a profile

    srgb = ImageCms.createProfile("sRGB")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if source.profile.xcolor_space.strip() != "RGB":
            return None
        to_srgb = ImageCms.buildTransform(source, srgb, "RGB", "RGB")
        test = np.asarray(to_srgb.apply(Image.fromarray(_TEST_COLORS)))
        if np.abs(test.astype(np.int16) - _TEST_COLORS).max() <= 1:
            return None
        return to_srgb if mode == "RGB" else ImageCms.buildTransform(source, srgb, mode, mode)
    except (OSError, ValueError, ImageCms.PyCMSError):  # unreadable; no transform possible
        return None


def _to_rgb_or_rgba(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to RGB, or RGBA when some pixel is not fully opaque."""
    mode = image.mode
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        gray = _high_depth_gray_to_8bit(np.asarray(image))
        return np.repeat(gray[:, :, None], 3, axis=2)
    with_alpha = mode in _ALPHA_MODES or "transparency" in image.info
    if not with_alpha:
        return np.asarray(image.convert("RGB") if mode != "RGB" else image)
    return _drop_opaque_alpha(np.array(image.convert("RGBA")))


def _drop_opaque_alpha(pixels: np.ndarray) -> np.ndarray:
    """RGB when every pixel of (h, w, 4) `pixels` (changed in place) is fully opaque; else RGBA
    with every invisible pixel made one colour (its colour is meaningless)."""
    alpha = pixels[:, :, 3]
    if alpha.min() == 255:
        return np.ascontiguousarray(pixels[:, :, :3])
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
