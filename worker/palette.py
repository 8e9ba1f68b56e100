"""Colour histograms, palette fitting (weighted k-means on the histogram) and exact remapping."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worker.colorspace import lab_to_srgb, srgb_to_lab
from worker.kmeans import lloyd, nearest_centers, weighted_kmeans

# Histograms with more distinct colours than this are first fitted on coarse bins.
_COARSE_ABOVE_COLORS = 8192
_COARSE_BITS = 5  # bits kept per channel for seeding (at most 32768 bins for RGB)
_FINE_BITS = 6  # bits per channel for the intermediate fit
_EXACT_ITERATIONS = 3  # Lloyd iterations on the exact colours, polishing the fine fit
N_INIT = 4  # k-means++ seedings tried on the coarse bins; the best one is refined


@dataclass(frozen=True)
class ColorHistogram:
    """The distinct colours of an image, their pixel counts and the way back to the pixels."""

    colors: np.ndarray  # (D, C) uint8, C = 3 (RGB) or 4 (RGBA)
    counts: np.ndarray  # (D,) int64
    shape: tuple[int, int]  # (height, width)
    _codes: np.ndarray = field(repr=False)  # (D,) sorted uint32 codes of `colors`
    _pixel_codes: np.ndarray | None = field(repr=False)  # RGB: the code of every pixel
    _inverse: np.ndarray | None = field(repr=False)  # RGBA: the colour index of every pixel

    @property
    def has_alpha(self) -> bool:
        """Whether colours carry an alpha channel."""
        return self.colors.shape[1] == 4

    def spread(self, per_color: np.ndarray) -> np.ndarray:
        """Turn one uint8 value per distinct colour into an image of one value per pixel."""
        if self._pixel_codes is not None:
            lookup = np.zeros(1 << 24, dtype=np.uint8)
            lookup[self._codes] = per_color
            flat = lookup[self._pixel_codes]
        else:
            flat = per_color.astype(np.uint8)[self._inverse]
        return flat.reshape(self.shape)


def build_histogram(pixels: np.ndarray) -> ColorHistogram:
    """Count the distinct colours of an (h, w, 3|4) uint8 image."""
    height, width, channels = pixels.shape
    flat = pixels.reshape(-1, channels)
    if channels == 3:
        # Pack each pixel into a little-endian 24-bit code, then count with one bincount.
        padded = np.zeros((len(flat), 4), dtype=np.uint8)
        padded[:, :3] = flat
        pixel_codes = padded.view("<u4")[:, 0]
        counts = np.bincount(pixel_codes, minlength=1 << 24)
        codes = np.flatnonzero(counts).astype("<u4")
        colors = codes.view(np.uint8).reshape(-1, 4)[:, :3].copy()
        return ColorHistogram(colors, counts[codes], (height, width), codes, pixel_codes, None)
    # RGBA needs 32-bit codes, too many for a bincount table: sort instead.
    pixel_codes = np.ascontiguousarray(flat).view("<u4")[:, 0]
    codes, inverse, counts = np.unique(pixel_codes, return_inverse=True, return_counts=True)
    colors = codes.astype("<u4").view(np.uint8).reshape(-1, 4).copy()
    return ColorHistogram(colors, counts.astype(np.int64), (height, width), codes, None, inverse)


def to_features(colors: np.ndarray, space: str) -> np.ndarray:
    """Map uint8 colours to the clustering space: RGB(A) as is, or CIELAB (+ alpha)."""
    if space == "lab":
        lab = srgb_to_lab(colors[:, :3])
        if colors.shape[1] == 4:
            lab = np.column_stack([lab, colors[:, 3] * (100.0 / 255.0)])
        return lab
    return colors.astype(np.float64)


def from_features(features: np.ndarray, space: str) -> np.ndarray:
    """Map cluster centres back to uint8 colours."""
    if space == "lab":
        rgb = lab_to_srgb(features[:, :3])
        if features.shape[1] == 4:
            rgb = np.column_stack([rgb, features[:, 3] * (255.0 / 100.0)])
        features = rgb
    return np.clip(np.rint(features), 0, 255).astype(np.uint8)


def coarse_bins(
    colors: np.ndarray, counts: np.ndarray, features: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """Group colours into bins of `bits` per channel; return bin means (features) and weights."""
    shift = 8 - bits
    bins = np.zeros(len(colors), dtype=np.int64)
    for channel in range(colors.shape[1]):
        bins = (bins << bits) | (colors[:, channel] >> shift)
    _, bin_of_color = np.unique(bins, return_inverse=True)
    weights = np.bincount(bin_of_color, weights=counts)
    sums = np.stack([np.bincount(bin_of_color, weights=counts * f) for f in features.T], axis=1)
    return sums / weights[:, None], weights


def fit_centers(
    features: np.ndarray, counts: np.ndarray, colors: np.ndarray, k: int, seed: int
) -> np.ndarray:
    """Fit k centres to weighted colours: seed on coarse bins, refine on finer ones, then exact."""
    weights = counts.astype(np.float64)
    if len(features) <= _COARSE_ABOVE_COLORS:
        return weighted_kmeans(features, weights, k, seed=seed, n_init=N_INIT).centers
    coarse = coarse_bins(colors, weights, features, _COARSE_BITS)
    fine = coarse_bins(colors, weights, features, _FINE_BITS)
    start = weighted_kmeans(*coarse, k, seed=seed, n_init=N_INIT).centers
    start = lloyd(*fine, start).centers
    return lloyd(features, weights, start, max_iter=_EXACT_ITERATIONS).centers


def fit_palette(
    histogram: ColorHistogram, k: int, *, space: str = "rgb", seed: int = 0
) -> np.ndarray:
    """Fit at most k distinct uint8 colours (RGB, or RGBA with alpha) to the histogram."""
    colors, counts = histogram.colors, histogram.counts
    transparent = colors[:, 3] == 0 if histogram.has_alpha else np.zeros(len(colors), bool)
    visible_colors, visible_counts = colors[~transparent], counts[~transparent]
    # Fully transparent pixels do not vote: they get one palette entry of their own.
    n_fit = k - 1 if transparent.any() else k
    if len(visible_colors) <= n_fit:
        palette = visible_colors
    else:
        features = to_features(visible_colors, space)
        centers = fit_centers(features, visible_counts, visible_colors, n_fit, seed)
        palette = np.unique(from_features(centers, space), axis=0)
    if transparent.any():
        palette = np.vstack([palette, np.zeros((1, 4), dtype=np.uint8)])
    return np.unique(palette, axis=0)


def nearest_palette_index(
    colors: np.ndarray, palette: np.ndarray, *, space: str = "rgb"
) -> np.ndarray:
    """Return the index of the exact nearest palette colour for each colour."""
    if space == "rgb":
        # Integer colours: float32 sums of products stay exact below 2**24, so ties are exact.
        labels, _ = nearest_centers(colors.astype(np.float32), palette.astype(np.float32))
    else:
        labels, _ = nearest_centers(to_features(colors, space), to_features(palette, space))
    if palette.shape[1] == 4:
        # A fully transparent pixel always takes the fully transparent entry.
        clear = np.flatnonzero(palette[:, 3] == 0)
        if len(clear):
            labels[colors[:, 3] == 0] = clear[0]
    return labels


def remap(histogram: ColorHistogram, palette: np.ndarray, *, space: str = "rgb") -> np.ndarray:
    """Return the (h, w) uint8 palette index of every pixel: its colour's nearest palette colour."""
    labels = nearest_palette_index(histogram.colors, palette, space=space)
    return histogram.spread(labels.astype(np.uint8))
