import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data as sample_images

from cli.main import main


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A real photo (scikit-image's cat, 451 x 300) saved as PNG."""
    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    Image.fromarray(sample_images.chelsea()).save(path)
    return path


def test_end_to_end_process_writes_outputs_and_json(photo, tmp_path):
    kcolors = Path(sys.executable).with_name("kcolors")
    result = subprocess.run(
        [str(kcolors), "quantize", str(photo), "-k", "4", "-k", "16", "--out-dir", str(tmp_path),
         "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["input"]["width"] == 451 and report["input"]["format"] == "png"
    original = np.asarray(Image.open(photo).convert("RGB")).astype(float)
    for k, output in zip([4, 16], report["outputs"], strict=True):
        path = tmp_path / f"chelsea.k{k}.png"
        assert output["path"] == str(path)
        assert output["bytes"] == path.stat().st_size
        image = Image.open(path)
        assert image.mode == "P"
        pixels = np.asarray(image.convert("RGB")).astype(float)
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) == output["distinct_colors"] <= k
        mse = np.mean((pixels - original) ** 2)
        assert output["psnr"] == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-3)
    assert report["outputs"][1]["psnr"] > report["outputs"][0]["psnr"]


def test_table_and_default_output_beside_the_input(photo):
    result = CliRunner().invoke(main, ["quantize", str(photo), "-k", "3"])
    assert result.exit_code == 0, result.output
    output_path = photo.with_name("chelsea.k3.png")
    assert output_path.exists()
    assert "451x300 png" in result.output
    assert str(output_path) in result.output


def test_single_output_path_and_auto_k(photo, tmp_path):
    target = tmp_path / "cat.png"
    result = CliRunner().invoke(
        main, ["quantize", str(photo), "--target-psnr", "28", "-o", str(target), "--json"]
    )
    assert result.exit_code == 0, result.output
    [output] = json.loads(result.output)["outputs"]
    assert output["auto"] is True and output["psnr"] >= 28
    assert output["path"] == str(target) and target.exists()


def test_webp_dither_and_lab_options(photo, tmp_path):
    args = ["quantize", str(photo), "-k", "8", "--format", "webp", "--dither", "--space", "lab"]
    result = CliRunner().invoke(main, [*args, "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "chelsea.k8.webp").format == "WEBP"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-k", "1"], "invalid_parameter"),
        (["-k", "²"], "k must be whole numbers, each from 2 to 256"),
        (["--seed", "1e400"], "seed must be a whole number from 0 to 4294967295"),
        (["-k", "4", "-k", "5", "-o", "x.png"], "exactly one output"),
    ],
)
def test_bad_options_give_one_line_errors(photo, args, message):
    result = CliRunner().invoke(main, ["quantize", str(photo), *args])
    assert result.exit_code != 0
    assert message in result.output


def test_bad_input_file(tmp_path):
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("hello")
    result = CliRunner().invoke(main, ["quantize", str(not_an_image), "-k", "4"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: unsupported_format: not a recognised image; supported formats: PNG, JPEG, WebP,"
        " GIF, BMP, TIFF"
    ]
    missing = CliRunner().invoke(main, ["quantize", str(tmp_path / "missing.png"), "-k", "4"])
    assert missing.exit_code == 1 and "cannot read" in missing.output


def test_cli_startup_stays_light():
    # `kcolors quantize` is timed against pngquant as a whole process: the command line must not
    # import the service's heavy libraries.
    code = "import sys, cli.main; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
        "('sklearn', 'scipy', 'celery', 'flask', 'boto3', 'skimage', 'worker', 'web')" \
        " or m.startswith('kcolors.jobs')))"  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
