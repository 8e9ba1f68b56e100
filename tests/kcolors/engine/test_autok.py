import numpy as np
import pytest

from kcolors.engine.params import QuantizeParams
from kcolors.engine.quantize import quantize_image
from tests.images import encode, noisy_photo, three_colors, with_alpha


@pytest.mark.parametrize("target", [20.0, 26.0])
def test_auto_k_reaches_the_target_with_the_fewest_colors(target):
    data = encode(noisy_photo())
    report = quantize_image(data, QuantizeParams(k=[], target_psnr=target))
    [output] = report.outputs
    assert output.stats["auto"] is True and output.stats["target_psnr"] == target
    assert output.stats["psnr"] >= target
    # One colour fewer, fitted the same way, falls short.
    fewer = quantize_image(data, QuantizeParams(k=[output.k - 1])).outputs[0]
    assert fewer.stats["psnr"] < target


def test_auto_k_comes_after_the_explicit_outputs():
    report = quantize_image(encode(noisy_photo()), QuantizeParams(k=[3], target_psnr=22))
    assert [o.stats.get("auto", False) for o in report.outputs] == [False, True]


def test_auto_k_on_few_colors_is_lossless():
    report = quantize_image(encode(three_colors()), QuantizeParams(k=[], target_psnr=60))
    [output] = report.outputs
    assert output.k == 3 and output.stats["psnr"] is None


def test_auto_k_with_transparency_counts_the_transparent_entry():
    pixels = with_alpha(noisy_photo())
    [output] = quantize_image(encode(pixels), QuantizeParams(k=[], target_psnr=24)).outputs
    assert output.stats["psnr"] >= 24
    assert len(output.stats["palette"]) <= output.k
    assert np.isclose(sum(e["share"] for e in output.stats["palette"]), 1.0, atol=1e-4)


def test_each_step_of_the_search_is_told_in_words():
    steps: list[str] = []
    report = quantize_image(
        encode(noisy_photo()), QuantizeParams(k=[], target_psnr=30), on_step=steps.append
    )
    assert steps and all(s.startswith("Auto-k: tried ") and "(target 30 dB)" in s for s in steps)
    tried = [int(s.split()[2]) for s in steps]
    assert report.outputs[0].k in tried
