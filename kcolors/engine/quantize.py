"""The engine's public entry point: one image in, one k-colour output per k, with statistics."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from kcolors import defaults
from kcolors.engine.decode import DecodedImage, decode_image
from kcolors.engine.dither import dither_indices
from kcolors.engine.encode import (
    OUTPUT_FORMATS,
    encode_indexed,
    optimize_png,
    truecolor_png_size,
)
from kcolors.engine.histogram import ColorHistogram, build_histogram
from kcolors.engine.outputs import QuantizedOutput, QuantizeReport
from kcolors.engine.palette import fit_palette, nearest_palette_index
from kcolors.engine.params import QuantizeParams
from kcolors.engine.stats import histogram_sse, input_stats, output_stats, pixel_sse


def quantize_image(
    data: bytes,
    params: QuantizeParams,
    *,
    max_pixels: int = defaults.MAX_PIXELS,
    on_output: Callable[[QuantizedOutput], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> QuantizeReport:
    """Decode `data` once and make one k-colour output per k (plus the auto-k one, if asked).

    `on_step(words)` hears each step of the auto-k search ("tried 37 colours: 32.1 dB"), for a
    job page to show while it lasts."""
    image = decode_image(data, max_pixels=max_pixels)
    histogram = build_histogram(image.pixels)
    report = QuantizeReport(input_stats=input_stats(image, histogram))

    def emit(output: QuantizedOutput) -> None:
        report.outputs.append(output)
        if on_output is not None:
            on_output(output)

    for k in params.k:
        emit(quantize_for_k(image, histogram, k, params))
    if params.target_psnr is not None:
        from kcolors.engine.autok import quantize_to_target  # only auto-k jobs pay its import

        emit(quantize_to_target(image, histogram, params, quantize_for_k, on_step))
    return report


def quantize_for_k(
    image: DecodedImage,
    histogram: ColorHistogram,
    k: int,
    params: QuantizeParams,
    palette: np.ndarray | None = None,
) -> QuantizedOutput:
    """Fit a palette of at most k colours (unless given), remap, encode and measure one output."""
    started = time.perf_counter()
    if palette is None:
        palette = fit_palette(histogram, k, space=params.space, seed=params.seed)
    fitted = time.perf_counter()
    labels = nearest_palette_index(histogram.colors, palette, space=params.space)
    if params.dither:
        indices = dither_indices(image.pixels, palette, histogram.spread(labels.astype(np.uint8)))
        pixel_counts = np.bincount(indices.ravel(), minlength=len(palette))
    else:
        pixel_counts = np.bincount(labels, weights=histogram.counts, minlength=len(palette))
        pixel_counts = pixel_counts.astype(np.int64)
    # Drop palette entries no pixel uses, so the palette (and maybe the bit depth) shrinks.
    used = pixel_counts > 0
    if not used.all():
        new_index = np.cumsum(used) - 1
        palette, pixel_counts, labels = palette[used], pixel_counts[used], new_index[labels]
        if params.dither:
            indices = new_index.astype(np.uint8)[indices]
    if not params.dither:
        indices = histogram.spread(labels.astype(np.uint8))
    remapped = time.perf_counter()
    data = encode_indexed(indices, palette, params.format, dithered=params.dither)
    encoded = time.perf_counter()
    plain_bytes = len(data)
    if params.optimize:
        data = optimize_png(data, indices, palette)
    optimized = time.perf_counter()
    if params.dither:
        sse = pixel_sse(image.pixels, indices, palette)
    else:
        sse = histogram_sse(histogram, palette, labels)
    truecolor_bytes = truecolor_png_size(indices, palette)
    timings = {"fit": fitted - started, "remap": remapped - fitted, "encode": encoded - remapped}
    if params.optimize:
        timings["optimize"] = optimized - encoded
    timings["stats"] = time.perf_counter() - optimized
    media_type, extension = OUTPUT_FORMATS[params.format]
    stats = output_stats(
        k=k,
        output_format=params.format,
        data=data,
        input_bytes=image.byte_size,
        truecolor_png_bytes=truecolor_bytes,
        sse=sse,
        n_values=image.pixels.size,
        palette=palette,
        pixel_counts=pixel_counts,
        timings=timings,
        bytes_before_optimize=plain_bytes if params.optimize else None,
    )
    return QuantizedOutput(k=k, data=data, media_type=media_type, extension=extension, stats=stats)
