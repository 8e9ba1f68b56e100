"""Statistics of inputs and outputs, as JSON-ready dicts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kcolors.engine import kernels
from kcolors.engine.decode import DecodedImage
from kcolors.engine.histogram import ColorHistogram


def input_stats(image: DecodedImage, histogram: ColorHistogram) -> dict[str, Any]:
    """Describe the input: size, format, bytes, distinct colours, transparency."""
    return {
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "bytes": image.byte_size,
        "pixels": image.width * image.height,
        "distinct_colors": len(histogram.colors),
        "has_alpha": image.has_alpha,
    }


def psnr_from_sse(sse: float, n_values: int) -> float | None:
    """PSNR in dB for a sum of squared 8-bit errors over `n_values` samples; None when lossless."""
    if sse <= 0:
        return None
    return 10.0 * math.log10(255.0**2 * n_values / sse)


def histogram_sse(histogram: ColorHistogram, palette: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared errors when every colour of the histogram becomes palette[labels]."""
    return float(kernels.squared_error(histogram.colors, histogram.counts, labels, palette))


def pixel_sse(original: np.ndarray, indices: np.ndarray, palette: np.ndarray) -> float:
    """Sum of squared errors between the original pixels and palette[indices], row by row."""
    total = 0
    for start in range(0, len(indices), 256):
        rows = slice(start, start + 256)
        error = original[rows].astype(np.int32) - palette[indices[rows]].astype(np.int32)
        total += int(np.einsum("ijk,ijk->", error, error, dtype=np.int64))
    return float(total)


def palette_entries(palette: np.ndarray, pixel_counts: np.ndarray) -> list[dict[str, Any]]:
    """List palette colours as hex with their share of the pixels, largest share first."""
    total = int(pixel_counts.sum())
    entries = []
    for index in np.argsort(-pixel_counts, kind="stable"):
        color = palette[index]
        entry: dict[str, Any] = {
            "hex": "#{:02x}{:02x}{:02x}".format(*(int(c) for c in color[:3])),
            "share": round(int(pixel_counts[index]) / total, 6) if total else 0.0,
        }
        if len(color) == 4:
            entry["alpha"] = int(color[3])
        entries.append(entry)
    return entries


def output_stats(
    *,
    k: int,
    output_format: str,
    data: bytes,
    input_bytes: int,
    truecolor_png_bytes: int,
    sse: float,
    n_values: int,
    palette: np.ndarray,
    pixel_counts: np.ndarray,
    timings: dict[str, float],
    bytes_before_optimize: int | None = None,
) -> dict[str, Any]:
    """Describe one k-colour output (see docs/ARCHITECTURE.md for the keys); with `optimize`,
    `bytes_before_optimize` is the size it would have had without it."""
    psnr = psnr_from_sse(sse, n_values)
    optimized = (
        {} if bytes_before_optimize is None else {"bytes_before_optimize": bytes_before_optimize}
    )
    return {
        "k": k,
        "format": output_format,
        "bytes": len(data),
        **optimized,
        "distinct_colors": int(np.count_nonzero(pixel_counts)),
        "compression_ratio": round(input_bytes / len(data), 4),
        "truecolor_png_bytes": truecolor_png_bytes,
        "psnr": None if psnr is None else round(psnr, 4),
        "palette": palette_entries(palette, pixel_counts),
        "timings": {name: round(seconds, 6) for name, seconds in timings.items()},
    }
