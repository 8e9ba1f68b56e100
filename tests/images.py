"""Small test pictures made on the fly with Pillow."""

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


def encode(image: Image.Image, format: str = "PNG") -> bytes:
    """Return the picture's bytes in `format`."""
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


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
