"""Weighted k-means in numpy: k-means++ seeding and Lloyd iterations over weighted points.

The points are a colour histogram (each distinct colour or bin once, weighted by its pixel count),
so a few hundred thousand points stand for millions of pixels; the objective is exactly the
per-pixel k-means objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Distances are computed in blocks of at most this many (point, centre) pairs, bounding memory.
_BLOCK_PAIRS = 1 << 21


@dataclass(frozen=True)
class KMeansResult:
    """Centres of a weighted k-means fit and its inertia (weighted sum of squared distances)."""

    centers: np.ndarray
    inertia: float


def nearest_centers(points: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each point's nearest centre (lowest index on ties) and squared distance to it."""
    dtype = points.dtype
    centers = centers.astype(dtype, copy=False)
    center_norms = np.einsum("ij,ij->i", centers, centers)
    n = len(points)
    labels = np.empty(n, dtype=np.intp)
    distances = np.empty(n, dtype=np.float64)
    block = max(1, _BLOCK_PAIRS // max(1, len(centers)))
    for start in range(0, n, block):
        chunk = points[start : start + block]
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; the |x|^2 term does not change the argmin.
        partial = center_norms - 2.0 * (chunk @ centers.T)
        chunk_labels = np.argmin(partial, axis=1)
        labels[start : start + block] = chunk_labels
        point_norms = np.einsum("ij,ij->i", chunk, chunk)
        best = np.take_along_axis(partial, chunk_labels[:, None], axis=1)[:, 0]
        distances[start : start + block] = np.maximum(best + point_norms, 0.0)
    return labels, distances


def kmeans_plus_plus(
    points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Pick k initial centres by weighted greedy k-means++ (as scikit-learn does)."""
    first = rng.choice(len(points), p=weights / weights.sum())
    return extend_centers(points, weights, points[first][None, :], k, rng)


def extend_centers(
    points: np.ndarray,
    weights: np.ndarray,
    centers: np.ndarray,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Add centres to `centers` by greedy k-means++ until there are k of them."""
    n_candidates = 2 + int(np.log(k))
    grown = np.empty((k, points.shape[1]), dtype=np.float64)
    grown[: len(centers)] = centers
    _, closest = nearest_centers(points, centers)
    potential = float(weights @ closest)
    for index in range(len(centers), k):
        if potential <= 0.0:  # every point already sits on a centre
            grown[index:] = grown[0]
            break
        cumulative = np.cumsum(weights * closest)
        targets = rng.uniform(size=n_candidates) * cumulative[-1]
        candidates = np.minimum(np.searchsorted(cumulative, targets), len(points) - 1)
        candidate_distances = np.sum(
            (points[None, :, :] - points[candidates][:, None, :]) ** 2, axis=2
        )
        np.minimum(candidate_distances, closest, out=candidate_distances)
        potentials = candidate_distances @ weights
        best = int(np.argmin(potentials))
        grown[index] = points[candidates[best]]
        closest = candidate_distances[best]
        potential = float(potentials[best])
    return grown


def lloyd(
    points: np.ndarray,
    weights: np.ndarray,
    centers: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> KMeansResult:
    """Run weighted Lloyd iterations from `centers` until the centres stop moving."""
    k, n_features = centers.shape
    centers = centers.astype(np.float64, copy=True)
    # scikit-learn's criterion: total squared centre shift below tol x mean feature variance.
    mean = weights @ points / weights.sum()
    variance = float(np.mean(weights @ (points - mean) ** 2 / weights.sum()))
    threshold = tol * variance
    for _ in range(max_iter):
        labels, distances = nearest_centers(points, centers)
        totals = np.bincount(labels, weights=weights, minlength=k)
        sums = np.stack(
            [
                np.bincount(labels, weights=weights * points[:, j], minlength=k)
                for j in range(n_features)
            ],
            axis=1,
        )
        new_centers = centers.copy()
        filled = totals > 0
        new_centers[filled] = sums[filled] / totals[filled, None]
        _relocate_empty(new_centers, ~filled, points, weights * distances)
        shift = float(np.sum((new_centers - centers) ** 2))
        centers = new_centers
        if shift <= threshold:
            break
    _, distances = nearest_centers(points, centers)
    return KMeansResult(centers=centers, inertia=float(weights @ distances))


def _relocate_empty(
    centers: np.ndarray, empty: np.ndarray, points: np.ndarray, costs: np.ndarray
) -> None:
    """Move empty clusters onto the points that cost the most, as scikit-learn does."""
    n_empty = int(empty.sum())
    if n_empty:
        far = np.argsort(costs)[::-1][:n_empty]
        centers[np.flatnonzero(empty)[: len(far)]] = points[far]


def weighted_kmeans(
    points: np.ndarray, weights: np.ndarray, k: int, *, seed: int, n_init: int = 3
) -> KMeansResult:
    """Fit k centres from `n_init` k-means++ seedings and keep the lowest inertia."""
    rng = np.random.default_rng(seed)
    best: KMeansResult | None = None
    for _ in range(n_init):
        result = lloyd(points, weights, kmeans_plus_plus(points, weights, k, rng))
        if best is None or result.inertia < best.inertia:
            best = result
    assert best is not None
    return best
