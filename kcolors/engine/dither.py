"""Floyd-Steinberg dithering onto a fixed palette, done by Pillow's C implementation."""

from __future__ import annotations

import numpy as np
from PIL import Image


def dither_indices(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Return (h, w) uint8 palette indices of the pixels, Floyd-Steinberg dithered in RGB."""
    opaque = np.flatnonzero(palette[:, 3] > 0) if palette.shape[1] == 4 else np.arange(len(palette))
    if len(opaque) == 0:  # a wholly transparent image
        return np.zeros(pixels.shape[:2], dtype=np.uint8)
    palette_image = Image.new("P", (1, 1))
    palette_image.putpalette(np.ascontiguousarray(palette[opaque, :3]).tobytes(), "RGB")
    rgb = Image.fromarray(np.ascontiguousarray(pixels[:, :, :3]))
    dithered = rgb.quantize(palette=palette_image, dither=Image.Dither.FLOYDSTEINBERG)
    indices = opaque.astype(np.uint8)[np.asarray(dithered)]
    if pixels.shape[2] == 4:
        # Dithering spreads colour error, never transparency: invisible pixels stay invisible.
        clear = np.flatnonzero(palette[:, 3] == 0)
        if len(clear):
            indices[pixels[:, :, 3] == 0] = clear[0]
    return indices
