"""Test pictures made on the fly with numpy and Pillow: the one image helper of the suite."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def gradient_image(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    """Return an RGB picture with many colours: smooth gradients plus a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack(
        [
            x * 255 // max(width - 1, 1),
            y * 255 // max(height - 1, 1),
            (x + y) * 127 // (width + height),
        ],
        axis=-1,
    )
    pixels = np.clip(pixels + rng.integers(-8, 9, pixels.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def encode(pixels_or_image, fmt: str = "PNG", **params) -> bytes:
    """Encode an array or a Pillow image to bytes."""
    image = pixels_or_image
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    """Open encoded bytes with Pillow and load them."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def gradient_png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """Return a many-coloured PNG."""
    return encode(gradient_image(width, height, seed))


def chelsea_png(scale: int = 1) -> bytes:
    """Return the article's cat photo (scikit-image's `chelsea`, 451x300) as PNG, scaled up."""
    from skimage import data as sample_images  # a dev dependency, imported only where used

    image = Image.fromarray(sample_images.chelsea())
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.LANCZOS)
    return encode(image)


def three_colors(height: int = 24, width: int = 30) -> np.ndarray:
    """Horizontal bands of exactly three colours (red, teal, white) in unequal amounts."""
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[: height // 2] = (200, 30, 40)
    pixels[height // 2 : height * 5 // 6] = (10, 120, 130)
    pixels[height * 5 // 6 :] = (255, 255, 255)
    return pixels


def noisy_photo(height: int = 60, width: int = 80, seed: int = 1) -> np.ndarray:
    """A smooth colourful gradient plus noise: many distinct colours, like a small photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack(
        [255 * x / width, 255 * y / height, 128 + 100 * np.sin(x / 7.0) * np.cos(y / 5.0)],
        axis=2,
    )
    pixels += rng.normal(0, 12, pixels.shape)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def with_alpha(pixels: np.ndarray) -> np.ndarray:
    """Add an alpha channel: a fully transparent left third, a half-transparent stripe."""
    alpha = np.full(pixels.shape[:2], 255, dtype=np.uint8)
    alpha[:, : pixels.shape[1] // 3] = 0
    alpha[:4, -6:] = 128
    return np.dstack([pixels, alpha])
