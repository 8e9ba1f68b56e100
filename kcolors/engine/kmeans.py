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
# Margins come from float32 squared distances: their rounding (a few hundredths on values up to
# 4e5) moves a small distance by up to ~0.25, so margins are trusted only beyond this slack.
_BOUND_SLACK = 0.5
# Below this many points a plain Lloyd step is cheaper than keeping margins.
_MARGINS_ABOVE_POINTS = 16384


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


def nearest_labels(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Return each point's nearest centre (lowest index on ties), without the distances."""
    centers = centers.astype(points.dtype, copy=False)
    center_norms = np.einsum("ij,ij->i", centers, centers)
    scaled = -2.0 * centers.T
    block = max(1, _BLOCK_PAIRS // max(1, len(centers)))
    if len(points) <= block:
        partial = points @ scaled
        partial += center_norms
        return np.argmin(partial, axis=1)
    labels = np.empty(len(points), dtype=np.intp)
    for start in range(0, len(points), block):
        partial = points[start : start + block] @ scaled
        partial += center_norms
        labels[start : start + block] = np.argmin(partial, axis=1)
    return labels


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
    point_norms = np.einsum("ij,ij->i", points, points)
    potential = float(weights @ closest)
    for index in range(len(centers), k):
        if potential <= 0.0:  # every point already sits on a centre
            grown[index:] = grown[0]
            break
        cumulative = np.cumsum(weights * closest)
        targets = rng.uniform(size=n_candidates) * cumulative[-1]
        candidates = np.minimum(np.searchsorted(cumulative, targets), len(points) - 1)
        candidate_distances = np.maximum(
            point_norms[None, :]
            - 2.0 * (points[candidates] @ points.T)
            + point_norms[candidates, None],
            0.0,
        )
        np.minimum(candidate_distances, closest, out=candidate_distances)
        potentials = candidate_distances @ weights
        best = int(np.argmin(potentials))
        grown[index] = points[candidates[best]]
        closest = candidate_distances[best]
        potential = float(potentials[best])
    return grown


def two_nearest(points: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return each point's nearest centre, its distance and the distance to the second nearest."""
    # float32 halves the memory traffic; the few-units-in-1e7 rounding is far below what moves
    # a k-means fit, and the bounds that use these distances get a matching slack.
    points = points.astype(np.float32, copy=False)
    centers = centers.astype(np.float32)
    center_norms = np.einsum("ij,ij->i", centers, centers)
    n = len(points)
    labels = np.empty(n, dtype=np.intp)
    first = np.empty(n, dtype=np.float64)
    second = np.full(n, np.inf, dtype=np.float64)
    block = max(1, _BLOCK_PAIRS // max(1, len(centers)))
    for start in range(0, n, block):
        chunk = points[start : start + block]
        partial = center_norms - 2.0 * (chunk @ centers.T)
        chunk_labels = np.argmin(partial, axis=1)
        rows = np.arange(len(chunk))
        point_norms = np.einsum("ij,ij->i", chunk, chunk)
        labels[start : start + block] = chunk_labels
        first[start : start + block] = partial[rows, chunk_labels] + point_norms
        if len(centers) > 1:
            partial[rows, chunk_labels] = np.inf
            second[start : start + block] = partial.min(axis=1) + point_norms
    return labels, np.sqrt(np.maximum(first, 0.0)), np.sqrt(np.maximum(second, 0.0))


def lloyd(
    points: np.ndarray,
    weights: np.ndarray,
    centers: np.ndarray,
    *,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> KMeansResult:
    """Run weighted Lloyd iterations from `centers` until the centres stop moving.

    Exact Lloyd, made cheap near convergence by a margin test: once few points change cluster,
    every point's margin (distance to its second-nearest centre minus distance to its nearest)
    is measured; a point whose margin exceeds twice the largest distance any centre has moved
    since cannot have changed cluster, so later iterations only re-measure points near a
    boundary (and measure everything again when too many are).
    """
    k = len(centers)
    centers = centers.astype(np.float64, copy=True)
    points = points.astype(np.float64, copy=False)
    points32 = points.astype(np.float32)
    # scikit-learn's criterion: total squared centre shift below tol x mean feature variance.
    mean = weights @ points / weights.sum()
    threshold = tol * float(np.mean(weights @ (points - mean) ** 2 / weights.sum()))
    weighted_points = points * weights[:, None]
    labels = nearest_labels(points32, centers)
    totals, sums = _cluster_sums(labels, weights, weighted_points, k)
    margins: np.ndarray | None = None
    drift = np.zeros(k)
    settled = False
    for _ in range(max_iter):
        new_centers = centers.copy()
        filled = totals > 0
        new_centers[filled] = sums[filled] / totals[filled, None]
        if not filled.all():
            _, distances = nearest_centers(points32, centers)
            _relocate_empty(new_centers, ~filled, points, weights * distances)
            margins = None
        moved = np.sqrt(np.sum((new_centers - centers) ** 2, axis=1))
        centers = new_centers
        if float(np.sum(moved**2)) <= threshold:
            break
        if margins is not None:
            drift += moved
            near = np.flatnonzero(margins <= 2.0 * drift.max() + _BOUND_SLACK)
            if len(near) <= len(points) // 4:
                new_labels = nearest_labels(points32[near], centers)
                _move_points(near, labels, new_labels, weights, weighted_points, totals, sums)
                continue
        if settled:
            new_labels, first, second = two_nearest(points32, centers)
            margins, drift = (second - first).astype(np.float32), np.zeros(k)
        else:
            new_labels, margins = nearest_labels(points32, centers), None
        everyone = np.arange(len(points))
        n_changed = _move_points(
            everyone, labels, new_labels, weights, weighted_points, totals, sums
        )
        # Margins pay for their cost only on many points, once few still change cluster.
        settled = len(points) > _MARGINS_ABOVE_POINTS and n_changed < len(points) // 20
    # Inertia of the last assignment under the final centres: an upper bound on the true one,
    # equal to it at convergence, and enough to rank fits.
    residuals = points - centers[labels]
    inertia = float(weights @ np.einsum("ij,ij->i", residuals, residuals))
    return KMeansResult(centers=centers, inertia=inertia)


def _move_points(
    which: np.ndarray,
    labels: np.ndarray,
    new_labels: np.ndarray,
    weights: np.ndarray,
    weighted_points: np.ndarray,
    totals: np.ndarray,
    sums: np.ndarray,
) -> int:
    """Give points `which` their new labels, updating cluster totals and sums in place."""
    changed = new_labels != labels[which]
    moving = which[changed]
    if len(moving):
        k = len(totals)
        old, new = labels[moving], new_labels[changed]
        totals -= np.bincount(old, weights=weights[moving], minlength=k)
        totals += np.bincount(new, weights=weights[moving], minlength=k)
        for j in range(sums.shape[1]):
            column = weighted_points[moving, j]
            sums[:, j] -= np.bincount(old, weights=column, minlength=k)
            sums[:, j] += np.bincount(new, weights=column, minlength=k)
        labels[moving] = new
    return len(moving)


def _cluster_sums(
    labels: np.ndarray, weights: np.ndarray, weighted_points: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Total weight and weighted coordinate sums of each cluster."""
    totals = np.bincount(labels, weights=weights, minlength=k)
    sums = np.stack(
        [np.bincount(labels, weights=column, minlength=k) for column in weighted_points.T], axis=1
    )
    return totals, sums


def _relocate_empty(
    centers: np.ndarray, empty: np.ndarray, points: np.ndarray, costs: np.ndarray
) -> None:
    """Move empty clusters onto the points that cost the most, as scikit-learn does."""
    far = np.argsort(costs)[::-1][: int(empty.sum())]
    centers[np.flatnonzero(empty)[: len(far)]] = points[far]


def weighted_kmeans(
    points: np.ndarray,
    weights: np.ndarray,
    k: int,
    *,
    rng: np.random.Generator,
    n_init: int = 4,
    tol: float = 1e-4,
) -> KMeansResult:
    """Fit k centres from `n_init` k-means++ seedings and keep the lowest inertia."""
    results = [
        lloyd(points, weights, kmeans_plus_plus(points, weights, k, rng), tol=tol)
        for _ in range(n_init)
    ]
    return min(results, key=lambda result: result.inertia)
