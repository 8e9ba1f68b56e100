"""Test pictures made on the fly with numpy and Pillow: the one image helper of the suite."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

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
    """Encode an array or a Pillow image to bytes ("HEIF" writes HEIC, with pillow-heif)."""
    image = pixels_or_image
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_from_chunks(ihdr: bytes, raw_rows: bytes, level: int = 6) -> bytes:
    """A PNG written by hand: IHDR (13 bytes), one IDAT of `raw_rows` compressed, IEND."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw_rows, level)) + chunk(b"IEND", b""))  # fmt: skip


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks, (type, data), in order."""
    chunks, position = [], 8
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        chunks.append((kind, body))
        position += 12 + length
    return chunks


def mpo_photo(width: int = 64, height: int = 48) -> bytes:
    """A camera-style JPEG with a second picture (MPO), as many phones and cameras save."""
    first, second = gradient_image(width, height, seed=1), gradient_image(width, height, seed=2)
    return encode(first, "MPO", save_all=True, append_images=[second])


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


# Display P3 (and sRGB): CIE xy of the red, green and blue primaries; both have a D65 white and
# the sRGB tone curve.
DISPLAY_P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
SRGB_PRIMARIES = ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060))
_D65 = (0.3127, 0.3290)
_D50_XYZ = np.array([0.9642, 1.0, 0.8249])
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)


def rgb_to_xyz_matrix(primaries=DISPLAY_P3_PRIMARIES, white=_D65) -> np.ndarray:
    """The 3x3 matrix from linear RGB to CIE XYZ (white Y = 1) for these primaries and white."""
    columns = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    white_xyz = np.array([white[0] / white[1], 1.0, (1 - white[0] - white[1]) / white[1]])
    return columns * np.linalg.solve(columns, white_xyz)


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """The sRGB tone curve, inverted: 0..1 encoded values to linear light."""
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """The sRGB tone curve: 0..1 linear light to encoded values."""
    values = np.clip(values, 0.0, 1.0)
    return np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1 / 2.4) - 0.055)


def p3_to_srgb(color) -> np.ndarray:
    """What a Display P3 8-bit colour is in sRGB, computed here from the definitions (clipped)."""
    linear = srgb_to_linear(np.asarray(color, dtype=float) / 255.0)
    xyz = rgb_to_xyz_matrix(DISPLAY_P3_PRIMARIES) @ linear
    srgb = np.linalg.solve(rgb_to_xyz_matrix(SRGB_PRIMARIES), xyz)
    return np.rint(255.0 * linear_to_srgb(srgb)).astype(int)


def icc_profile(
    primaries=DISPLAY_P3_PRIMARIES, description: str = "Display P3 (kcolors test)"
) -> bytes:
    """A version 2 RGB display ICC profile (matrix and tone curves) with a D65 white and the sRGB
    tone curve: Display P3 by default. ImageCms can only create sRGB, Lab and XYZ profiles."""
    # The colorants are stated adapted to the D50 connection space (Bradford), as ICC wants.
    lms_ratio = (_BRADFORD @ _D50_XYZ) / (_BRADFORD @ (rgb_to_xyz_matrix(primaries) @ np.ones(3)))
    adapt = np.linalg.solve(_BRADFORD, np.diag(lms_ratio) @ _BRADFORD)
    colorants = (adapt @ rgb_to_xyz_matrix(primaries)).T  # one row per primary
    curve = np.rint(65535 * srgb_to_linear(np.linspace(0, 1, 1024))).astype(">u2")
    text = description.encode("ascii") + b"\x00"
    tags = {
        b"desc": b"desc\0\0\0\0"
        + struct.pack(">I", len(text))
        + text
        + bytes(4 + 4 + 2 + 1 + 67),  # no Unicode and no ScriptCode description
        b"cprt": b"text\0\0\0\0No copyright, made by the tests\x00",
        b"wtpt": _xyz_tag(_D50_XYZ),
        b"rXYZ": _xyz_tag(colorants[0]),
        b"gXYZ": _xyz_tag(colorants[1]),
        b"bXYZ": _xyz_tag(colorants[2]),
        b"rTRC": b"curv\0\0\0\0" + struct.pack(">I", len(curve)) + curve.tobytes(),
    }
    tags[b"gTRC"] = tags[b"bTRC"] = tags[b"rTRC"]
    table_end = 128 + 4 + 12 * len(tags)
    body, entries, offsets = b"", [], {}
    for signature, data in tags.items():
        if data not in offsets:  # the three tone curves share one copy
            offsets[data] = table_end + len(body)
            body += data + bytes(-len(data) % 4)
        entries.append(struct.pack(">4sII", signature, offsets[data], len(data)))
    size = table_end + len(body)
    header = struct.pack(
        ">I4sI4s4s4s6H4s4sI4s4sQI3i4s16s28s",
        size,
        b"\0\0\0\0",
        0x02100000,  # version 2.1
        b"mntr",
        b"RGB ",
        b"XYZ ",
        *(2024, 1, 1, 0, 0, 0),
        b"acsp",
        b"\0\0\0\0",
        0,
        b"\0\0\0\0",
        b"\0\0\0\0",
        0,
        0,  # perceptual
        *(round(v * 65536) for v in _D50_XYZ),
        b"\0\0\0\0",
        bytes(16),
        bytes(28),
    )
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + body


def _xyz_tag(xyz) -> bytes:
    """An ICC XYZType tag holding one s15Fixed16 XYZ triple."""
    return b"XYZ \0\0\0\0" + struct.pack(">3i", *(round(float(v) * 65536) for v in xyz))


def output_pixels(data: bytes) -> np.ndarray:
    """An output's pixels as RGB, or RGBA when it has transparency."""
    image = decode(data)
    has_alpha = "transparency" in image.info or image.mode in ("RGBA", "LA")
    return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 pictures of the same shape."""
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def output_digests_in_another_process(data: bytes, params_code: str) -> list[str]:
    """SHA-256 of each output `quantize_image(data, <params_code>)` makes in a fresh Python."""
    code = (
        "import sys, hashlib; from kcolors.engine.params import QuantizeParams; "
        "from kcolors.engine.quantize import quantize_image; "
        f"params = {params_code}; "
        "print(' '.join(hashlib.sha256(o.data).hexdigest() "
        "for o in quantize_image(sys.stdin.buffer.read(), params).outputs))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, check=True
    )
    return result.stdout.decode().split()
