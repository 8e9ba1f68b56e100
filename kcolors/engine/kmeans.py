"""Weighted k-means: k-means++ seeding and Lloyd iterations over weighted points.

The points are a colour histogram (each distinct colour or bin once, weighted by its pixel count),
so a few hundred thousand points stand for millions of pixels; the objective is exactly the
per-pixel k-means objective. The loops run in the compiled kernels (`kernels.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kcolors.engine import kernels

MAX_ITER = 300
TOL = 1e-4  # scikit-learn's: the centres' total squared shift, in units of the mean variance


@dataclass(frozen=True)
class KMeansResult:
    """Centres of a weighted k-means fit and its inertia (weighted sum of squared distances)."""

    centers: np.ndarray
    inertia: float
    iterations: int = 0


def nearest_centers(points: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each point's nearest centre (lowest index on ties) and squared distance to it."""
    return kernels.nearest(points, centers)


def nearest_labels(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Return each point's nearest centre (lowest index on ties), without the distances."""
    return kernels.nearest(points, centers)[0]


def candidates_per_step(k: int) -> int:
    """k-means++ draws this many candidates per centre and keeps the best (scikit-learn's rule)."""
    return 2 + int(np.log(k))


def kmeans_plus_plus(
    points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Pick k initial centres by weighted greedy k-means++ (as scikit-learn does)."""
    empty = np.empty((0, points.shape[1]))
    return kernels.seed(points, weights, empty, k, rng, candidates_per_step(k))


def lloyd(
    points: np.ndarray,
    weights: np.ndarray,
    centers: np.ndarray,
    *,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> KMeansResult:
    """Run weighted Lloyd iterations from `centers` until the centres stop moving.

    Exact Lloyd, made cheap by Hamerly's bounds: a point is measured again only when the bound
    on its distance to its own centre exceeds the bound on its distance to every other one.
    """
    fitted, _, inertia, iterations = kernels.lloyd(points, weights, centers, max_iter, tol)
    return KMeansResult(centers=fitted, inertia=inertia, iterations=iterations)


def weighted_kmeans(
    points: np.ndarray,
    weights: np.ndarray,
    k: int,
    *,
    rng: np.random.Generator,
    n_init: int = 4,
    tol: float = TOL,
) -> KMeansResult:
    """Fit k centres from `n_init` k-means++ seedings and keep the lowest inertia."""
    results = [
        lloyd(points, weights, kmeans_plus_plus(points, weights, k, rng), tol=tol)
        for _ in range(n_init)
    ]
    return min(results, key=lambda result: result.inertia)
