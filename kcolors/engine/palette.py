"""Palette fitting (weighted k-means on the colour histogram) and exact remapping."""

from __future__ import annotations

import numpy as np

from kcolors.engine.colorspace import lab_to_srgb
from kcolors.engine.histogram import ColorHistogram, ColorLevels, to_features
from kcolors.engine.kmeans import kmeans_plus_plus, lloyd, nearest_centers, weighted_kmeans

N_INIT = 8  # k-means++ seedings, each converged on the coarse bins
N_REFINED = 2  # the best seedings that go on to the fine bins


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

    N_INIT k-means++ seedings converge on the coarse bins; the N_REFINED lowest go on to the fine
    bins, and the lowest there is refined with exact Lloyd on the distinct colours. The result is
    a local optimum of the per-pixel k-means objective, as full k-means gives, but from the best
    of several starts, for a fraction of the work.
    """
    rng = np.random.default_rng(seed)
    exact = levels.exact
    if levels.coarse is None:
        return weighted_kmeans(exact.points, exact.weights, k, rng=rng, n_init=N_INIT).centers
    coarse = levels.coarse
    seedings = [kmeans_plus_plus(coarse.points, coarse.weights, k, rng) for _ in range(N_INIT)]
    candidates = sorted(
        (lloyd(coarse.points, coarse.weights, centers) for centers in seedings),
        key=lambda result: result.inertia,
    )[:N_REFINED]
    finer = levels.fine or exact
    refined = [lloyd(finer.points, finer.weights, c.centers) for c in candidates]
    best = min(refined, key=lambda result: result.inertia)
    if finer is exact or not exact_refine:
        return best.centers
    return lloyd(exact.points, exact.weights, best.centers).centers


def fit_palette(
    histogram: ColorHistogram,
    k: int,
    *,
    space: str = "rgb",
    seed: int = 0,
    exact_refine: bool = True,
) -> np.ndarray:
    """Fit at most k distinct uint8 colours (RGB, or RGBA with alpha) to the histogram.

    `exact_refine=False` stops at the fine bins: a slightly worse palette, much sooner on big
    images (auto-k searches with it).
    """
    transparent = histogram.transparent.any()
    levels = histogram.levels(space)
    # Fully transparent pixels do not vote: they get one palette entry of their own.
    n_fit = k - 1 if transparent else k
    if len(levels.colors) <= n_fit:
        palette = levels.colors
    else:
        centers = fit_centers(levels, n_fit, seed, exact_refine=exact_refine)
        palette = from_features(centers, space)
    if transparent:
        palette = np.vstack([palette, np.zeros((1, 4), dtype=np.uint8)])
    return np.unique(palette, axis=0)


def nearest_palette_index(
    colors: np.ndarray, palette: np.ndarray, *, space: str = "rgb"
) -> np.ndarray:
    """Return the index of the exact nearest palette colour for each colour."""
    if space == "rgb":
        # Integer colours: float32 sums of products stay exact below 2**24, so ties are exact.
        labels, _ = nearest_centers(colors.astype(np.float32), palette.astype(np.float32))
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
