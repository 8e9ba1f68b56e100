"""The compiled kernels against plain numpy versions of the same computations."""

import numpy as np
import pytest

from kcolors.engine import kernels
from kcolors.engine.kmeans import kmeans_plus_plus, lloyd, nearest_centers
from tests.images import noisy_photo, with_alpha


def first_appearance_unique(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """np.unique, renumbered in order of first appearance (the kernels' order)."""
    colors, first, inverse, counts = np.unique(
        flat, axis=0, return_index=True, return_inverse=True, return_counts=True
    )
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return colors[order], counts[order], rank[inverse.ravel()]


@pytest.mark.parametrize(
    "pixels",
    [
        noisy_photo(),
        with_alpha(noisy_photo()),
        # over 2**20 RGB pixels: the table of all 2**24 colours instead of the hash table
        np.random.default_rng(0).integers(0, 256, (1030, 1024, 3), dtype=np.uint8) // 3,
    ],
    ids=["rgb", "rgba", "rgb-direct"],
)
def test_histogram_matches_numpy_unique(pixels):
    colors, counts, inverse = kernels.histogram(pixels)
    flat = pixels.reshape(-1, pixels.shape[2])
    expected_colors, expected_counts, expected_inverse = first_appearance_unique(flat)
    assert np.array_equal(colors, expected_colors)
    assert np.array_equal(counts, expected_counts)
    assert np.array_equal(inverse, expected_inverse)
    assert np.array_equal(colors[inverse], flat)


def test_spread_puts_each_colours_value_on_its_pixels():
    pixels = noisy_photo()
    colors, _, inverse = kernels.histogram(pixels)
    values = (np.arange(len(colors)) % 251).astype(np.uint8)
    spread = kernels.spread(inverse, values, (60, 80))
    assert np.array_equal(spread, values[inverse].reshape(60, 80))


def brute_force(points: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    distances = ((points[:, None, :] - centers[None, :, :]) ** 2).sum(2)
    return distances.argmin(1), distances.min(1)


@pytest.mark.parametrize("k", [1, 2, 7, 23, 24, 64, 256])
def test_nearest_is_exact_with_ties_to_the_lowest_index(k):
    rng = np.random.default_rng(k)
    points = rng.integers(0, 256, (3000, 3)).astype(float)
    centers = rng.integers(0, 256, (k, 3)).astype(float)
    centers[k // 2 :: 5] = centers[0]  # exact duplicates: ties
    points[:50] = centers[rng.integers(0, k, 50)]  # points on centres
    labels, distances = nearest_centers(points, centers)
    expected_labels, expected_distances = brute_force(points, centers)
    assert np.array_equal(labels, expected_labels)
    assert np.array_equal(distances, expected_distances)


def plain_lloyd(points, weights, centers, iterations):
    """Textbook weighted Lloyd (empty clusters keep their centre)."""
    centers = centers.copy()
    for _ in range(iterations):
        labels, _ = brute_force(points, centers)
        for j in range(len(centers)):
            mine = labels == j
            if weights[mine].sum() > 0:
                centers[j] = weights[mine] @ points[mine] / weights[mine].sum()
    return centers


@pytest.mark.parametrize("k", [5, 40])
def test_lloyd_with_bounds_takes_the_same_steps_as_plain_lloyd(k):
    rng = np.random.default_rng(k)
    points = np.vstack([c + rng.normal(0, 18, (300, 3)) for c in rng.uniform(0, 255, (12, 3))])
    weights = rng.integers(1, 9, len(points)).astype(float)
    start = points[rng.choice(len(points), k, replace=False)]
    for iterations in (1, 3, 12):
        fitted = lloyd(points, weights, start, max_iter=iterations, tol=0.0)
        expected = plain_lloyd(points, weights, start, iterations)
        assert np.allclose(fitted.centers, expected, atol=1e-7)
        _, distances = brute_force(points, fitted.centers)
        assert fitted.inertia >= weights @ distances - 1e-6


def test_seeding_is_deterministic_and_picks_distinct_points():
    rng_points = np.random.default_rng(3)
    points = rng_points.integers(0, 256, (500, 3)).astype(float)
    weights = rng_points.integers(1, 5, 500).astype(float)
    first = kmeans_plus_plus(points, weights, 32, np.random.default_rng(9))
    second = kmeans_plus_plus(points, weights, 32, np.random.default_rng(9))
    assert np.array_equal(first, second)
    assert len(np.unique(first, axis=0)) == 32
    assert {tuple(c) for c in first} <= {tuple(p) for p in points}


def test_group_means_match_numpy():
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 50, 2000).astype(np.uint32)
    weights = rng.uniform(1, 3, 2000)
    columns = rng.uniform(0, 255, (2000, 3))
    group_codes, totals, means = kernels.group_means(codes, weights, columns)
    _, first = np.unique(codes, return_index=True)
    assert np.array_equal(group_codes, codes[np.sort(first)])
    for code, total, mean in zip(group_codes, totals, means, strict=True):
        mine = codes == code
        assert np.isclose(total, weights[mine].sum())
        assert np.allclose(mean, weights[mine] @ columns[mine] / weights[mine].sum())
