import io

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from kcolors.engine.encode import encode_truecolor_png
from kcolors.engine.params import QuantizeParams
from kcolors.engine.quantize import quantize_image
from kcolors.errors import InvalidParameter, KcolorsError
from tests.images import (
    chelsea_png,
    decode,
    encode,
    icc_profile,
    noisy_photo,
    output_pixels,
    p3_to_srgb,
    psnr,
    three_colors,
    with_alpha,
)


def test_one_output_per_k_with_the_contract_stats():
    pixels = noisy_photo()
    data = encode(pixels)
    seen = []
    report = quantize_image(data, QuantizeParams(k=[2, 8, 8, 5]), on_output=seen.append)
    assert [o.k for o in report.outputs] == [2, 5, 8]  # each k once, in ascending order
    assert seen == report.outputs
    distinct = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert report.input_stats == {
        "width": 80,
        "height": 60,
        "format": "png",
        "bytes": len(data),
        "pixels": 4800,
        "distinct_colors": distinct,
        "has_alpha": False,
    }
    for output in report.outputs:
        out = output_pixels(output.data)
        stats = output.stats
        assert (output.media_type, output.extension) == ("image/png", "png")
        assert out.shape == pixels.shape
        colors, counts = np.unique(out.reshape(-1, 3), axis=0, return_counts=True)
        assert stats["k"] == output.k and stats["format"] == "png"
        assert stats["bytes"] == len(output.data)
        assert stats["distinct_colors"] == len(colors) <= output.k
        assert stats["compression_ratio"] == pytest.approx(len(data) / len(output.data), rel=1e-3)
        truecolor = encode_truecolor_png(out)
        assert stats["truecolor_png_bytes"] == len(truecolor) > stats["bytes"]
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(truecolor))), out)
        assert stats["psnr"] == pytest.approx(psnr(out, pixels), abs=1e-3)
        expected_palette = {
            "#{:02x}{:02x}{:02x}".format(*c): n / 4800 for c, n in zip(colors, counts, strict=True)
        }
        palette = stats["palette"]
        assert {e["hex"]: e["share"] for e in palette} == pytest.approx(expected_palette, abs=1e-6)
        assert [e["share"] for e in palette] == sorted((e["share"] for e in palette), reverse=True)
        assert set(stats["timings"]) == {"fit", "remap", "encode", "stats"}
        assert all(t >= 0 for t in stats["timings"].values())


def test_more_k_than_colors_returns_the_image_exactly():
    pixels = three_colors()
    output = quantize_image(encode(pixels), QuantizeParams(k=[3, 200])).outputs[1]
    assert np.array_equal(output_pixels(output.data), pixels)
    assert output.stats["psnr"] is None
    assert output.stats["distinct_colors"] == len(output.stats["palette"]) == 3


def test_same_input_and_seed_give_identical_bytes():
    data = encode(noisy_photo(90, 120))
    options = QuantizeParams(k=[4, 16], seed=7, dither=True, space="lab")
    first = quantize_image(data, options)
    second = quantize_image(data, options)
    assert [o.data for o in first.outputs] == [o.data for o in second.outputs]


def test_alpha_is_kept_and_transparent_pixels_stay_transparent():
    pixels = with_alpha(noisy_photo())
    report = quantize_image(encode(pixels), QuantizeParams(k=[6]))
    assert report.input_stats["has_alpha"] is True
    output = report.outputs[0]
    out = output_pixels(output.data)
    assert out.shape == pixels.shape
    assert np.array_equal(out[..., 3] == 0, pixels[..., 3] == 0)
    assert output.stats["distinct_colors"] <= 6
    assert any(e["alpha"] == 0 for e in output.stats["palette"])
    visible = pixels.copy()
    visible[visible[..., 3] == 0] = 0
    assert output.stats["psnr"] == pytest.approx(psnr(out, visible), abs=1e-3)


def test_dithering_mixes_palette_colors_and_lowers_nothing_else():
    row = np.linspace(0, 255, 64).astype(np.uint8)
    pixels = np.repeat(np.stack([row, row, row], axis=1)[None], 16, axis=0)
    plain = quantize_image(encode(pixels), QuantizeParams(k=[2])).outputs[0]
    dithered = quantize_image(encode(pixels), QuantizeParams(k=[2], dither=True)).outputs[0]
    plain_out, dithered_out = output_pixels(plain.data), output_pixels(dithered.data)
    # Without dithering each column is one colour; with it, columns mix the two colours.
    assert all(len(np.unique(plain_out[:, x, 0])) == 1 for x in range(64))
    assert sum(len(np.unique(dithered_out[:, x, 0])) > 1 for x in range(64)) > 10
    assert len(np.unique(dithered_out.reshape(-1, 3), axis=0)) <= 2
    assert dithered.stats["psnr"] == pytest.approx(psnr(dithered_out, pixels), abs=1e-3)


def test_lab_space_lowers_the_perceptual_error():
    pixels = noisy_photo()
    delta_e = {}
    for space in ("rgb", "lab"):
        output = quantize_image(encode(pixels), QuantizeParams(k=[8], space=space)).outputs[0]
        out = output_pixels(output.data)
        assert len(np.unique(out.reshape(-1, 3), axis=0)) <= 8
        delta_e[space] = np.linalg.norm(rgb2lab(out) - rgb2lab(pixels), axis=2).mean()
    assert delta_e["lab"] < delta_e["rgb"]


def test_webp_output():
    pixels = noisy_photo()
    output = quantize_image(encode(pixels), QuantizeParams(k=[5], format="webp")).outputs[0]
    assert (output.media_type, output.extension) == ("image/webp", "webp")
    assert decode(output.data).format == "WEBP"
    assert len(np.unique(output_pixels(output.data).reshape(-1, 3), axis=0)) <= 5


@pytest.mark.parametrize(
    ("pixels", "options"),
    [
        (None, {}),  # the cat: 1, 2, 4 (both 4 and 8 bits tried) and 8 bits per pixel
        (None, {"dither": True}),
        (with_alpha(noisy_photo()), {}),  # a palette with transparency (tRNS)
    ],
)
def test_optimize_keeps_every_pixel_in_no_more_bytes(pixels, options):
    data = chelsea_png() if pixels is None else encode(pixels)
    ks = [2, 3, 8, 16, 64]
    plain = quantize_image(data, QuantizeParams(k=ks, **options)).outputs
    optimized = quantize_image(data, QuantizeParams(k=ks, optimize=True, **options)).outputs
    for before, after in zip(plain, optimized, strict=True):
        assert np.array_equal(output_pixels(after.data), output_pixels(before.data))
        assert after.stats["bytes"] == len(after.data) <= len(before.data)
        assert after.stats["bytes_before_optimize"] == len(before.data)
        assert after.stats["timings"]["optimize"] >= 0
        assert after.stats["psnr"] == before.stats["psnr"]
        assert "bytes_before_optimize" not in before.stats
        assert "optimize" not in before.stats["timings"]
    assert sum(o.stats["bytes"] for o in optimized) < sum(o.stats["bytes"] for o in plain)
    again = quantize_image(data, QuantizeParams(k=ks, optimize=True, **options)).outputs
    assert [o.data for o in again] == [o.data for o in optimized]


@pytest.mark.parametrize("ks", [[1], [257], [2.5], [True], ["²"], ","])
def test_bad_k_is_an_invalid_parameter(ks):
    with pytest.raises(InvalidParameter) as caught:
        QuantizeParams.parse({"k": ks})
    assert caught.value.code == "invalid_parameter"


@pytest.mark.parametrize(
    "options",
    [
        {"space": "hsv"},
        {"format": "jpeg"},
        {"seed": -1},
        {"target_psnr": 0},
        {"target_psnr": float("nan")},
    ],
)
def test_bad_options_are_invalid_parameters(options):
    with pytest.raises(InvalidParameter):
        QuantizeParams.parse(options)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_image"),
        (b"GIF89a-not-really", "corrupt_image"),
        (b"%PDF-1.4", "unsupported_format"),
    ],
)
def test_bad_input_raises_a_coded_error(data, code):
    with pytest.raises(KcolorsError) as caught:
        quantize_image(data, QuantizeParams(k=[4]))
    assert caught.value.code == code


def test_pixel_limit_from_options():
    with pytest.raises(KcolorsError) as caught:
        quantize_image(encode(three_colors()), QuantizeParams(k=[4]), max_pixels=100)
    assert caught.value.code == "image_too_large"


def test_a_display_p3_photo_keeps_its_colours():
    # Three flat P3 patches: each output colour is the patch's colour converted to sRGB, not the
    # P3 numbers read as sRGB (which would shift the red and the green by 10-20 levels).
    p3 = np.array([(200, 80, 60), (60, 170, 90), (240, 230, 120)], dtype=np.uint8)
    pixels = np.repeat(p3, 10, axis=0).reshape(3, 10, 3).repeat(6, axis=0)
    expected = np.array([p3_to_srgb(color) for color in p3])
    heic = encode(pixels, "HEIF", quality=100, chroma=444, icc_profile=icc_profile())
    for data in (encode(pixels, "PNG", icc_profile=icc_profile()), heic):
        report = quantize_image(data, QuantizeParams(k=[3]))
        out = output_pixels(report.outputs[0].data)
        assert np.abs(out[::6, 0].astype(int) - expected).max() <= 3
        assert np.abs(expected - p3).max() >= 15
