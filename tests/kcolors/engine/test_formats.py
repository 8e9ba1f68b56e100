"""Every row of the one table of input formats, with a real file of that format made here."""

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from kcolors.engine.decode import decode_image
from kcolors.engine.formats import FORM_ACCEPT, FORMAT_NAMES, INPUT_FORMATS
from kcolors.engine.probe import probe_image
from kcolors.errors import CorruptImage, ImageTooLarge, UnsupportedFormat
from tests.images import encode, gradient_image, mpo_photo

# A sample of each Pillow format in the table, and how far its pixels may be from the picture.
SAMPLES = {
    "PNG": (lambda: encode(gradient_image(), "PNG"), 0),
    "JPEG": (lambda: encode(gradient_image(), "JPEG", quality=95), 12),
    "MPO": (mpo_photo, 40),  # the first picture of two (gradient_image's seed 1, not 0)
    "WEBP": (lambda: encode(gradient_image(), "WEBP", lossless=True), 0),
    "GIF": (lambda: encode(gradient_image().convert("P"), "GIF"), 40),
    "BMP": (lambda: encode(gradient_image(), "BMP"), 0),
    "TIFF": (lambda: encode(gradient_image(), "TIFF"), 0),
    "HEIF": (lambda: encode(gradient_image(), "HEIF", quality=95), 12),
    "AVIF": (lambda: encode(gradient_image(), "AVIF", quality=95), 12),
}


def test_every_format_of_the_table_has_a_sample_here():
    assert set(SAMPLES) == set(INPUT_FORMATS)


@pytest.mark.parametrize("pillow_format", sorted(INPUT_FORMATS))
def test_each_format_is_probed_and_decoded_as_the_table_says(pillow_format):
    make, tolerance = SAMPLES[pillow_format]
    data = make()
    assert Image.open(io.BytesIO(data)).format == pillow_format  # really that format
    row = INPUT_FORMATS[pillow_format]
    probed = probe_image(data, max_pixels=10_000)
    assert (probed.format, probed.width, probed.height) == (row, 64, 48)
    decoded = decode_image(data)
    assert decoded.format == row.name and decoded.pixels.shape == (48, 64, 3)
    error = np.abs(decoded.pixels.astype(int) - np.asarray(gradient_image()))
    assert error.mean() <= tolerance


def test_the_names_in_messages_and_the_form_come_from_the_table():
    assert FORMAT_NAMES == "PNG, JPEG, WebP, GIF, BMP, TIFF, HEIC, AVIF"
    for row in INPUT_FORMATS.values():
        assert row.media_type in FORM_ACCEPT.split(",")
        assert f".{row.extension}" in FORM_ACCEPT.split(",")
    with pytest.raises(UnsupportedFormat, match="HEIC, AVIF"):
        decode_image(b"plain text, not a picture")


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heic_and_avif_are_turned_by_their_orientation(fmt):
    pixels = np.zeros((16, 32, 3), dtype=np.uint8)
    pixels[:, :16] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    decoded = decode_image(encode(pixels, fmt, quality=100, exif=exif.tobytes()))
    assert decoded.pixels.shape == (32, 16, 3)
    assert decoded.pixels[:14].min() > 240 and decoded.pixels[18:].max() < 15


def test_a_tiled_heic_as_phones_write_it_is_read_whole():
    picture = gradient_image(200, 150)
    data = encode(picture, "HEIF", quality=95, tile_size=64)  # a grid of 4 x 3 tiles
    assert b"grid" in data
    assert (probe_image(data, max_pixels=30_000).width, decode_image(data).width) == (200, 200)
    error = np.abs(decode_image(data).pixels.astype(int) - np.asarray(picture))
    assert error.mean() <= 12


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heic_and_avif_headers_are_probed_without_decoding_the_picture(fmt):
    data = encode(np.full((512, 512, 3), (30, 60, 90), np.uint8), fmt, quality=50)
    cut = data[:-20]  # the coded picture comes last: a header intact, pixels missing
    probed = probe_image(cut, max_pixels=512 * 512)
    assert (probed.width, probed.height) == (512, 512)
    with pytest.raises(CorruptImage):
        decode_image(cut)
    with pytest.raises(ImageTooLarge, match="more than the limit of 262,143"):
        probe_image(data, max_pixels=512 * 512 - 1)
    # A flat 512 x 512 picture takes a few hundred bytes: over 100 pixels a byte is a bomb here.
    with pytest.raises(ImageTooLarge, match="pixels per byte"):
        probe_image(data, max_pixels=512 * 512, max_pixels_per_byte=100)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(40), CorruptImage),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(40), CorruptImage),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(40), UnsupportedFormat),
    ],
    ids=["damaged-heic", "damaged-avif", "mp4-video"],
)
def test_damaged_heic_or_avif_is_corrupt_and_other_iso_media_unsupported(data, error):
    with pytest.raises(error):
        probe_image(data, max_pixels=10_000)


def test_the_heic_plugin_is_loaded_only_for_heic_files(tmp_path):
    # Its import (about 25 ms) is not paid by the command line for other inputs.
    (tmp_path / "a.png").write_bytes(encode(gradient_image()))
    (tmp_path / "a.heic").write_bytes(encode(gradient_image(), "HEIF"))
    code = (
        "import sys; from pathlib import Path; from kcolors.engine.decode import decode_image; "
        f"folder = Path({str(tmp_path)!r}); decode_image((folder / 'a.png').read_bytes()); "
        "print('pillow_heif' in sys.modules); "
        "print(decode_image((folder / 'a.heic').read_bytes()).format, 'pillow_heif' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "heic", "True"]
