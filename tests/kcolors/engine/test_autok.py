import numpy as np
import pytest

from kcolors.engine.autok import MAX_FITS
from kcolors.engine.params import QuantizeParams
from kcolors.engine.quantize import quantize_image
from tests.images import chelsea_png, encode, noisy_photo, three_colors, with_alpha


@pytest.fixture(scope="module")
def cat() -> bytes:
    """A real photo with enough colours (32,584) for the binned fits and the full fits' end."""
    return chelsea_png()


def auto_k(data: bytes, target: float, **params) -> tuple[dict, list[str], bytes]:
    """The auto-k output's statistics, the search's steps in words, and its bytes."""
    steps: list[str] = []
    params = QuantizeParams(k=[], target_psnr=target, **params)
    [output] = quantize_image(data, params, on_step=steps.append).outputs
    return output.stats, steps, output.data


@pytest.mark.parametrize("target", [20.0, 26.0])
def test_auto_k_reaches_the_target_with_the_fewest_colors(target):
    data = encode(noisy_photo())
    report = quantize_image(data, QuantizeParams(k=[], target_psnr=target))
    [output] = report.outputs
    assert output.stats["auto"] is True and output.stats["target_psnr"] == target
    assert output.stats["target_reached"] is True
    assert output.stats["psnr"] >= target and output.stats["search_psnr"] == output.stats["psnr"]
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


@pytest.mark.parametrize(("target", "space"), [(30, "rgb"), (38, "rgb"), (30, "lab"), (38, "lab")])
def test_a_reachable_target_is_reached_with_a_plain_fit_and_one_colour_fewer_is_not(
    cat, target, space
):
    stats, _, data = auto_k(cat, target, space=space)
    assert stats["target_reached"] is True and stats["psnr"] >= target
    # The palette is the one a plain job at that k fits: the same bytes.
    plain = quantize_image(cat, QuantizeParams(k=[stats["k"]], space=space)).outputs[0]
    assert plain.data == data
    fewer = quantize_image(cat, QuantizeParams(k=[stats["k"] - 1], space=space)).outputs[0]
    assert fewer.stats["psnr"] < target


@pytest.mark.parametrize("target", [41.0, 60.0, 80.0])
def test_an_unreachable_target_says_so_with_the_best_psnr_there_is(cat, target):
    stats, steps, data = auto_k(cat, target)
    best = quantize_image(cat, QuantizeParams(k=[256])).outputs[0]
    assert stats["target_reached"] is False and stats["k"] == 256
    assert stats["psnr"] == stats["search_psnr"] == best.stats["psnr"] < target
    assert data == best.data
    # Out of reach is found at once: one quick fit, then the full fit of 256 colours.
    assert stats["search_steps"] == len(steps) <= 3


def test_a_target_stored_before_the_limit_of_80_db_ends_as_soon():
    # Documents from before the one parameter model may hold target_psnr 100.
    params = QuantizeParams.from_dict({"k": [], "target_psnr": 100})
    steps: list[str] = []
    [output] = quantize_image(encode(noisy_photo()), params, on_step=steps.append).outputs
    assert output.stats["target_reached"] is False and output.k == 256
    assert output.stats["search_steps"] == len(steps) <= 3


@pytest.mark.parametrize("target", [22.0, 27.5, 33.0, 36.5, 38.0, 39.5, 40.5])
def test_the_search_makes_a_bounded_number_of_fits(cat, target):
    stats, steps, _ = auto_k(cat, target)
    assert stats["search_steps"] == len(steps) <= MAX_FITS
    assert all(s.startswith("Auto-k: tried ") for s in steps)
    assert stats["timings"]["search"] > 0
    if stats["k"] >= 128:  # the full fits' end on the exact colours is measured before chosen
        assert f"Auto-k: tried {stats['k']} colours (full fit), " in "\n".join(steps)


def test_the_search_is_deterministic(cat):
    first, second = auto_k(cat, 36.5), auto_k(cat, 36.5)
    assert first[1:] == second[1:]
    assert {**first[0], "timings": None} == {**second[0], "timings": None}
