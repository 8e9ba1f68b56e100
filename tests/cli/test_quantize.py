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
from tests.images import encode, icc_profile, p3_to_srgb


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
    assert output["auto"] is True and output["psnr"] >= 28 and output["target_reached"] is True
    assert output["path"] == str(target) and target.exists()


def test_auto_k_says_whether_the_target_was_reached(photo, tmp_path):
    args = ["quantize", str(photo), "--out-dir", str(tmp_path), "--target-psnr"]
    reached = CliRunner().invoke(main, [*args, "28"])
    assert reached.exit_code == 0, reached.output
    assert reached.output.splitlines()[-1] == "* the fewest colours reaching the target, 28 dB"
    unreachable = CliRunner().invoke(main, [*args, "60"])
    assert unreachable.exit_code == 0, unreachable.output  # an output was made: the best there is
    row, note = unreachable.output.splitlines()[-2:]
    assert row.split()[0] == "256*"
    assert note == f"* target 60 dB out of reach: the most colours, 256, give {row.split()[4]} dB"
    result = CliRunner().invoke(main, [*args, "60", "--json", "--force"])  # 256 again
    [output] = json.loads(result.output)["outputs"]
    assert output["target_reached"] is False and output["psnr"] == output["search_psnr"] < 60


def test_webp_dither_and_lab_options(photo, tmp_path):
    args = ["quantize", str(photo), "-k", "8", "--format", "webp", "--dither", "--space", "lab"]
    result = CliRunner().invoke(main, [*args, "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "chelsea.k8.webp").format == "WEBP"


def test_optimize_writes_the_same_pixels_in_fewer_bytes(photo, tmp_path):
    outputs = {}
    for flag in ("--no-optimize", "--optimize"):
        args = ["quantize", str(photo), "-k", "16", "-o", str(tmp_path / f"{flag}.png"), "--json"]
        result = CliRunner().invoke(main, [*args, flag])
        assert result.exit_code == 0, result.output
        [outputs[flag]] = json.loads(result.output)["outputs"]
    plain, optimized = outputs["--no-optimize"], outputs["--optimize"]
    assert optimized["bytes_before_optimize"] == plain["bytes"] > optimized["bytes"]
    assert optimized["bytes"] == (tmp_path / "--optimize.png").stat().st_size
    pixels = [np.asarray(Image.open(tmp_path / f"{f}.png").convert("RGB")) for f in outputs]
    assert np.array_equal(*pixels)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-k", "1"], "invalid_parameter"),
        (["-k", "²"], "k must be whole numbers, each from 2 to 256"),
        (["--seed", "1e400"], "seed must be a whole number from 0 to 4294967295"),
        (["-k", "4", "-k", "5", "-o", "x.png"], "exactly one output"),
        (["-k", "4", "--optimize", "--format", "webp"], "optimize: applies to PNG outputs only"),
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
        " GIF, BMP, TIFF, HEIC, AVIF"
    ]
    missing = CliRunner().invoke(main, ["quantize", str(tmp_path / "missing.png"), "-k", "4"])
    assert missing.exit_code == 1 and "cannot read" in missing.output


def test_phone_photos_in_heic_and_avif_with_display_p3_profiles(tmp_path):
    # Flat Display P3 patches: the outputs hold their sRGB colours, not the raw P3 numbers.
    p3 = np.array([(200, 80, 60), (60, 170, 90)], dtype=np.uint8)
    pixels = np.repeat(p3, 16, axis=0).reshape(2, 16, 3).repeat(8, axis=0)
    expected = np.array([p3_to_srgb(color) for color in p3])
    # Full-resolution chroma, so that the edge between the patches stays sharp.
    (tmp_path / "IMG_0001.HEIC").write_bytes(
        encode(pixels, "HEIF", quality=100, chroma=444, icc_profile=icc_profile())
    )
    (tmp_path / "photo.avif").write_bytes(
        encode(pixels, "AVIF", quality=100, subsampling="4:4:4", icc_profile=icc_profile())
    )
    inputs = [str(tmp_path / "IMG_0001.HEIC"), str(tmp_path / "photo.avif")]
    out_dir = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["quantize", *inputs, "-k", "2", "--out-dir", str(out_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [(r["input"]["format"], r["input"]["width"]) for r in report] == [
        ("heic", 16),
        ("avif", 16),
    ]
    for name in ("IMG_0001.k2.png", "photo.k2.png"):
        out = np.asarray(Image.open(out_dir / name).convert("RGB")).astype(int)
        assert np.abs(out[::8, 0] - expected).max() <= 3


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


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """Three small real photos (the cat, cropped three ways) in one folder."""
    folder = tmp_path_factory.mktemp("folder")
    cat = sample_images.chelsea()
    paths = []
    for n, crop in enumerate([cat[:200, :300], cat[100:, 150:], cat[::2, ::2]]):
        path = folder / f"photo{n}.png"
        Image.fromarray(np.ascontiguousarray(crop)).save(path)
        paths.append(path)
    return paths


def test_many_files_in_one_command_match_one_file_at_a_time(photos, tmp_path):
    together, alone = tmp_path / "together", tmp_path / "alone"
    args = ["-k", "2,5,16", "--seed", "4"]
    for jobs in ("1", "2"):
        result = CliRunner().invoke(
            main,
            ["quantize", *map(str, photos), *args, "--out-dir", str(together / jobs), "-j", jobs],
        )
        assert result.exit_code == 0, result.output
    for photo in photos:
        result = CliRunner().invoke(main, ["quantize", str(photo), *args, "--out-dir", str(alone)])
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in alone.iterdir())
    assert names == sorted(f"photo{n}.k{k}.png" for n in range(3) for k in (2, 5, 16))
    for jobs in ("1", "2"):
        assert sorted(p.name for p in (together / jobs).iterdir()) == names
        for name in names:
            assert (together / jobs / name).read_bytes() == (alone / name).read_bytes()


def test_many_files_json_is_a_list_in_input_order(photos, tmp_path):
    result = CliRunner().invoke(
        main, ["quantize", *map(str, photos), "-k", "3", "--out-dir", str(tmp_path), "--json",
               "-j", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    reports = json.loads(result.output)
    assert [r["path"] for r in reports] == [str(p) for p in photos]
    for report, photo in zip(reports, photos, strict=True):
        [output] = report["outputs"]
        assert output["path"] == str(tmp_path / f"{photo.stem}.k3.png")
        assert report["input"]["width"] == Image.open(photo).width


def test_a_bad_file_among_many_is_reported_and_the_others_done(photos, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["quantize", str(photos[0]), str(bad), "-k", "4", "--out-dir", str(out)]
    )
    assert result.exit_code == 1
    assert f"Error: {bad}: corrupt_image" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["photo0.k4.png"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-k", "4", "-o", "{tmp}/out.webp"], "a png output must end in .png"),
        (["-k", "4", "--format", "webp", "-o", "{tmp}/out.png"], "a webp output must end in .webp"),
        (["-k", "4", "-o", "{tmp}/out"], "a png output must end in .png"),
    ],
)
def test_a_mismatched_output_extension_is_refused_before_any_work(photo, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(main, ["quantize", str(photo), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_output_is_one_line_before_any_work(photos, tmp_path):
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("")
    for where in (["--out-dir", str(not_a_dir / "sub")], ["-o", str(not_a_dir / "x.png")]):
        inputs = [str(photos[0])] if where[0] == "-o" else [str(p) for p in photos]
        result = CliRunner().invoke(main, ["quantize", *inputs, "-k", "4", *where])
        assert result.exit_code == 1, result.output
        directory = not_a_dir / "sub" if where[0] == "--out-dir" else not_a_dir
        assert result.output.strip().splitlines() == [
            f"Error: cannot write to {directory}: {not_a_dir} is not a directory"
        ]
    assert list(tmp_path.iterdir()) == [not_a_dir]
    assert not any(p.name.endswith(".k4.png") for p in photos[0].parent.iterdir())


def test_two_inputs_with_one_name_in_one_out_dir_are_refused(photos, tmp_path):
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / photos[0].name).write_bytes(photos[0].read_bytes())
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["quantize", str(photos[0]), str(twin / photos[0].name), "-k", "4", "--out-dir",
               str(out)],
    )  # fmt: skip
    assert result.exit_code == 2 and "would both be written to" in result.output
    assert not out.exists()


def run_on_a_terminal(args: list[str]) -> str:
    """Run `kcolors` with stderr on a pseudo-terminal; return what the terminal showed."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    controller, terminal = pty.openpty()
    # 24 rows of 80 columns, as a terminal has (a new pseudo-terminal has 0 columns)
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    kcolors = Path(sys.executable).with_name("kcolors")
    process = subprocess.Popen([str(kcolors), *args], stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert process.wait() == 0
    return shown.decode(errors="replace")


def test_progress_bar_on_a_terminal_and_quiet_otherwise(photos, tmp_path):
    args = ["quantize", *map(str, photos), "-k", "3", "--out-dir", str(tmp_path), "--force"]
    assert "3/3" in run_on_a_terminal(args)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("kcolors")), *args], capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert result.stderr == ""


def run_kcolors(*args: str) -> subprocess.CompletedProcess:
    """The `kcolors` entry point, as a user runs it."""
    kcolors = Path(sys.executable).with_name("kcolors")
    return subprocess.run([str(kcolors), *args], capture_output=True, text=True, check=False)


def test_a_missing_folder_for_o_is_refused_unless_parents(photo, tmp_path):
    target = tmp_path / "no" / "such" / "out.png"
    refused = run_kcolors("quantize", str(photo), "-k", "4", "-o", str(target))
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"Error: cannot write {target}: no folder {target.parent} (--parents makes it)"
    )
    assert not (tmp_path / "no").exists()
    made = run_kcolors("quantize", str(photo), "-k", "4", "-o", str(target), "--parents")
    assert made.returncode == 0, made.stderr
    assert Image.open(target).mode == "P"


def test_an_existing_output_is_kept_unless_force(photo, tmp_path):
    target = tmp_path / "chelsea.k4.png"
    target.write_bytes(b"mine")
    for where in (["-o", str(target)], ["--out-dir", str(tmp_path)]):
        refused = run_kcolors("quantize", str(photo), "-k", "4", *where)
        assert refused.returncode == 1
        assert refused.stderr.strip() == f"Error: {target} exists: --force overwrites it"
        assert target.read_bytes() == b"mine"
    forced = run_kcolors("quantize", str(photo), "-k", "4", "-o", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert Image.open(target).mode == "P"
    help_text = run_kcolors("quantize", "--help").stdout
    assert "--force" in help_text and "--parents" in help_text


def test_an_existing_auto_k_output_is_kept_unless_force(photo, tmp_path):
    """The auto-k output's name is known only after the search: it too is never overwritten."""
    args = ("quantize", str(photo), "--target-psnr", "28", "--out-dir", str(tmp_path), "--json")
    first = run_kcolors(*args)
    assert first.returncode == 0, first.stderr
    [made] = json.loads(first.stdout)["outputs"]
    Path(made["path"]).write_bytes(b"mine")
    again = run_kcolors(*args)
    assert again.returncode == 1
    assert f"{made['path']} exists: --force overwrites it" in again.stderr
    assert Path(made["path"]).read_bytes() == b"mine"
