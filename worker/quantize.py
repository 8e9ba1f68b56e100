"""The engine's public entry point: one image in, one k-colour output per k, with statistics."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worker import defaults
from worker.decode import DecodedImage, decode_image
from worker.dither import dither_indices
from worker.encode import OUTPUT_FORMATS, encode_indexed, encode_truecolor_png, expand_palette
from worker.exceptions import InvalidParameter
from worker.histogram import ColorHistogram, build_histogram
from worker.palette import fit_palette, nearest_palette_index
from worker.stats import histogram_sse, input_stats, output_stats, pixel_sse

SPACES = ("rgb", "lab")


@dataclass(frozen=True)
class QuantizeOptions:
    """How to quantize: dithering, clustering space, seed, output format, auto-k target, limits."""

    dither: bool = False
    space: str = "rgb"
    seed: int = 0
    output_format: str = "png"
    target_psnr: float | None = None
    max_pixels: int = defaults.MAX_PIXELS

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise InvalidParameter(f"space must be one of {', '.join(SPACES)}, not {self.space!r}")
        if self.output_format not in OUTPUT_FORMATS:
            raise InvalidParameter(
                f"format must be one of {', '.join(OUTPUT_FORMATS)}, not {self.output_format!r}"
            )
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise InvalidParameter(f"seed must be a non-negative integer, not {self.seed!r}")
        if self.target_psnr is not None and not (
            isinstance(self.target_psnr, int | float) and math.isfinite(self.target_psnr)
            and self.target_psnr > 0
        ):  # fmt: skip
            raise InvalidParameter(
                f"target PSNR must be a positive number of dB, not {self.target_psnr!r}"
            )
        if not isinstance(self.max_pixels, int) or self.max_pixels <= 0:
            raise InvalidParameter(
                f"max_pixels must be a positive integer, not {self.max_pixels!r}"
            )


@dataclass(frozen=True)
class QuantizedOutput:
    """One k-colour version of the input: encoded bytes and their statistics."""

    k: int
    data: bytes
    media_type: str
    extension: str
    stats: dict[str, Any]


@dataclass(frozen=True)
class QuantizeReport:
    """Statistics of the input and every output, in the order of the requested k."""

    input_stats: dict[str, Any]
    outputs: list[QuantizedOutput] = field(default_factory=list)


def validate_ks(ks: Sequence[int], options: QuantizeOptions) -> list[int]:
    """Check every k is an integer in 2..256; drop repeats, keeping the first order."""
    unique: list[int] = []
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise InvalidParameter(f"k must be an integer, not {k!r}")
        if not defaults.MIN_K <= k <= defaults.MAX_K:
            raise InvalidParameter(
                f"k must be between {defaults.MIN_K} and {defaults.MAX_K}, not {k}"
            )
        if int(k) not in unique:
            unique.append(int(k))
    if not unique and options.target_psnr is None:
        raise InvalidParameter("give at least one k, or a target PSNR")
    return unique


def quantize_image(
    data: bytes,
    ks: Sequence[int],
    options: QuantizeOptions | None = None,
    on_output: Callable[[QuantizedOutput], None] | None = None,
) -> QuantizeReport:
    """Decode `data` once and make one k-colour output per k (plus the auto-k one, if asked)."""
    options = options or QuantizeOptions()
    ks = validate_ks(ks, options)
    image = decode_image(data, max_pixels=options.max_pixels)
    histogram = build_histogram(image.pixels)
    report = QuantizeReport(input_stats=input_stats(image, histogram))

    def emit(output: QuantizedOutput) -> None:
        report.outputs.append(output)
        if on_output is not None:
            on_output(output)

    for k in ks:
        emit(quantize_for_k(image, histogram, k, options))
    if options.target_psnr is not None:
        from worker.autok import quantize_to_target  # only auto-k jobs pay for its import

        emit(quantize_to_target(image, histogram, options, quantize_for_k))
    return report


def quantize_for_k(
    image: DecodedImage,
    histogram: ColorHistogram,
    k: int,
    options: QuantizeOptions,
    palette: np.ndarray | None = None,
) -> QuantizedOutput:
    """Fit a palette of at most k colours (unless given), remap, encode and measure one output."""
    started = time.perf_counter()
    if palette is None:
        palette = fit_palette(histogram, k, space=options.space, seed=options.seed)
    fitted = time.perf_counter()
    labels = nearest_palette_index(histogram.colors, palette, space=options.space)
    if options.dither:
        indices = dither_indices(image.pixels, palette)
        pixel_counts = np.bincount(indices.ravel(), minlength=len(palette))
    else:
        pixel_counts = np.bincount(labels, weights=histogram.counts, minlength=len(palette))
        pixel_counts = pixel_counts.astype(np.int64)
    # Drop palette entries no pixel uses, so the palette (and maybe the bit depth) shrinks.
    used = pixel_counts > 0
    if not used.all():
        new_index = np.cumsum(used) - 1
        palette, pixel_counts, labels = palette[used], pixel_counts[used], new_index[labels]
        if options.dither:
            indices = new_index.astype(np.uint8)[indices]
    if not options.dither:
        indices = histogram.spread(labels.astype(np.uint8))
    remapped = time.perf_counter()
    data = encode_indexed(indices, palette, options.output_format)
    encoded = time.perf_counter()
    if options.dither:
        sse = pixel_sse(image.pixels, indices, palette)
    else:
        sse = histogram_sse(histogram, palette, labels)
    truecolor_bytes = len(encode_truecolor_png(expand_palette(indices, palette)))
    timings = {"fit": fitted - started, "remap": remapped - fitted, "encode": encoded - remapped}
    timings["stats"] = time.perf_counter() - encoded
    media_type, extension = OUTPUT_FORMATS[options.output_format]
    stats = output_stats(
        k=k,
        output_format=options.output_format,
        data=data,
        input_bytes=image.byte_size,
        truecolor_png_bytes=truecolor_bytes,
        sse=sse,
        n_values=image.pixels.size,
        palette=palette,
        pixel_counts=pixel_counts,
        timings=timings,
    )
    return QuantizedOutput(k=k, data=data, media_type=media_type, extension=extension, stats=stats)
