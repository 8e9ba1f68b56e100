"""Auto-k: the fewest colours that reach a target PSNR.

First an estimate on the coarse bins, each candidate k warm-started from a smaller fit extended
by k-means++ (never refitted from scratch), with the PSNR estimated from the bins plus the
scatter inside them. Then a bracket-and-bisect search around the estimate with real fits, whose
PSNR comes from the histogram (no encoding); only the chosen k is encoded. With dithering, the
PSNR searched on is that of the undithered mapping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from kcolors import defaults
from kcolors.engine.kmeans import extend_centers, kmeans_plus_plus, lloyd, nearest_centers
from kcolors.engine.palette import fit_palette, from_features, nearest_palette_index
from kcolors.engine.stats import histogram_sse, psnr_from_sse

if TYPE_CHECKING:
    from kcolors.engine.decode import DecodedImage
    from kcolors.engine.histogram import ColorHistogram
    from kcolors.engine.params import QuantizeParams
    from kcolors.engine.quantize import QuantizedOutput

_SEARCH_ITERATIONS = 20  # Lloyd iterations per warm-started candidate


class _PsnrEstimator:
    """Estimates the PSNR of n fitted colours from binned colours, growing fits incrementally."""

    def __init__(self, histogram: ColorHistogram, space: str, seed: int) -> None:
        levels = histogram.levels(space)
        binned = levels.coarse or levels.exact
        self.points, self.weights, self.values = binned.points, binned.weights, binned.values
        # Squared error inside the bins, which assigning whole bins does not see.
        exact = levels.exact
        within = exact.weights @ np.sum(exact.values**2, axis=1)
        self.scatter = max(0.0, float(within - self.weights @ np.sum(self.values**2, axis=1)))
        self.n_colors = len(levels.colors)
        self.n_values = int(histogram.counts.sum()) * histogram.colors.shape[1]
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.fits: dict[int, np.ndarray] = {}

    def centers(self, n: int) -> np.ndarray:
        """Fit n centres, starting from the largest smaller fit extended by k-means++."""
        smaller = [m for m in self.fits if m < n]
        if smaller:
            start = extend_centers(self.points, self.weights, self.fits[max(smaller)], n, self.rng)
        else:
            start = kmeans_plus_plus(self.points, self.weights, n, self.rng)
        self.fits[n] = lloyd(self.points, self.weights, start, max_iter=_SEARCH_ITERATIONS).centers
        return self.fits[n]

    def psnr(self, n: int) -> float:
        """Estimated PSNR (inf when lossless) of n colours."""
        if n >= self.n_colors:
            return float("inf")
        centers = self.centers(n)
        labels, _ = nearest_centers(self.points, centers)
        centre_values = from_features(centers, self.space).astype(np.float64)
        error = self.values - centre_values[labels]
        sse = float(self.weights @ np.sum(error**2, axis=1)) + self.scatter
        psnr = psnr_from_sse(sse, self.n_values)
        return float("inf") if psnr is None else psnr


def estimate_fit_size(histogram: ColorHistogram, target: float, space: str, seed: int) -> int:
    """Estimate the fewest fitted colours whose PSNR reaches `target`."""
    estimator = _PsnrEstimator(histogram, space, seed)
    has_clear = bool(histogram.transparent.any())
    largest = max(1, min(defaults.MAX_K - int(has_clear), estimator.n_colors))
    low, high = 0, largest  # psnr(low) < target (or low unfitted); psnr(high) assumed enough
    n = 1
    while n < largest:
        if estimator.psnr(n) >= target:
            high = n
            break
        low, n = n, min(2 * n, largest)
    while high - low > 1:
        middle = (low + high) // 2
        if estimator.psnr(middle) >= target:
            high = middle
        else:
            low = middle
    return high


def quantize_to_target(
    image: DecodedImage,
    histogram: ColorHistogram,
    params: QuantizeParams,
    quantize_for_k: Callable[..., QuantizedOutput],
    on_step: Callable[[str], None] | None = None,
) -> QuantizedOutput:
    """Make the output with the fewest colours (<= 256) whose real PSNR reaches the target;
    `on_step` hears each k tried, in words."""
    if params.target_psnr is None:
        raise ValueError("auto-k needs a target_psnr")
    target = params.target_psnr
    n_values = int(histogram.counts.sum()) * histogram.colors.shape[1]
    full_palettes: dict[int, np.ndarray] = {}

    def reaches(k: int, exact_refine: bool = False) -> bool:
        palette = fit_palette(histogram, k, space=params.space, seed=params.seed,
                              exact_refine=exact_refine)  # fmt: skip
        if exact_refine:
            full_palettes[k] = palette
        labels = nearest_palette_index(histogram.colors, palette, space=params.space)
        psnr = psnr_from_sse(histogram_sse(histogram, palette, labels), n_values)
        if on_step is not None:
            reached = "lossless" if psnr is None else f"{psnr:.1f} dB"
            on_step(f"Auto-k: tried {k} colours, {reached} (target {target:g} dB)")
        return psnr is None or psnr >= target

    has_clear = bool(histogram.transparent.any())
    n_fit = estimate_fit_size(histogram, target, params.space, params.seed)
    limit = max(defaults.MIN_K, min(defaults.MAX_K, len(histogram.colors)))
    guess = min(limit, max(defaults.MIN_K, n_fit + int(has_clear)))
    low, high = _bracket(guess, limit, reaches)
    while high - low > 1:  # low fails (or is below the smallest k), high reaches (or is limit)
        middle = (low + high) // 2
        if reaches(middle):
            high = middle
        else:
            low = middle
    # The search fitted without the exact level; the full fit of one colour fewer may still
    # reach the target.
    while high > defaults.MIN_K and reaches(high - 1, exact_refine=True):
        high -= 1
    output = quantize_for_k(image, histogram, high, params, palette=full_palettes.get(high))
    stats = {**output.stats, "auto": True, "target_psnr": target}
    return dataclasses.replace(output, stats=stats)


def _bracket(guess: int, limit: int, reaches: Callable[[int], bool]) -> tuple[int, int]:
    """Find low < high around the guess with low failing and high reaching, in doubling steps."""
    step = 1
    if reaches(guess):
        high = guess
        while high - step >= defaults.MIN_K and reaches(high - step):
            high, step = high - step, step * 2
        return max(defaults.MIN_K - 1, high - step), high
    low = guess
    while low + step < limit and not reaches(low + step):
        low, step = low + step, step * 2
    return low, min(low + step, limit)
