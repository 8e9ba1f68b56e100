"""Auto-k: the fewest colours that reach a target PSNR, for a bounded cost.

PSNR grows about linearly with log k (2.3-3 dB per doubling of k on photos), so each k tried is
guessed from the PSNRs measured so far against log k: interpolated between a k that falls short
and one that reaches (a secant, kept inside that bracket), else extrapolated past the target.

Two kinds of fits, both measured on the whole histogram (nothing is encoded):

- a quick fit is the first part of a plain fit (`fit_centers(exact_refine=False)`: the k-means++
  seedings on the coarse bins, the best two on the fine bins);
- a full fit finishes a quick one (`refine_centers`), so the output at k is the very palette a
  plain job at k makes. From EXACT_FROM_K colours on it adds ~0.05-0.1 dB, a few colours' worth;
  below, under one.

Quick fits from 16 colours bracket the target. When the guess is past the largest k, the full
fit there comes at once: if it falls short too, the target is out of reach and that output, the
best PSNR there is, is the answer (`target_reached` false). The first k at or above EXACT_FROM_K
that reaches is fitted fully, to learn what the last stage adds; quick fits plus that gain then
predict the full fits' PSNR, and the bracket closes on quick fits. The k that closes it is
fitted fully: if it reaches, it is the answer (one colour fewer falls short by the prediction,
or by its own full fit); else the search goes on above it.

At most MAX_FITS fits, counting a quick fit and a full fit's end one each: each is at most one
plain fit, and a plain output is a fit plus remapping, encoding and statistics, so a search
stays under the AUTO_K_WORK_OUTPUTS plain outputs the work budget counts it as. Past the budget
the answer is the fewest colours whose fit reached the target. Only that k is encoded. With
dithering, the target applies to the undithered mapping.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from kcolors import defaults
from kcolors.engine.palette import (
    EXACT_FROM_K,
    fit_centers,
    nearest_palette_index,
    palette_of,
    refine_centers,
)
from kcolors.engine.stats import histogram_sse, psnr_from_sse

if TYPE_CHECKING:
    from kcolors.engine.decode import DecodedImage
    from kcolors.engine.histogram import ColorHistogram
    from kcolors.engine.outputs import QuantizedOutput
    from kcolors.engine.params import QuantizeParams

MAX_FITS = 10  # fits of one search: quick fits and full fits' ends, each at most one plain fit
START_K = 16
DB_PER_DOUBLING = 2.5  # PSNR gained per doubling of k, until two fits measure it
GAIN_MARGIN = 0.15  # share of that gain not counted on (it varies by ~0.01 dB from k to k)
AIM_PAST_DB = 0.3  # extrapolations aim this far past the target, to bracket it at once
_SLOPE_RANGE = (0.5, 8.0)  # dB per doubling believed from two fits


@dataclasses.dataclass(frozen=True)
class _Fit:
    """A palette the search measured."""

    centers: np.ndarray | None  # None: the image's own colours (lossless)
    palette: np.ndarray
    psnr: float  # inf when lossless


class _Search:
    """The fits of one auto-k search, each measured on the whole histogram, counted."""

    def __init__(
        self,
        histogram: ColorHistogram,
        params: QuantizeParams,
        target: float,
        on_step: Callable[[str], None] | None,
    ) -> None:
        self.histogram, self.space, self.seed = histogram, params.space, params.seed
        self.levels = histogram.levels(params.space)
        self.clear = int(bool(histogram.transparent.any()))
        self.n_values = int(histogram.counts.sum()) * histogram.colors.shape[1]
        self.target, self.on_step = target, on_step
        self.limit = max(defaults.MIN_K, min(defaults.MAX_K, len(histogram.colors)))
        self.quick: dict[int, _Fit] = {}
        self.full: dict[int, _Fit] = {}
        self.fits = 0

    def quick_fit(self, k: int) -> _Fit:
        """The first part of the plain fit of k colours (made once)."""
        if k not in self.quick:
            n_fit = k - self.clear
            if n_fit >= len(self.levels.colors):
                self.quick[k] = self._measure(k, None, "")
            else:
                centers = fit_centers(self.levels, n_fit, self.seed, exact_refine=False)
                self.fits += 1
                self.quick[k] = self._measure(k, centers, "")
        return self.quick[k]

    def full_fit(self, k: int) -> _Fit:
        """The plain fit of k colours, finishing its quick fit (made once)."""
        if k not in self.full:
            quick = self.quick_fit(k)
            centers = quick.centers
            if centers is not None:
                centers = refine_centers(self.levels, k - self.clear, centers)
            if centers is quick.centers:  # nothing left to refine: small images
                self.full[k] = quick
            else:
                self.fits += 1
                self.full[k] = self._measure(k, centers, " (full fit)")
        return self.full[k]

    def full_cost(self, k: int) -> int:
        """Fits that `full_fit(k)` would still make (at most)."""
        return (k not in self.quick) + (k not in self.full)

    def learns_gain(self, k: int) -> bool:
        """Whether the full fit of k would first tell what the last stage adds where it ends on
        the exact colours (EXACT_FROM_K colours on: a few colours' worth; below, under one)."""
        return self._exact(k) and not any(self._exact(m) for m in self.full)

    def _exact(self, k: int) -> bool:
        return k - self.clear >= EXACT_FROM_K

    def best(self, k: int) -> _Fit:
        """The better measured fit of k colours: the full one unless the quick one beats it."""
        quick, full = self.quick[k], self.full.get(k)
        return quick if full is None or quick.psnr > full.psnr else full

    def values(self) -> dict[int, float]:
        """The PSNR of each k tried: its best fit once fully fitted, else its quick fit plus
        what the last stage added to the latest full fit on the same side of EXACT_FROM_K, less
        a margin for how that varies from k to k (so that confirming a k rarely fails)."""
        gains = {False: 0.0, True: 0.0}
        for k, fit in self.full.items():  # in the order made: the latest wins
            gains[self._exact(k)] = max(0.0, fit.psnr - self.quick[k].psnr)
        values = {}
        for k, fit in self.quick.items():
            gain = gains[self._exact(k)]
            values[k] = self.best(k).psnr if k in self.full else fit.psnr + gain * (1 - GAIN_MARGIN)
        return values

    def _measure(self, k: int, centers: np.ndarray | None, kind: str) -> _Fit:
        palette = palette_of(self.histogram, centers, self.space)
        labels = nearest_palette_index(self.histogram.colors, palette, space=self.space)
        psnr = psnr_from_sse(histogram_sse(self.histogram, palette, labels), self.n_values)
        if self.on_step is not None:
            reached = "lossless" if psnr is None else f"{psnr:.1f} dB"
            self.on_step(f"Auto-k: tried {k} colours{kind}, {reached} (target {self.target:g} dB)")
        return _Fit(centers, palette, math.inf if psnr is None else psnr)


def quantize_to_target(
    image: DecodedImage,
    histogram: ColorHistogram,
    params: QuantizeParams,
    quantize_for_k: Callable[..., QuantizedOutput],
    on_step: Callable[[str], None] | None = None,
) -> QuantizedOutput:
    """Make the output with the fewest colours (<= 256) whose PSNR reaches the target, or the
    best there is when none does; `on_step` hears each fit, in words."""
    if params.target_psnr is None:
        raise ValueError("auto-k needs a target_psnr")
    started = time.perf_counter()
    search = _Search(histogram, params, params.target_psnr, on_step)
    k, fit = _search(search)
    searched = round(time.perf_counter() - started, 6)
    output = quantize_for_k(image, histogram, k, params, palette=fit.palette)
    stats = {
        **output.stats,
        "timings": {"search": searched, **output.stats["timings"]},
        "auto": True,
        "target_psnr": params.target_psnr,
        "target_reached": fit.psnr >= search.target,
        "search_psnr": None if math.isinf(fit.psnr) else round(fit.psnr, 4),
        "search_steps": search.fits,
    }
    return dataclasses.replace(output, stats=stats)


def _search(search: _Search) -> tuple[int, _Fit]:
    """The chosen k and its palette, within MAX_FITS fits."""
    target, limit = search.target, search.limit
    low_end = defaults.MIN_K - 1
    low, high = low_end, limit + 1  # low falls short, high reaches (or sentinels past the ends)
    while True:
        values = search.values()
        if high > limit:  # nothing reaches yet: aim higher, or try the largest k at once
            k = _guess(values, low, high, target, limit) if values else min(START_K, limit)
            if k >= limit or search.fits + 3 > MAX_FITS:  # keep the top's full fit affordable
                search.full_fit(limit)
                if search.values()[limit] < target:
                    return limit, search.best(limit)
                high = limit
            else:
                search.quick_fit(k)
                low, high = (low, k) if search.values()[k] >= target else (k, high)
        elif high not in search.full and (high - low <= 1 or search.learns_gain(high)):
            # Confirm with the full fit, or learn early what the last stage adds where it counts.
            if search.fits + search.full_cost(high) > MAX_FITS:
                break
            search.full_fit(high)
            values = search.values()
            if values[high] < target:
                low = high
                reaching = [k for k in values if k > low and values[k] >= target]
                high = min(reaching, default=limit + 1)
            low = max((k for k in values if k < high and values[k] < target), default=low_end)
        elif high - low <= 1 or search.fits + 2 > MAX_FITS:  # room for one full fit more
            break
        else:
            k = _guess(values, low, high, target, limit)
            search.quick_fit(k)
            low, high = (low, k) if search.values()[k] >= target else (k, high)
    k = min(k for k in search.quick if search.best(k).psnr >= target)  # high's, or one above
    return k, search.best(k)


def _guess(measured: dict[int, float], low: int, high: int, target: float, limit: int) -> int:
    """The next k to try, strictly between `low` and `high` (up to `limit`): the target's
    crossing of PSNR against log k, interpolated or extrapolated from the measured PSNRs."""
    below = [k for k in measured if low <= k < high and measured[k] < target]
    above = [k for k in measured if max(below, default=low) < k <= high and measured[k] >= target]
    if below and above:
        a, b = max(below), min(above)
        if math.isinf(measured[b]):
            x = (math.log2(a) + math.log2(b)) / 2
        else:
            x = math.log2(a) + (target - measured[a]) * math.log2(b / a) / (
                measured[b] - measured[a]
            )
    else:
        base = max(below) if below else min(above)
        others = sorted(
            (k for k in measured if k != base and not math.isinf(measured[k])),
            key=lambda k: abs(math.log2(k / base)),
        )
        slope = DB_PER_DOUBLING
        if others:
            other = others[0]
            slope = (measured[base] - measured[other]) / math.log2(base / other)
            slope = min(max(slope, _SLOPE_RANGE[0]), _SLOPE_RANGE[1])
        if math.isinf(measured[base]):  # lossless: no slope to follow down, halve
            x = math.log2(base) - 1
        else:
            aim = target + (AIM_PAST_DB if below else -AIM_PAST_DB)
            x = math.log2(base) + (aim - measured[base]) / slope
    guess = round(2.0 ** min(x, 9.0))
    return min(max(guess, low + 1), high - 1, limit)
