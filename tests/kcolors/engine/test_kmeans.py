import numpy as np

from kcolors.engine.kmeans import kmeans_plus_plus, lloyd, nearest_centers, weighted_kmeans


def test_weights_equal_repeated_points():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 255, (200, 3))
    weights = rng.integers(1, 5, 200)
    repeated = np.repeat(points, weights, axis=0)
    start = points[:4].copy()
    weighted = lloyd(points, weights.astype(float), start, tol=0)
    plain = lloyd(repeated, np.ones(len(repeated)), start, tol=0)
    assert np.allclose(weighted.centers, plain.centers)
    assert np.isclose(weighted.inertia, plain.inertia)


def test_nearest_centers_matches_brute_force():
    rng = np.random.default_rng(1)
    points = rng.integers(0, 256, (500, 3)).astype(np.float32)
    centers = rng.integers(0, 256, (17, 3)).astype(np.float32)
    labels, distances = nearest_centers(points, centers)
    brute = ((points[:, None].astype(int) - centers[None].astype(int)) ** 2).sum(2)
    assert np.array_equal(labels, brute.argmin(1))
    assert np.array_equal(distances, brute.min(1))


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(2)
    truth = np.array([[10.0, 10, 10], [200, 30, 30], [30, 200, 100]])
    points = np.vstack([c + rng.normal(0, 2, (50, 3)) for c in truth])
    result = weighted_kmeans(points, np.ones(len(points)), 3, rng=np.random.default_rng(0))
    assert np.abs(np.sort(result.centers, 0) - np.sort(truth, 0)).max() < 2


def test_kmeans_plus_plus_picks_distinct_points_when_there_are_enough():
    points = np.array([[0.0, 0, 0], [0, 0, 0], [255, 255, 255], [0, 255, 0]])
    centers = kmeans_plus_plus(points, np.ones(4), 3, np.random.default_rng(0))
    assert len(np.unique(centers, axis=0)) == 3


def test_an_empty_cluster_is_moved_onto_the_costliest_point():
    points = np.array([[0.0, 0, 0], [2, 0, 0], [100, 0, 0], [250, 250, 250]])
    # The third centre starts where no point is nearest to it.
    start = np.array([[1.0, 0, 0], [200, 200, 200], [-100, -100, -100]])
    result = lloyd(points, np.ones(4), start)
    assert np.allclose(np.sort(result.centers[:, 0]), [1, 100, 250])
    assert np.isclose(result.inertia, 2.0)
