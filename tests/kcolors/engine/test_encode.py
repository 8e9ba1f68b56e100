import numpy as np
import pytest

from kcolors.engine.encode import encode_indexed, encode_truecolor_png
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
