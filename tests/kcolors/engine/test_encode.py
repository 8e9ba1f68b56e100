import numpy as np
import pytest

from kcolors.engine.encode import (
    eight_bit_png,
    encode_indexed,
    encode_truecolor_png,
    optimize_png,
)
from tests.images import decode


def png_bit_depth(data: bytes) -> int:
    assert data[12:16] == b"IHDR"
    return data[24]


@pytest.mark.parametrize(
    ("k", "bits"), [(2, 1), (3, 2), (4, 2), (5, 4), (16, 4), (17, 8), (256, 8)]
)
def test_png_uses_the_smallest_bit_depth_holding_k_colors(k, bits):
    rng = np.random.default_rng(k)
    palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
    indices = (np.arange(40 * 30) % k).astype(np.uint8).reshape(30, 40)
    data = encode_indexed(indices, palette)
    assert png_bit_depth(data) == bits
    image = decode(data)
    assert image.mode == "P"
    assert np.array_equal(np.asarray(image.convert("RGB")), palette[indices])


def test_rgba_palette_is_written_with_transparency():
    palette = np.array([[0, 0, 0, 0], [255, 0, 0, 255], [0, 0, 255, 128]], dtype=np.uint8)
    indices = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    image = decode(encode_indexed(indices, palette))
    assert image.mode == "P"
    assert np.array_equal(np.asarray(image.convert("RGBA")), palette[indices])


@pytest.mark.parametrize("channels", [3, 4])
def test_webp_is_lossless(channels):
    rng = np.random.default_rng(0)
    palette = rng.integers(1, 256, (6, channels), dtype=np.uint8)
    indices = rng.integers(0, 6, (20, 24), dtype=np.uint8)
    image = decode(encode_indexed(indices, palette, "webp"))
    assert image.format == "WEBP"
    mode = "RGBA" if channels == 4 else "RGB"
    assert np.array_equal(np.asarray(image.convert(mode)), palette[indices])


@pytest.mark.parametrize(("channels", "mode"), [(3, "RGB"), (4, "RGBA")])
def test_truecolor_png_round_trips(channels, mode):
    pixels = np.random.default_rng(0).integers(0, 256, (10, 12, channels), dtype=np.uint8)
    image = decode(encode_truecolor_png(pixels))
    assert image.format == "PNG" and image.mode == mode
    assert np.array_equal(np.asarray(image), pixels)


def png_chunk_types(data: bytes) -> list[bytes]:
    """The types of a PNG's chunks, in order."""
    types, position = [], 8
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        types.append(data[position + 4 : position + 8])
        position += 12 + length
    return types


@pytest.mark.parametrize("channels", [3, 4])
def test_png_is_tagged_srgb_before_its_palette_and_webp_is_left_srgb_by_default(channels):
    palette = np.array([[10, 20, 30, 255], [200, 100, 0, 128]], dtype=np.uint8)[:, :channels]
    indices = np.array([[0, 1], [1, 0]], dtype=np.uint8)
    png = encode_indexed(indices, palette)
    types = png_chunk_types(png)
    assert types.index(b"sRGB") < types.index(b"PLTE") and b"iCCP" not in types
    assert decode(png).info["srgb"] == 0  # perceptual
    webp = encode_indexed(indices, palette, "webp")
    assert b"ICCP" not in webp and "icc_profile" not in decode(webp).info  # RFC 9649: sRGB


@pytest.mark.parametrize(("k", "channels"), [(2, 3), (4, 4), (9, 3), (16, 4), (17, 3), (200, 4)])
def test_optimized_png_has_the_same_pixels_and_chunks_in_no_more_bytes(k, channels):
    rng = np.random.default_rng(k)
    palette = rng.integers(0, 256, (k, channels), dtype=np.uint8)
    indices = (np.arange(90 * 70) // 7 % k).astype(np.uint8).reshape(70, 90)  # runs of 7
    mode = "RGBA" if channels == 4 else "RGB"
    png = encode_indexed(indices, palette)
    candidates = {"optimized": optimize_png(png, indices, palette)}
    if 4 < k <= 16:
        candidates["eight_bit"] = eight_bit_png(png, indices, palette)
        assert png_bit_depth(candidates["eight_bit"]) == 8
    for data in candidates.values():
        assert np.array_equal(np.asarray(decode(data).convert(mode)), palette[indices])
        assert png_chunk_types(data).count(b"sRGB") == 1 and decode(data).info["srgb"] == 0
    assert len(candidates["optimized"]) <= min(len(png), *map(len, candidates.values()))
