"""Colour histograms: the distinct colours of an image with their pixel counts, and coarser bins."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kcolors.engine.colorspace import srgb_to_lab

# Above this many pixels, an RGB histogram is counted with one bincount over all 2**24 codes
# (a fixed cost of about 0.1 s); below it, sorting the pixel codes is cheaper.
_BINCOUNT_ABOVE_PIXELS = 1 << 20
# Histograms with more distinct colours than this are fitted on binned colours first.
_BIN_ABOVE_COLORS = 8192
_MIN_COARSE_BINS = 2000


@dataclass(frozen=True)
class WeightedPoints:
    """Points of a clustering space with their weights (pixel counts), plus their mean colours."""

    points: np.ndarray  # (n, d) float64 features
    weights: np.ndarray  # (n,) float64
    values: np.ndarray  # (n, C) float64 mean 0..255 colour values (to measure errors in)


@dataclass(frozen=True)
class ColorLevels:
    """The visible colours of an image in one clustering space, exact and binned."""

    colors: np.ndarray  # (D, C) uint8 visible colours
    exact: WeightedPoints
    fine: WeightedPoints | None  # None when binning would not save much over the exact colours
    coarse: WeightedPoints | None  # None when there are few enough colours to fit directly


@dataclass(frozen=True)
class ColorHistogram:
    """The distinct colours of an image, their pixel counts and the way back to the pixels."""

    colors: np.ndarray  # (D, C) uint8, C = 3 (RGB) or 4 (RGBA)
    counts: np.ndarray  # (D,) int64
    shape: tuple[int, int]  # (height, width)
    _codes: np.ndarray = field(repr=False)  # (D,) sorted int64 codes of `colors`
    _pixel_codes: np.ndarray | None = field(repr=False)  # the code of every pixel (bincount path)
    _inverse: np.ndarray | None = field(repr=False)  # the colour index of every pixel (sort path)
    _levels: dict[str, ColorLevels] = field(default_factory=dict, repr=False, compare=False)

    @property
    def has_alpha(self) -> bool:
        """Whether colours carry an alpha channel."""
        return self.colors.shape[1] == 4

    @property
    def transparent(self) -> np.ndarray:
        """Mask of the fully transparent colours."""
        if not self.has_alpha:
            return np.zeros(len(self.colors), dtype=bool)
        return self.colors[:, 3] == 0

    def spread(self, per_color: np.ndarray) -> np.ndarray:
        """Turn one uint8 value per distinct colour into an image of one value per pixel."""
        if self._pixel_codes is not None:
            lookup = np.zeros(1 << 24, dtype=np.uint8)
            lookup[self._codes] = per_color
            flat = lookup[self._pixel_codes]
        else:
            flat = per_color.astype(np.uint8)[self._inverse]
        return flat.reshape(self.shape)

    def levels(self, space: str) -> ColorLevels:
        """The visible colours in `space`, exact and binned (computed once per space)."""
        if space not in self._levels:
            visible = ~self.transparent
            self._levels[space] = color_levels(self.colors[visible], self.counts[visible], space)
        return self._levels[space]


def build_histogram(pixels: np.ndarray) -> ColorHistogram:
    """Count the distinct colours of an (h, w, 3|4) uint8 image."""
    height, width, channels = pixels.shape
    flat = pixels.reshape(-1, channels)
    # Pack each pixel into a little-endian int64 code 0x[AA]BBGGRR: one strided copy, and
    # already the index type bincount and fancy indexing want, so they convert nothing.
    padded = np.zeros((len(flat), 8), dtype=np.uint8)
    padded[:, :channels] = flat
    pixel_codes = padded.view("<i8")[:, 0]
    kept_codes: np.ndarray | None = pixel_codes
    if channels == 3 and len(pixel_codes) > _BINCOUNT_ABOVE_PIXELS:
        counts = np.bincount(pixel_codes, minlength=1 << 24)
        codes = np.flatnonzero(counts)
        counts, inverse = counts[codes], None
    else:
        codes, inverse, counts = np.unique(pixel_codes, return_inverse=True, return_counts=True)
        kept_codes = None
    colors = codes.astype("<i8").view(np.uint8).reshape(-1, 8)[:, :channels].copy()
    return ColorHistogram(
        colors, counts.astype(np.int64), (height, width), codes, kept_codes, inverse
    )


def to_features(colors: np.ndarray, space: str) -> np.ndarray:
    """Map uint8 colours to the clustering space: RGB(A) as is, or CIELAB (+ alpha)."""
    if space == "lab":
        lab = srgb_to_lab(colors[:, :3])
        if colors.shape[1] == 4:
            lab = np.column_stack([lab, colors[:, 3] * (100.0 / 255.0)])
        return lab
    return colors.astype(np.float64)


def color_levels(colors: np.ndarray, counts: np.ndarray, space: str) -> ColorLevels:
    """Build the exact and binned weighted points of some colours in a clustering space.

    The coarse bins are the coarsest grid with at least `_MIN_COARSE_BINS` occupied bins (a
    fixed grid would leave a photo of few hues with too few bins to seed from); the fine bins
    are one bit finer, when that still saves a quarter of the points.
    """
    weights = counts.astype(np.float64)
    exact = WeightedPoints(to_features(colors, space), weights, colors.astype(np.float64))
    if len(colors) <= _BIN_ABOVE_COLORS:
        return ColorLevels(colors, exact, None, None)
    bits = 4
    coarse = bin_colors(colors, exact, bits)
    while len(coarse.points) < _MIN_COARSE_BINS and bits < 7:
        bits += 1
        coarse = bin_colors(colors, exact, bits)
    fine = bin_colors(colors, exact, bits + 1) if bits < 7 else None
    if fine is not None and len(fine.points) > len(colors) * 3 // 4:
        fine = None
    return ColorLevels(colors, exact, fine, coarse)


def bin_colors(colors: np.ndarray, exact: WeightedPoints, bits: int) -> WeightedPoints:
    """Group colours into bins of `bits` per channel: each bin's weighted mean and weight."""
    shift = 8 - bits
    bins = np.zeros(len(colors), dtype=np.int64)
    for channel in range(colors.shape[1]):
        bins = (bins << bits) | (colors[:, channel] >> shift)
    occupied = np.bincount(bins) > 0
    bin_of_color = (np.cumsum(occupied) - 1)[bins]
    weights = np.bincount(bin_of_color, weights=exact.weights)

    def mean(columns: np.ndarray) -> np.ndarray:
        sums = [np.bincount(bin_of_color, weights=exact.weights * c) for c in columns.T]
        return np.stack(sums, axis=1) / weights[:, None]

    return WeightedPoints(mean(exact.points), weights, mean(exact.values))
