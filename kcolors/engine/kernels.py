"""Typed numpy wrappers of the compiled kernels (`_kernels.c`, built when the package installs).

The C side takes raw buffers; these functions allocate every array, fix its type and layout,
and give back numpy arrays. Nothing here draws random numbers: callers pass a numpy Generator.
"""

from __future__ import annotations

import numpy as np

from kcolors.engine import _kernels


def histogram(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct colours of (h, w, 3|4) uint8 pixels, in order of first appearance.

    Returns (colors (D, C) uint8, counts (D,) int64, inverse (h * w,) uint32: each pixel's colour).
    """
    height, width, channels = pixels.shape
    flat = np.ascontiguousarray(pixels, dtype=np.uint8)
    n = height * width
    inverse = np.empty(n, dtype=np.uint32)
    color_bytes, count_bytes = _kernels.histogram(flat, n, channels, inverse)
    colors = np.frombuffer(color_bytes, dtype=np.uint8).reshape(-1, channels)
    counts = np.frombuffer(count_bytes, dtype=np.int64)
    return colors, counts, inverse


def spread(inverse: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return values[inverse] reshaped to `shape`: one uint8 value per colour, to every pixel."""
    values = np.ascontiguousarray(values, dtype=np.uint8)
    out = np.empty(shape, dtype=np.uint8)
    _kernels.spread(inverse, len(inverse), values, len(values), out)
    return out


def truecolor_rows(indices: np.ndarray, palette: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Fill `out` (rows, 1 + width * C) with PNG scanlines (filter byte 0, then the palette
    colours of `indices` (rows, width)); return the filled part."""
    rows, width = indices.shape
    palette = np.ascontiguousarray(palette, dtype=np.uint8)
    indices = np.ascontiguousarray(indices, dtype=np.uint8)
    part = out[:rows]
    _kernels.truecolor_rows(indices, rows, width, palette, len(palette), palette.shape[1], part)
    return part


def squared_error(
    colors: np.ndarray, counts: np.ndarray, labels: np.ndarray, palette: np.ndarray
) -> int:
    """Sum over colours of count x squared distance to palette[label] (exact, in integers)."""
    colors = np.ascontiguousarray(colors, dtype=np.uint8)
    palette = np.ascontiguousarray(palette, dtype=np.uint8)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    return _kernels.sse(colors, counts, labels, palette, len(colors), len(palette),
                        colors.shape[1])  # fmt: skip


def _points(points: np.ndarray) -> np.ndarray:
    if points.ndim != 2 or not 1 <= points.shape[1] <= 4:
        raise ValueError(f"points must be (n, 1..4), not {points.shape}")
    return np.ascontiguousarray(points, dtype=np.float64)


def nearest(points: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's exact nearest centre (lowest index on ties) and its squared distance."""
    points, centers = _points(points), _points(centers)
    labels = np.empty(len(points), dtype=np.int32)
    distances = np.empty(len(points), dtype=np.float64)
    if len(points):
        _kernels.nearest(points, len(points), points.shape[1], centers, len(centers), labels,
                         distances)  # fmt: skip
    return labels.astype(np.intp), distances


def seed(
    points: np.ndarray,
    weights: np.ndarray,
    given: np.ndarray,
    k: int,
    rng: np.random.Generator,
    n_candidates: int,
) -> np.ndarray:
    """Greedy weighted k-means++: extend the `given` centres (maybe none) to k centres."""
    points = _points(points)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    d = points.shape[1]
    centers = np.zeros((k, d), dtype=np.float64)
    n_given = min(len(given), k)
    centers[:n_given] = given[:n_given]
    needed = (n_given == 0) + (k - max(n_given, 1)) * n_candidates
    uniforms = rng.random(max(needed, 1))
    _kernels.seed(points, len(points), d, weights, centers, n_given, k, uniforms, len(uniforms),
                  n_candidates)  # fmt: skip
    return centers


def lloyd(
    points: np.ndarray, weights: np.ndarray, centers: np.ndarray, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Weighted Lloyd from `centers` until the total squared centre shift is at most `tol` times
    the points' mean variance per dimension (scikit-learn's criterion).

    Returns (centres, labels of the last assignment, its inertia, iterations).
    """
    points = _points(points)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    fitted = np.array(centers, dtype=np.float64, order="C", copy=True)
    labels = np.empty(len(points), dtype=np.int32)
    inertia, iterations = _kernels.lloyd(points, len(points), points.shape[1], weights, fitted,
                                         len(fitted), labels, max_iter, tol)  # fmt: skip
    return fitted, labels, inertia, iterations


def group_means(
    codes: np.ndarray, weights: np.ndarray, columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group rows by their uint32 code (groups numbered in order of first appearance).

    Returns (each group's code, its total weight, its weighted mean of `columns`).
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint32)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    columns = np.ascontiguousarray(columns, dtype=np.float64)
    n, m = columns.shape
    index = np.empty(n, dtype=np.uint32)
    group_codes = np.frombuffer(_kernels.group(codes, n, index), dtype=np.uint32)
    groups = len(group_codes)
    totals = np.empty(groups, dtype=np.float64)
    sums = np.empty((groups, m), dtype=np.float64)
    _kernels.group_sums(index, n, groups, weights, columns, m, totals, sums)
    return group_codes, totals, sums / totals[:, None]


def dither_weights(pixels: np.ndarray, undithered: np.ndarray) -> np.ndarray:
    """Each pixel's dithering weight, 0-255: low on edges and in noise, high where flat runs of
    one undithered palette colour would show bands."""
    height, width, channels = pixels.shape
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    undithered = np.ascontiguousarray(undithered, dtype=np.uint8)
    out = np.empty((height, width), dtype=np.uint8)
    _kernels.dither_weights(pixels, height, width, channels, undithered, out)
    return out


def dither(
    pixels: np.ndarray,
    palette: np.ndarray,
    undithered: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """(h, w) uint8 palette indices of (h, w, C) pixels, error-diffused onto the (k, C) palette.

    `undithered` is each pixel's nearest entry (its search starts there, and its error sets how
    much error counts as large); `weights` (0-255, see `dither_weights`) scale the error each
    pixel takes, None for full strength."""
    height, width, channels = pixels.shape
    if palette.ndim != 2 or palette.shape[1] != channels:
        raise ValueError(f"palette must be (k, {channels}), not {palette.shape}")
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    palette = np.ascontiguousarray(palette, dtype=np.uint8)
    undithered = np.ascontiguousarray(undithered, dtype=np.uint8)
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=np.uint8)
    out = np.empty((height, width), dtype=np.uint8)
    _kernels.dither(pixels, height, width, channels, palette, len(palette), undithered, weights,
                    out)  # fmt: skip
    return out
