import functools
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from kcolors.engine.decode import decode_image
from kcolors.errors import CorruptImage, EmptyImage, ImageTooLarge, UnsupportedFormat
from tests.images import (
    SRGB_PRIMARIES,
    encode,
    icc_profile,
    noisy_photo,
    p3_to_srgb,
    png_from_chunks,
    three_colors,
)


@pytest.mark.parametrize(
    ("fmt", "name", "params"),
    [
        ("PNG", "png", {}),
        ("BMP", "bmp", {}),
        ("TIFF", "tiff", {}),
        ("WEBP", "webp", {"lossless": True}),
        ("GIF", "gif", {}),
    ],
)
def test_lossless_formats_decode_to_the_same_pixels(fmt, name, params):
    pixels = three_colors()
    decoded = decode_image(encode(pixels, fmt, **params))
    assert decoded.format == name
    assert np.array_equal(decoded.pixels, pixels)
    assert not decoded.has_alpha


def test_jpeg_decodes_close_to_the_original():
    pixels = noisy_photo()
    decoded = decode_image(encode(pixels, "JPEG", quality=95, subsampling=0))
    assert decoded.format == "jpeg"
    assert decoded.pixels.shape == pixels.shape
    assert np.abs(decoded.pixels.astype(int) - pixels).mean() < 10


def test_gif_first_frame_is_used():
    first = Image.new("RGB", (8, 6), (255, 0, 0))
    second = Image.new("RGB", (8, 6), (0, 0, 255))
    data = encode(first, "GIF", save_all=True, append_images=[second])
    decoded = decode_image(data)
    assert np.all(decoded.pixels == (255, 0, 0))


def test_exif_orientation_is_applied():
    pixels = np.zeros((10, 20, 3), dtype=np.uint8)
    pixels[:, :10] = (255, 255, 255)  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    decoded = decode_image(encode(pixels, "PNG", exif=exif))
    assert decoded.pixels.shape == (20, 10, 3)
    assert np.all(decoded.pixels[:10] == 255) and np.all(decoded.pixels[10:] == 0)


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK", "YCbCr", "I", "F"])
def test_modes_without_alpha_become_rgb(mode):
    source = Image.fromarray(three_colors()).convert(mode)
    fmt = "TIFF" if mode in ("CMYK", "YCbCr", "I", "F") else "PNG"
    if mode == "YCbCr":
        fmt = "JPEG"
    decoded = decode_image(encode(source, fmt))
    assert decoded.pixels.shape == (24, 30, 3)
    assert decoded.pixels.dtype == np.uint8
    if mode in ("L", "1", "I", "F"):  # grey: the three channels are equal
        assert np.array_equal(decoded.pixels[..., 0], decoded.pixels[..., 2])


def test_16_bit_grey_is_scaled_to_8_bit():
    values = np.array([[0, 256, 32768, 65535]], dtype=np.uint16)
    decoded = decode_image(encode(Image.fromarray(values), "PNG"))
    assert decoded.pixels[0, :, 0].tolist() == [0, 1, 128, 255]


def test_rgba_keeps_alpha_and_blanks_invisible_colors():
    pixels = np.zeros((4, 4, 4), dtype=np.uint8)
    pixels[..., :3] = (50, 100, 150)
    pixels[..., 3] = 255
    pixels[0, 0] = (9, 9, 9, 0)
    pixels[1, 1, 3] = 128
    decoded = decode_image(encode(pixels, "PNG"))
    assert decoded.has_alpha
    assert decoded.pixels[0, 0].tolist() == [0, 0, 0, 0]
    assert decoded.pixels[1, 1].tolist() == [50, 100, 150, 128]


def test_grey_with_alpha_becomes_rgba():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0
    image = Image.fromarray(rgba).convert("LA")
    decoded = decode_image(encode(image, "PNG"))
    assert decoded.has_alpha and decoded.pixels[0, 0, 3] == 0


def test_palette_transparency_becomes_alpha():
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.putpixel((0, 0), 0)
    decoded = decode_image(encode(image, "PNG", transparency=0))
    assert decoded.has_alpha
    assert decoded.pixels[0, 0, 3] == 0 and decoded.pixels[1, 1].tolist() == [255, 0, 0, 255]


def test_fully_opaque_alpha_is_dropped():
    pixels = np.dstack([three_colors(), np.full((24, 30), 255, np.uint8)])
    decoded = decode_image(encode(pixels, "PNG"))
    assert not decoded.has_alpha and decoded.pixels.shape == (24, 30, 3)


def test_empty_bytes():
    with pytest.raises(EmptyImage) as caught:
        decode_image(b"")
    assert caught.value.code == "empty_image"


def test_not_an_image():
    with pytest.raises(UnsupportedFormat) as caught:
        decode_image(b"hello, this is text")
    assert caught.value.code == "unsupported_format"


@pytest.mark.parametrize("fmt", ["PPM", "ICO", "TGA"])
def test_formats_outside_the_allowlist(fmt):
    with pytest.raises(UnsupportedFormat, match=fmt):
        decode_image(encode(three_colors(), fmt))


def test_truncated_image_is_corrupt():
    data = encode(noisy_photo(), "PNG")
    with pytest.raises(CorruptImage) as caught:
        decode_image(data[: len(data) // 2])
    assert caught.value.code == "corrupt_image"


def test_pixel_limit_is_checked_from_the_header():
    data = encode(three_colors(), "PNG")
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(data, max_pixels=24 * 30 - 1)
    assert caught.value.code == "image_too_large"
    assert decode_image(data, max_pixels=24 * 30).width == 30


def test_huge_header_is_refused_before_decoding():
    # A 1x1 PNG whose header claims 60000 x 60000 pixels: decoding would need 10 GB.
    data = bytearray(encode(np.zeros((1, 1, 3), np.uint8), "PNG"))
    ihdr = struct.pack(">II", 60000, 60000) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    with pytest.raises(ImageTooLarge):
        decode_image(bytes(data))


def test_zero_sized_tiff_header_or_garbage_after_signature():
    with pytest.raises((CorruptImage, UnsupportedFormat)):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def test_decoded_image_records_input_size():
    data = encode(three_colors(), "PNG")
    decoded = decode_image(data)
    assert decoded.byte_size == len(data)
    assert (decoded.width, decoded.height) == (30, 24)
    assert Image.open(io.BytesIO(data)).size == (30, 24)


# Colours of a Display P3 picture, and the same colours in sRGB (computed in tests/images.py
# from the primaries, not by LittleCMS); saturated ones differ by up to 20 levels a channel.
P3_COLORS = [(200, 80, 60), (60, 170, 90), (70, 90, 200), (10, 20, 30), (240, 230, 120)]


def p3_patches(height: int = 8) -> np.ndarray:
    """Flat patches of P3_COLORS side by side, 8 pixels wide each."""
    return np.repeat(np.array(P3_COLORS, dtype=np.uint8)[None, :, :], 8, axis=1).repeat(
        height, axis=0
    )


def expected_srgb() -> np.ndarray:
    return np.array([p3_to_srgb(color) for color in P3_COLORS])


@pytest.mark.parametrize(
    ("fmt", "params", "tolerance"),
    [
        ("PNG", {}, 1),
        ("TIFF", {}, 1),
        ("WEBP", {"lossless": True}, 1),
        ("JPEG", {"quality": 100, "subsampling": 0}, 3),
        ("HEIF", {"quality": 100}, 3),
        ("AVIF", {"quality": 100}, 3),
    ],
)
def test_a_display_p3_picture_is_converted_to_srgb(fmt, params, tolerance):
    data = encode(p3_patches(), fmt, icc_profile=icc_profile(), **params)
    decoded = decode_image(data)
    centres = decoded.pixels[4, 4::8].astype(int)  # the middle of each patch
    assert np.abs(centres - expected_srgb()).max() <= tolerance
    # Not the raw numbers: the conversion moved the saturated colours by much more.
    assert np.abs(centres - np.array(P3_COLORS)).max() >= 15


def test_an_srgb_profile_leaves_the_pixels_as_they_are():
    pixels = noisy_photo()
    lcms_srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for profile in (lcms_srgb, icc_profile(SRGB_PRIMARIES, "sRGB, as a matrix profile")):
        decoded = decode_image(encode(pixels, "PNG", icc_profile=profile))
        assert np.array_equal(decoded.pixels, pixels)


def test_alpha_and_palette_pictures_are_converted_too():
    rgba = np.dstack([p3_patches(), np.full((8, 40), 255, np.uint8)])
    rgba[:, :8, 3] = 128
    decoded = decode_image(encode(rgba, "PNG", icc_profile=icc_profile()))
    assert decoded.has_alpha and decoded.pixels[0, 0, 3] == 128 and decoded.pixels[0, 9, 3] == 255
    assert np.abs(decoded.pixels[4, 4::8, :3].astype(int) - expected_srgb()).max() <= 1
    palette = Image.fromarray(p3_patches()).quantize(len(P3_COLORS))
    decoded = decode_image(encode(palette, "PNG", icc_profile=icc_profile()))
    assert np.abs(decoded.pixels[4, 4::8].astype(int) - expected_srgb()).max() <= 1


@pytest.mark.parametrize(
    "profile",
    [
        b"not an ICC profile at all",
        icc_profile()[:200],  # a header, then nothing
        icc_profile()[:1500],  # cut inside the tone curves
        ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),  # not RGB
    ],
    ids=["garbage", "header-only", "truncated", "lab-space"],
)
def test_an_unusable_profile_is_ignored_and_the_pixels_taken_as_srgb(profile):
    pixels = p3_patches()
    decoded = decode_image(encode(pixels, "PNG", icc_profile=profile))
    assert np.array_equal(decoded.pixels, pixels)


def test_a_grey_picture_with_an_rgb_profile_keeps_its_greys():
    grey = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (4, 1))
    decoded = decode_image(encode(Image.fromarray(grey), "PNG", icc_profile=icc_profile()))
    assert np.array_equal(decoded.pixels[..., 0], grey)


# Plain 8-bit RGB(A) PNGs go to libspng; every other PNG, and any PNG that could carry an
# orientation, to Pillow. Both must give the same pixels.
@functools.cache
def _png_cases() -> dict[str, tuple[bytes, bool]]:
    photo = noisy_photo()
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:3, :5, 3] = 0
    rgba[5:9, 2:4, 3] = 90
    exif = Image.Exif()
    exif[0x0112] = 3
    deep = Image.fromarray(photo[..., 0].astype(np.uint16) * 257).convert("I;16")
    return {
        "rgb": (encode(photo, "PNG"), True),
        "rgba": (encode(rgba, "PNG"), True),
        "opaque rgba": (
            encode(np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]), "PNG"),
            True,
        ),
        "interlaced rgb": (_interlaced_png(photo), True),
        "p3-tagged rgb": (encode(photo, "PNG", icc_profile=icc_profile()), True),
        "exif-oriented rgb": (encode(photo, "PNG", exif=exif), False),
        "rgb with a transparent colour": (encode(photo, "PNG", transparency=(1, 2, 3)), False),
        "palette": (encode(Image.fromarray(photo).convert("P"), "PNG"), False),
        "16-bit grey": (encode(deep, "PNG"), False),
    }


def _interlaced_png(pixels: np.ndarray) -> bytes:
    """An Adam7-interlaced RGB PNG (Pillow writes none), its passes cut out by hand."""
    height, width, _ = pixels.shape
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]  # fmt: skip
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    return png_from_chunks(struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1), raw)


def _pillow_pixels(data: bytes) -> np.ndarray:
    from PIL import ImageOps

    from kcolors.engine.decode import _to_rgb_or_rgba, _to_srgb

    image = Image.open(io.BytesIO(data))
    image.load()
    ImageOps.exif_transpose(image, in_place=True)
    return _to_rgb_or_rgba(_to_srgb(image))


@pytest.mark.parametrize("case", list(_png_cases()))
def test_pngs_decode_the_same_by_libspng_and_by_pillow(case):
    from kcolors.engine.decode import decode_plain_png

    data, plain = _png_cases()[case]
    taken = decode_plain_png(data, Image.open(io.BytesIO(data)))
    assert (taken is not None) == plain
    expected = _pillow_pixels(data)
    assert np.array_equal(decode_image(data).pixels, expected)
    if plain:
        assert np.array_equal(taken, expected)


def test_a_png_that_libspng_refuses_is_left_to_pillow():
    from kcolors.engine.decode import decode_plain_png

    data = bytearray(encode(noisy_photo(), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 8 : idat + 40] = bytes(32)  # the compressed pixels, broken
    data = bytes(data)
    assert decode_plain_png(data, Image.open(io.BytesIO(data))) is None
    with pytest.raises(CorruptImage):
        decode_image(data)


def test_pngs_with_text_chunks_that_may_orient_them_are_left_to_pillow():
    from PIL import PngImagePlugin

    from kcolors.engine.decode import decode_plain_png

    for keyword in ("Raw profile type exif", "XML:com.adobe.xmp"):
        info = PngImagePlugin.PngInfo()
        info.add_text(keyword, "anything", zip=keyword.startswith("Raw"))
        data = encode(noisy_photo(), "PNG", pnginfo=info)
        assert decode_plain_png(data, Image.open(io.BytesIO(data))) is None
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "made by a test")
    data = encode(noisy_photo(), "PNG", pnginfo=info)
    assert decode_plain_png(data, Image.open(io.BytesIO(data))) is not None
