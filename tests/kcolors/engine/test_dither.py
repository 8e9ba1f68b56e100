"""Dithering on real pixels: band-free means, quality against Pillow's Floyd-Steinberg, alpha."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from kcolors.engine import kernels
from kcolors.engine.encode import encode_indexed
from kcolors.engine.histogram import build_histogram
from kcolors.engine.palette import fit_palette, remap
from kcolors.engine.params import QuantizeParams
from kcolors.engine.quantize import quantize_image
from tests.images import (
    chelsea_png,
    decode,
    encode,
    noisy_photo,
    output_digests_in_another_process,
    output_pixels,
    psnr,
    with_alpha,
)


def block_means(pixels: np.ndarray, size: int) -> np.ndarray:
    height, width, channels = pixels.shape
    blocks = pixels[: height // size * size, : width // size * size].astype(float)
    return blocks.reshape(height // size, size, width // size, size, channels).mean(axis=(1, 3))


def smooth_gradient(width: int = 256, height: int = 64) -> np.ndarray:
    """A noiseless left-to-right ramp from dark blue to light orange: k = 4 bands it."""
    ramp = np.linspace(0.0, 1.0, width)[None, :, None]
    start, end = np.array([20.0, 40.0, 110.0]), np.array([240.0, 180.0, 90.0])
    pixels = start + (end - start) * ramp
    return np.rint(np.broadcast_to(pixels, (height, width, 3))).astype(np.uint8)


def test_a_dithered_gradient_keeps_the_mean_colour_of_every_block_where_bands_lose_it():
    pixels = smooth_gradient()
    data = encode(pixels)
    plain = output_pixels(quantize_image(data, QuantizeParams(k=[4])).outputs[0].data)
    output = quantize_image(data, QuantizeParams(k=[4], dither=True)).outputs[0]
    dithered = output_pixels(output.data)
    assert len(np.unique(dithered.reshape(-1, 3), axis=0)) <= 4
    original = block_means(pixels, 16)
    plain_error = np.abs(block_means(plain, 16) - original).max(axis=2)
    dithered_error = np.abs(block_means(dithered, 16) - original).max(axis=2)
    assert plain_error.max() > 20  # the bands: a block far from its mean colour
    # The ends of the ramp lie outside the palette (k-means centres are means of their
    # clusters), where no mix of its colours reaches them: only the blocks between count.
    plain_error, dithered_error = plain_error[:, 1:-1], dithered_error[:, 1:-1]
    assert dithered_error.max() < 8
    assert dithered_error.mean() < plain_error.mean() / 3
    assert output.stats["psnr"] == pytest.approx(psnr(dithered, pixels), abs=1e-3)


def pillow_floyd_steinberg(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """What `dither` did before: Pillow's Floyd-Steinberg onto the same palette (indices)."""
    palette_image = Image.new("P", (1, 1))
    palette_image.putpalette(palette.tobytes(), "RGB")
    return np.asarray(Image.fromarray(pixels).quantize(palette=palette_image, dither=1))


@pytest.mark.parametrize("k", [2, 8, 32])
def test_dithered_photo_beats_pillows_floyd_steinberg_on_psnr_and_bytes(k):
    data = chelsea_png()
    pixels = np.asarray(decode(data).convert("RGB"))
    palette = fit_palette(build_histogram(pixels), k)  # the palette the engine dithers onto
    reference = pillow_floyd_steinberg(pixels, palette)
    output = quantize_image(data, QuantizeParams(k=[k], dither=True)).outputs[0]
    assert psnr(output_pixels(output.data), pixels) > psnr(palette[reference], pixels) + 0.1
    assert len(output.data) < len(encode_indexed(reference, palette, dithered=True))


def test_edges_and_noise_get_less_dithering_than_flat_runs():
    pixels = np.full((40, 60, 3), 20, dtype=np.uint8)
    pixels[:, 30:] = 235  # a sharp edge down the middle
    rng = np.random.default_rng(0)
    pixels[:12, :20] = rng.integers(0, 256, (12, 20, 3))  # a noisy corner
    palette = np.array([[10, 10, 10], [245, 245, 245], [128, 128, 128]], np.uint8)
    undithered = remap(build_histogram(pixels), palette)
    weights = kernels.dither_weights(pixels, undithered).astype(int)
    flat, edge, noise = weights[25:, 5:25], weights[20:, 29:31], weights[2:10, 2:18]
    assert flat.min() > 230
    assert edge.max() < flat.min() * 0.6
    assert noise.mean() < flat.min() * 0.75


def test_full_strength_error_diffusion_keeps_a_flat_colours_mean():
    pixels = np.full((50, 70, 3), (120, 60, 200), dtype=np.uint8)
    palette = np.array([[100, 50, 180], [140, 70, 220], [0, 0, 0]], dtype=np.uint8)
    undithered = np.zeros(pixels.shape[:2], dtype=np.uint8)
    indices = kernels.dither(pixels, palette, undithered)
    assert set(np.unique(indices)) == {0, 1}
    assert np.abs(palette[indices].mean(axis=(0, 1)) - pixels[0, 0]).max() < 2


def test_dithering_is_the_same_bytes_in_another_process():
    data = encode(noisy_photo(90, 120))
    here = [
        hashlib.sha256(o.data).hexdigest()
        for o in quantize_image(data, QuantizeParams(k=[2, 16, 200], dither=True)).outputs
    ]
    there = output_digests_in_another_process(data, "QuantizeParams(k=[2, 16, 200], dither=True)")
    assert there == here


@pytest.mark.parametrize("k", [3, 16])
def test_dithering_keeps_invisible_pixels_invisible_and_visible_ones_visible(k):
    pixels = with_alpha(noisy_photo())
    output = quantize_image(encode(pixels), QuantizeParams(k=[k], dither=True)).outputs[0]
    out = output_pixels(output.data)
    assert np.array_equal(out[..., 3] == 0, pixels[..., 3] == 0)
    assert len(np.unique(out.reshape(-1, 4), axis=0)) <= k
    visible = pixels.copy()
    visible[visible[..., 3] == 0] = 0
    assert output.stats["psnr"] == pytest.approx(psnr(out, visible), abs=1e-3)


def test_half_transparent_pixels_are_dithered_in_alpha_too():
    pixels = with_alpha(noisy_photo())
    pixels[20:30, 40:70, 3] = 60  # a half-transparent patch among opaque pixels
    output = quantize_image(encode(pixels), QuantizeParams(k=[16], dither=True)).outputs[0]
    patch = output_pixels(output.data)[20:30, 40:70, 3].astype(float)
    assert abs(patch.mean() - 60) < 10


def test_a_wholly_transparent_image_stays_transparent():
    pixels = np.zeros((8, 10, 4), dtype=np.uint8)
    output = quantize_image(encode(pixels), QuantizeParams(k=[4], dither=True)).outputs[0]
    assert (output_pixels(output.data)[..., 3] == 0).all()
