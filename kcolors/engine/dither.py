"""Dithering onto a fixed palette: error diffusion where it helps (see docs/ENGINE.md)."""

from __future__ import annotations

import numpy as np

from kcolors.engine import kernels


def dither_indices(pixels: np.ndarray, palette: np.ndarray, undithered: np.ndarray) -> np.ndarray:
    """Return (h, w) uint8 palette indices of the pixels, error-diffused in RGB(A).

    `undithered` holds each pixel's nearest palette entry. Serpentine Floyd-Steinberg with each
    pixel's share of the error set by `kernels.dither_weights`: flat runs that one colour would
    band are dithered fully, edges and noise lightly. Fully transparent pixels keep the clear
    entry; visible ones only ever take visible entries."""
    weights = kernels.dither_weights(pixels, undithered)
    return kernels.dither(pixels, palette, undithered, weights)
