"""Palette fitting (weighted k-means on the colour histogram) and exact remapping."""

from __future__ import annotations

import numpy as np

from kcolors.engine.colorspace import lab_to_srgb
from kcolors.engine.histogram import ColorHistogram, ColorLevels, to_features
from kcolors.engine.kmeans import TOL, kmeans_plus_plus, lloyd, nearest_centers, weighted_kmeans

N_INIT = 16  # k-means++ seedings, each converged on the coarse bins, up to k = 16
N_REFINED = 2  # the best seedings that go on to the fine bins
COARSE_TOL = 1e-3  # Lloyd's tolerance on the coarse bins (1e-4, scikit-learn's, elsewhere)


# From this many colours on, the fit ends with Lloyd on the exact colours; below it, on bins of
# 2 x 2 x 2 colours. Measured on the benchmark's images (docs/ENGINE.md): up to k = 64 ending
# on those bins changes the PSNR by under 0.01 dB for a third to half of the last level's
# points; at k = 256 it costs 0.01-0.06 dB.
EXACT_FROM_K = 128

# Lloyd's tolerance on the exact colours. There the last iterations only creep: at k = 256,
# stopping at 3e-4 instead of scikit-learn's 1e-4 takes 20-26 iterations instead of 40-55, a
# third less fitting time from 0.3 MP up, for 0.001-0.015 dB (measured on the benchmark's
# images, 0.1-12 MP; still at least full k-means' PSNR minus 0.003 dB).
EXACT_TOL = 3e-4


def seedings(k: int) -> int:
    """How many k-means++ seedings a fit of k colours compares.

    Few colours have distinct local optima, a few tenths of a dB apart, which the best of 16
    starts finds where 8 sometimes miss it (the cat at k = 16 with seed 0: 30.965 dB against full
    k-means' 31.017). Many colours have many shallow optima of about the same error, where the
    last exact iterations matter more than the start: 8 seedings at k = 32, 4 at 64, one at 256.
    """
    return max(1, min(N_INIT, 256 // k))


def from_features(features: np.ndarray, space: str) -> np.ndarray:
    """Map cluster centres back to uint8 colours."""
    if space == "lab":
        rgb = lab_to_srgb(features[:, :3])
        if features.shape[1] == 4:
            rgb = np.column_stack([rgb, features[:, 3] * (255.0 / 100.0)])
        features = rgb
    return np.clip(np.rint(features), 0, 255).astype(np.uint8)


def fit_centers(levels: ColorLevels, k: int, seed: int, *, exact_refine: bool = True) -> np.ndarray:
    """Fit k centres: seed on coarse bins, compare the best seedings on fine bins, then exact.

    `seedings(k)` k-means++ seedings converge on the coarse bins; the N_REFINED lowest go on to
    the fine bins, and the lowest there is refined with Lloyd on the distinct colours (below
    EXACT_FROM_K colours, on bins of 2 x 2 x 2 colours). The result is a local optimum of the
    per-pixel k-means objective, as full k-means gives, but from the best of several starts, for
    a fraction of the work.
    """
    rng = np.random.default_rng(seed)
    exact = levels.exact
    n_init = seedings(k)
    if levels.coarse is None:
        return weighted_kmeans(exact.points, exact.weights, k, rng=rng, n_init=n_init).centers
    coarse = levels.coarse
    starts = [kmeans_plus_plus(coarse.points, coarse.weights, k, rng) for _ in range(n_init)]
    # The coarse fits only rank the seedings: a looser tolerance ranks them as well, sooner.
    candidates = sorted(
        (lloyd(coarse.points, coarse.weights, centers, tol=COARSE_TOL) for centers in starts),
        key=lambda result: result.inertia,
    )[:N_REFINED]
    finer = levels.fine or exact
    refined = [lloyd(finer.points, finer.weights, c.centers) for c in candidates]
    best = min(refined, key=lambda result: result.inertia)
    return refine_centers(levels, k, best.centers) if exact_refine else best.centers


def refine_centers(levels: ColorLevels, k: int, centers: np.ndarray) -> np.ndarray:
    """Finish a fit that `fit_centers(exact_refine=False)` stopped at the fine bins.

    Lloyd on the distinct colours from EXACT_FROM_K colours on, else on the 2 x 2 x 2 bins;
    `centers` itself when the fine bins were already that level (small images).
    """
    finer = levels.fine or levels.exact
    if levels.coarse is None or finer is levels.exact:
        return centers
    last = levels.exact if k >= EXACT_FROM_K or levels.near is None else levels.near
    if last is finer:
        return centers
    tol = EXACT_TOL if last is levels.exact else TOL
    return lloyd(last.points, last.weights, centers, tol=tol).centers


def fit_palette(
    histogram: ColorHistogram,
    k: int,
    *,
    space: str = "rgb",
    seed: int = 0,
) -> np.ndarray:
    """Fit at most k distinct uint8 colours (RGB, or RGBA with alpha) to the histogram."""
    transparent = histogram.transparent.any()
    levels = histogram.levels(space)
    # Fully transparent pixels do not vote: they get one palette entry of their own.
    n_fit = k - 1 if transparent else k
    if len(levels.colors) <= n_fit:
        return palette_of(histogram, None, space)
    return palette_of(histogram, fit_centers(levels, n_fit, seed), space)


def palette_of(histogram: ColorHistogram, centers: np.ndarray | None, space: str) -> np.ndarray:
    """The sorted uint8 palette of fitted centres (None: the image's own visible colours), plus
    the fully transparent entry when the image has one."""
    palette = histogram.levels(space).colors if centers is None else from_features(centers, space)
    if histogram.transparent.any():
        palette = np.vstack([palette, np.zeros((1, 4), dtype=np.uint8)])
    return unique_rows(palette)


def unique_rows(palette: np.ndarray) -> np.ndarray:
    """`np.unique(palette, axis=0)` for a uint8 palette of up to 4 channels: the distinct rows,
    sorted. Each row packed into one integer sorts as the row does. Written out because
    `np.unique` imports `numpy.ma` on its first call (about 35 ms), a tenth of a small
    picture's whole `kcolors quantize`."""
    channels = palette.shape[1]
    keys = np.zeros(len(palette), dtype=np.uint32)
    for channel in range(channels):
        keys = (keys << np.uint32(8)) | palette[:, channel].astype(np.uint32)
    keys.sort()
    if len(keys):
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    shifts = np.arange(channels - 1, -1, -1, dtype=np.uint32) * np.uint32(8)
    return ((keys[:, None] >> shifts) & np.uint32(0xFF)).astype(np.uint8)


def nearest_palette_index(
    colors: np.ndarray, palette: np.ndarray, *, space: str = "rgb"
) -> np.ndarray:
    """Return the index of the exact nearest palette colour for each colour."""
    if space == "rgb":
        # Integer colours: the float64 distances are exact integers, so ties are exact.
        labels, _ = nearest_centers(colors, palette)
    else:
        labels, _ = nearest_centers(to_features(colors, space), to_features(palette, space))
    if palette.shape[1] == 4:
        # A fully transparent pixel always takes the fully transparent entry.
        clear = np.flatnonzero(palette[:, 3] == 0)
        if len(clear):
            labels[colors[:, 3] == 0] = clear[0]
    return labels


def remap(histogram: ColorHistogram, palette: np.ndarray, *, space: str = "rgb") -> np.ndarray:
    """Return the (h, w) uint8 palette index of every pixel: its colour's nearest palette colour."""
    labels = nearest_palette_index(histogram.colors, palette, space=space)
    return histogram.spread(labels.astype(np.uint8))
