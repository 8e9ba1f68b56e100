import subprocess
import sys

import numpy as np
import pytest

from kcolors.engine.histogram import build_histogram
from kcolors.engine.palette import fit_palette, nearest_palette_index, remap, unique_rows
from tests.images import noisy_photo, three_colors, with_alpha


def colors_of(pixels: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in c) for c in pixels.reshape(-1, pixels.shape[-1])}


def test_histogram_counts_every_distinct_color():
    pixels = three_colors()
    histogram = build_histogram(pixels)
    expected = {c: int(np.all(pixels == c, axis=2).sum()) for c in colors_of(pixels)}
    got = {
        tuple(int(v) for v in c): int(n)
        for c, n in zip(histogram.colors, histogram.counts, strict=True)
    }
    assert got == expected
    assert histogram.spread(np.arange(3, dtype=np.uint8)).shape == pixels.shape[:2]


def test_histogram_of_rgba_keeps_alpha_apart():
    pixels = with_alpha(three_colors())
    histogram = build_histogram(pixels)
    assert histogram.has_alpha
    assert len(histogram.colors) == len(colors_of(pixels))
    assert histogram.counts.sum() == pixels.shape[0] * pixels.shape[1]


def test_three_colors_at_k3_come_back_exactly():
    pixels = three_colors()
    histogram = build_histogram(pixels)
    palette = fit_palette(histogram, 3)
    assert colors_of(palette) == colors_of(pixels)
    assert np.array_equal(palette[remap(histogram, palette)], pixels)


@pytest.mark.parametrize("k", [3, 4, 256])
def test_k_at_least_distinct_colors_gives_own_colors_without_duplicates(k):
    pixels = three_colors()
    palette = fit_palette(build_histogram(pixels), k)
    assert len(palette) == 3
    assert colors_of(palette) == colors_of(pixels)


def test_two_color_gradient_at_k2_lands_on_the_half_means():
    # 0..255 along x between two colours: k-means splits it in the middle, each centroid the
    # mean of its half.
    t = np.arange(256)
    low, high = np.array([20, 40, 200]), np.array([220, 200, 10])
    row = np.rint(low + np.outer(t / 255.0, high - low)).astype(np.uint8)
    pixels = np.repeat(row[None], 8, axis=0)
    palette = fit_palette(build_histogram(pixels), 2)
    expected = np.sort(np.rint([row[:128].mean(0), row[128:].mean(0)]), axis=0)
    assert np.abs(np.sort(palette.astype(float), axis=0) - expected).max() <= 1


@pytest.mark.parametrize("space", ["rgb", "lab"])
@pytest.mark.parametrize("k", [2, 7, 16])
def test_outputs_use_at_most_k_palette_colors(k, space):
    pixels = noisy_photo()
    histogram = build_histogram(pixels)
    palette = fit_palette(histogram, k, space=space, seed=3)
    indices = remap(histogram, palette, space=space)
    assert len(palette) <= k
    assert len(np.unique(palette, axis=0)) == len(palette)
    assert indices.shape == pixels.shape[:2]
    assert indices.max() < len(palette)


def test_remap_picks_the_exact_nearest_palette_color():
    pixels = noisy_photo()
    histogram = build_histogram(pixels)
    palette = fit_palette(histogram, 9)
    labels = nearest_palette_index(histogram.colors, palette)
    distances = ((histogram.colors[:, None, :].astype(int) - palette[None].astype(int)) ** 2).sum(2)
    assert np.array_equal(distances[np.arange(len(labels)), labels], distances.min(1))


def test_same_seed_same_palette_other_seed_still_valid():
    histogram = build_histogram(noisy_photo(120, 160))
    assert np.array_equal(fit_palette(histogram, 12, seed=5), fit_palette(histogram, 12, seed=5))
    assert len(fit_palette(histogram, 12, seed=6)) <= 12


def test_transparent_pixels_do_not_vote_and_keep_their_own_entry():
    pixels = with_alpha(three_colors())
    # Give the invisible pixels a colour found nowhere else: it must not pull any centroid.
    pixels[pixels[..., 3] == 0] = (255, 0, 255, 0)
    histogram = build_histogram(pixels)
    palette = fit_palette(histogram, 5)
    assert palette.shape[1] == 4
    visible = {c for c in colors_of(pixels) if c[3] > 0}
    assert colors_of(palette) == visible | {(0, 0, 0, 0)}
    out = palette[remap(histogram, palette)]
    assert np.array_equal(out[..., 3] == 0, pixels[..., 3] == 0)


def test_palette_is_fit_better_than_a_uniform_palette():
    pixels = noisy_photo()
    histogram = build_histogram(pixels)
    palette = fit_palette(histogram, 8)
    out = palette[remap(histogram, palette)].astype(float)
    levels = np.array([64, 192])
    uniform = levels[(pixels >= 128).astype(int)]
    assert np.mean((out - pixels) ** 2) < np.mean((uniform - pixels) ** 2)


@pytest.mark.parametrize("channels", [3, 4])
def test_unique_rows_is_numpys_unique_by_rows(channels):
    rng = np.random.default_rng(channels)
    for trial in range(300):
        # Few levels make many repeated rows; all 256 make rows that differ in one channel.
        levels = 3 if trial % 2 else 256
        palette = rng.integers(0, levels, size=(int(rng.integers(0, 300)), channels))
        palette = palette.astype(np.uint8)
        assert np.array_equal(unique_rows(palette), np.unique(palette, axis=0)), trial


def test_quantizing_a_picture_does_not_import_numpy_ma():
    """`np.unique` would import numpy.ma (tens of ms of every CLI run); the engine avoids it."""
    code = (
        "import sys; from kcolors.engine.quantize import quantize_image;"
        "from kcolors.engine.params import QuantizeParams; from tests.images import gradient_png;"
        "quantize_image(gradient_png(40, 30), QuantizeParams(k=(4,)));"
        "print('numpy.ma' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
