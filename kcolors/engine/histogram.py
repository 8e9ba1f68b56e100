"""Colour histograms: the distinct colours of an image with their pixel counts, and coarser bins."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kcolors.engine import kernels
from kcolors.engine.colorspace import srgb_to_lab

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
    # Bins of 7 bits per channel (2 x 2 x 2 colours), None when they would not save a quarter
    # of the colours: where fits of fewer than EXACT_FROM_K colours end.
    near: WeightedPoints | None = None


@dataclass(frozen=True)
class ColorHistogram:
    """The distinct colours of an image, their pixel counts and the way back to the pixels."""

    colors: np.ndarray  # (D, C) uint8, C = 3 (RGB) or 4 (RGBA), in order of first appearance
    counts: np.ndarray  # (D,) int64
    shape: tuple[int, int]  # (height, width)
    _inverse: np.ndarray = field(repr=False)  # (h * w,) uint32: the colour of every pixel
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
        return kernels.spread(self._inverse, per_color, self.shape)

    def levels(self, space: str) -> ColorLevels:
        """The visible colours in `space`, exact and binned (computed once per space)."""
        if space not in self._levels:
            visible = ~self.transparent
            colors, counts = self.colors, self.counts
            if not visible.all():
                colors, counts = colors[visible], counts[visible]
            self._levels[space] = color_levels(colors, counts, space)
        return self._levels[space]


def build_histogram(pixels: np.ndarray) -> ColorHistogram:
    """Count the distinct colours of an (h, w, 3|4) uint8 image (one compiled pass)."""
    height, width, _ = pixels.shape
    colors, counts, inverse = kernels.histogram(pixels)
    return ColorHistogram(colors, counts, (height, width), inverse)


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
    are one bit finer, when that still saves a quarter of the points. Bins of 7 bits per channel
    are made from the colours, and each coarser grid from the bins one bit finer (a bin is the
    union of its eight sub-bins), so the colours are grouped once.
    """
    weights = counts.astype(np.float64)
    points = to_features(colors, space)
    values = points if space == "rgb" else colors.astype(np.float64)
    exact = WeightedPoints(points, weights, values)
    if len(colors) <= _BIN_ABOVE_COLORS:
        return ColorLevels(colors, exact, None, None)
    grids: dict[int, WeightedPoints] = {}
    cells, source = colors >> 1, exact
    for bits in range(7, 3, -1):
        grids[bits], cells = bin_points(cells, source, bits)
        source, cells = grids[bits], cells >> 1
    bits = next((b for b in range(4, 7) if len(grids[b].points) >= _MIN_COARSE_BINS), 7)
    fine = grids.get(bits + 1)
    if fine is not None and len(fine.points) > len(colors) * 3 // 4:
        fine = None
    near = grids[7] if len(grids[7].points) <= len(colors) * 3 // 4 else None
    return ColorLevels(colors, exact, fine, grids[bits], near)


def bin_points(
    cells: np.ndarray, source: WeightedPoints, bits: int
) -> tuple[WeightedPoints, np.ndarray]:
    """Group points by their cell (`bits` per channel): each bin's weighted means and weight.

    Returns the bins and each bin's cell. A bin's mean is over the colours it holds, whether
    `source` holds those colours or finer bins of them.
    """
    codes = np.zeros(len(cells), dtype=np.uint32)
    for channel in range(cells.shape[1]):
        codes = (codes << bits) | cells[:, channel]
    same = source.values is source.points
    columns = source.points if same else np.hstack([source.points, source.values])
    bin_codes, weights, means = kernels.group_means(codes, source.weights, columns)
    d = source.points.shape[1]
    points = means[:, :d]
    binned = WeightedPoints(points, weights, points if same else means[:, d:])
    n_channels = cells.shape[1]
    shifts = bits * np.arange(n_channels - 1, -1, -1, dtype=np.uint32)
    bin_cells = ((bin_codes[:, None] >> shifts) & ((1 << bits) - 1)).astype(np.uint8)
    return binned, bin_cells
