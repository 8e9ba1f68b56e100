import io
import zlib

import numpy as np
import pytest
from PIL import PngImagePlugin

from kcolors.engine.encode import (
    eight_bit_png,
    encode_indexed,
    encode_truecolor_png,
    optimize_png,
    palette_image,
    png_compress_level,
    unfiltered_png,
)
from kcolors.engine.params import QuantizeParams
from kcolors.engine.quantize import quantize_image
from tests.images import chelsea_png, decode, png_chunks


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
    return [kind for kind, _ in png_chunks(data)]


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


def png_row_filters(data: bytes, bits: int) -> set[int]:
    """The filter types of a non-interlaced palette PNG's rows."""
    idat = b"".join(body for kind, body in png_chunks(data) if kind == b"IDAT")
    width = int.from_bytes(data[16:20], "big")
    rows = np.frombuffer(zlib.decompress(idat), np.uint8)
    return set(rows.reshape(-1, (width * bits + 7) // 8 + 1)[:, 0].tolist())


@pytest.mark.parametrize(
    ("k", "channels", "width", "bits"),
    [(2, 3, 13, 1), (3, 4, 7, 2), (4, 3, 10, 2), (9, 3, 5, 4), (16, 4, 31, 4), (17, 3, 9, 8),
     (256, 4, 33, 8)],
)  # fmt: skip
def test_unfiltered_png_decodes_to_the_same_pixels(k, channels, width, bits):
    rng = np.random.default_rng(k)
    palette = rng.integers(0, 256, (k, channels), dtype=np.uint8)
    indices = rng.integers(0, k, (11, width), dtype=np.uint8)
    indices.flat[:k] = np.arange(k)  # every entry used
    data = unfiltered_png(indices, palette, 6)
    assert png_bit_depth(data) == bits and png_row_filters(data, bits) == {0}
    types = png_chunk_types(data)
    assert types[:3] == [b"IHDR", b"sRGB", b"PLTE"] and types[-2:] == [b"IDAT", b"IEND"]
    image = decode(data)
    assert image.mode == "P" and image.info["srgb"] == 0
    mode = "RGBA" if channels == 4 else "RGB"
    assert np.array_equal(np.asarray(image), indices)
    assert np.array_equal(np.asarray(image.convert(mode)), palette[indices])


def test_unfiltered_png_writes_transparency_only_up_to_the_last_see_through_entry():
    palette = np.array([[1, 2, 3, 255], [4, 5, 6, 0], [7, 8, 9, 255]], dtype=np.uint8)
    indices = np.array([[0, 1, 2, 1]], dtype=np.uint8)
    data = unfiltered_png(indices, palette, 6)
    assert png_chunk_types(data) == [b"IHDR", b"sRGB", b"PLTE", b"tRNS", b"IDAT", b"IEND"]
    assert data[data.index(b"tRNS") - 4 : data.index(b"tRNS") + 6] == b"\0\0\0\x02tRNS\xff\0"
    assert np.array_equal(np.asarray(decode(data).convert("RGBA")), palette[indices])
    opaque = palette.copy()
    opaque[1, 3] = 255
    assert b"tRNS" not in png_chunk_types(unfiltered_png(indices, opaque, 6))


def test_unfiltered_png_deflates_bands_of_rows_into_one_stream():
    width = (1 << 19) + 3  # two rows fill a band: three bands
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 256, (5, 3), dtype=np.uint8)
    indices = rng.integers(0, 5, (3, width), dtype=np.uint8)
    data = unfiltered_png(indices, palette, 1)
    assert png_chunk_types(data).count(b"IDAT") == 1
    assert np.array_equal(np.asarray(decode(data)), indices)


def pillow_png(indices: np.ndarray, palette: np.ndarray, level: int) -> bytes:
    """The palette PNG as Pillow writes it by default (row filters chosen per row), with the
    engine's sRGB chunk."""
    srgb = PngImagePlugin.PngInfo()
    srgb.add(b"sRGB", b"\x00")
    buffer = io.BytesIO()
    palette_image(indices, palette).save(buffer, "PNG", compress_level=level, pnginfo=srgb)
    return buffer.getvalue()


def output_indices(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The indices and (k, 3) palette of an opaque palette PNG."""
    image = decode(data)
    palette = np.array(image.getpalette(), dtype=np.uint8).reshape(-1, 3)
    return np.asarray(image), palette


@pytest.mark.parametrize("k", [2, 8, 16, 64])
def test_dithered_photo_is_unfiltered_and_no_larger_than_with_pillows_filters(k):
    data = chelsea_png(2)
    output = quantize_image(data, QuantizeParams(k=[k], dither=True)).outputs[0]
    indices, palette = output_indices(output.data)
    palette = palette[: int(indices.max()) + 1]
    bits = png_bit_depth(output.data)
    assert png_row_filters(output.data, bits) == {0}
    assert output.data == encode_indexed(indices, palette, dithered=True)  # the same pixels
    for level in {png_compress_level(indices.size), png_compress_level(indices.size, True, bits)}:
        pillow = pillow_png(indices, palette, level)
        assert np.array_equal(np.asarray(decode(pillow)), indices)
        assert len(output.data) <= len(pillow)
    if k <= 16:  # packed rows, which Pillow filters: the dots cost it 3-7 % even at level 9
        assert len(output.data) < 0.98 * len(pillow_png(indices, palette, 9))


@pytest.mark.parametrize("k", [2, 8, 16, 64])
def test_small_undithered_png_is_the_smaller_of_pillows_and_unfiltered(k):
    data = chelsea_png()  # 0.14 MP: both are tried
    output = quantize_image(data, QuantizeParams(k=[k])).outputs[0]
    indices, palette = output_indices(output.data)
    palette = palette[: int(indices.max()) + 1]
    level = png_compress_level(indices.size)
    pillow = pillow_png(indices, palette, level)
    if k <= 16:  # the cat's flat fur: unfiltered rows are 1-4 % smaller here
        assert output.data == unfiltered_png(indices, palette, level)
        assert len(output.data) < len(pillow)
    else:  # 8-bit rows, which Pillow does not filter: Pillow's PNG as before
        assert output.data == pillow


@pytest.mark.parametrize("k", [2, 16, 200])
def test_largest_pngs_keep_pillows_row_filters_deflated_by_zlib_ng(k):
    rng = np.random.default_rng(k)
    height, width = 2000, 2100  # 4.2 MP: above the last size class
    y, x = np.mgrid[0:height, 0:width]
    indices = ((x // 7 + y // 5 + rng.integers(0, 2, (height, width))) % k).astype(np.uint8)
    palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
    data = encode_indexed(indices, palette)
    image = decode(data)
    assert np.array_equal(np.asarray(image), indices)
    assert np.array_equal(np.array(image.getpalette(), np.uint8).reshape(-1, 3)[:k], palette)
    pillow = pillow_png(indices, palette, png_compress_level(indices.size))
    ours, theirs = png_chunks(data), png_chunks(pillow)
    assert [kind for kind, _ in ours] == [b"IHDR", b"sRGB", b"PLTE", b"IDAT", b"IEND"]
    assert [c for c in ours if c[0] != b"IDAT"] == [c for c in theirs if c[0] != b"IDAT"]
    pillow_rows = zlib.decompress(b"".join(body for kind, body in theirs if kind == b"IDAT"))
    assert zlib.decompress(ours[3][1]) == pillow_rows  # the same filtered rows
