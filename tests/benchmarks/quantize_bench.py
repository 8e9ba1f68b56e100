"""Benchmark of the quantization engine against full k-means, pngquant and Pillow's median cut.

Run: python -m tests.benchmarks.quantize_bench [--quick] [--output PATH]

The whole run is pinned to one core (it re-executes itself under that affinity with one BLAS and
OpenMP thread), so every figure, and every ratio between them, is single-core and measured in the
same run. Writes JSON and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kcolors.engine.params import QuantizeParams

KS = (2, 5, 10, 16, 24, 64)
MOSAIC_SIZE = (4000, 3000)  # 12 megapixels
TILE_SIZE = (800, 600)
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "quantize_bench.json"
_PINNED = "_QUANTIZE_BENCH_PINNED"


def sample_photos() -> dict[str, np.ndarray]:
    """Real photos that ship inside scikit-image and scikit-learn (no download)."""
    from skimage import data
    from sklearn.datasets import load_sample_image

    return {
        "chelsea": data.chelsea(),
        "astronaut": data.astronaut(),
        "coffee": data.coffee(),
        "china": load_sample_image("china.jpg"),
        "flower": load_sample_image("flower.jpg"),
    }


def mosaic(photos: dict[str, np.ndarray]) -> np.ndarray:
    """A 12-MP photo mosaic: the sample photos resized (Lanczos) into 800x600 tiles."""
    width, height = MOSAIC_SIZE
    tile_width, tile_height = TILE_SIZE
    tiles = [
        np.asarray(Image.fromarray(p).resize(TILE_SIZE, Image.Resampling.LANCZOS))
        for p in photos.values()
    ]
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    for n, (y, x) in enumerate(
        (y, x) for y in range(0, height, tile_height) for x in range(0, width, tile_width)
    ):
        canvas[y : y + tile_height, x : x + tile_width] = tiles[(n + y // tile_height) % len(tiles)]
    return canvas


def psnr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """PSNR in dB between two uint8 RGB images."""
    error = reference.astype(np.int64) - candidate.astype(np.int64)
    mse = float(np.einsum("ijk,ijk->", error, error)) / reference.size
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def read_rgb(path: Path) -> np.ndarray:
    """Decode an output file to RGB pixels."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def run_process(command: list[str]) -> tuple[float, float]:
    """Run a whole process; return its wall time (s) and peak resident memory (MB).

    The peak is the child's VmHWM, polled: getrusage would report the benchmark's own size,
    which the child inherits at fork, before exec.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_kb = 0
    while process.poll() is None:
        peak_kb = max(peak_kb, _high_water_kb(process.pid))
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {process.stderr.read().decode()}")
    return elapsed, peak_kb / 1024


def _high_water_kb(pid: int) -> int:
    """The peak resident set size (VmHWM) of a running process, in kB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure_processes(png: Path, k: int, work: Path, repeat: int) -> dict[str, dict]:
    """Whole `kcolors quantize` and `pngquant --nofs` processes, alternated so both see the
    same machine load; best wall time and largest peak memory of each."""
    kcolors = str(Path(sys.executable).with_name("kcolors"))
    commands = {
        "kcolors": [kcolors, "quantize", str(png), "-k", str(k), "--out-dir", str(work)],
        "pngquant": ["pngquant", "--nofs", "--force", "--output",
                     str(work / f"{png.stem}.pngquant{k}.png"), str(k), str(png)],
    }  # fmt: skip
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            runs[name].append(run_process(command))
    return {
        name: {
            "process_seconds": min(r[0] for r in results),
            "process_seconds_runs": [round(r[0], 3) for r in results],
            "peak_mb": max(r[1] for r in results),
        }
        for name, results in runs.items()
    }


def measure_kcolors(png: Path, k: int, repeat: int) -> dict:
    """Engine in-process: fit + remap time (from its stats), best of `repeat`."""
    from kcolors.engine.quantize import quantize_image

    data = png.read_bytes()
    runs = [quantize_image(data, QuantizeParams(k=[k])).outputs[0] for _ in range(repeat)]
    fit_remap = min(o.stats["timings"]["fit"] + o.stats["timings"]["remap"] for o in runs)
    return {"fit_remap_seconds": fit_remap}


def measure_full_kmeans(pixels: np.ndarray, k: int) -> dict:
    """scikit-learn KMeans over every pixel (the article's method), palette rounded to uint8."""
    from sklearn.cluster import KMeans

    flat = pixels.reshape(-1, 3).astype(np.float64)
    started = time.perf_counter()
    model = KMeans(n_clusters=k, random_state=0).fit(flat)
    seconds = time.perf_counter() - started
    palette = np.clip(np.rint(model.cluster_centers_), 0, 255).astype(np.uint8)
    return {"psnr": psnr(pixels, palette[model.labels_].reshape(pixels.shape)), "seconds": seconds}


def measure_median_cut(pixels: np.ndarray, k: int) -> dict:
    """Pillow's median cut, without dithering."""
    image = Image.fromarray(pixels)
    started = time.perf_counter()
    quantized = image.quantize(k, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    seconds = time.perf_counter() - started
    return {"psnr": psnr(pixels, np.asarray(quantized.convert("RGB"))), "seconds": seconds}


def bench_case(name: str, png: Path, pixels: np.ndarray, k: int, work: Path, args) -> dict:
    """Every method on one image and k, with kcolors' ratios against each."""
    big = pixels.shape[0] * pixels.shape[1] > 1_000_000
    repeat = args.repeat
    case: dict[str, Any] = {"image": name, "megapixels": pixels.size / 3 / 1e6, "k": k}
    processes = measure_processes(png, k, work, repeat)
    kcolors_out, pngquant_out = work / f"{png.stem}.k{k}.png", work / f"{png.stem}.pngquant{k}.png"
    case["kcolors"] = {
        "psnr": psnr(pixels, read_rgb(kcolors_out)),
        "bytes": kcolors_out.stat().st_size,
        **measure_kcolors(png, k, repeat),
        **processes["kcolors"],
    }
    case["pngquant"] = {
        "psnr": psnr(pixels, read_rgb(pngquant_out)),
        "bytes": pngquant_out.stat().st_size,
        **processes["pngquant"],
    }
    case["median_cut"] = measure_median_cut(pixels, k)
    if not (big and args.quick):
        case["full_kmeans"] = measure_full_kmeans(pixels, k)
    kc = case["kcolors"]
    case["psnr_minus_full_kmeans"] = (
        kc["psnr"] - case["full_kmeans"]["psnr"] if "full_kmeans" in case else None
    )
    case["psnr_minus_pngquant"] = kc["psnr"] - case["pngquant"]["psnr"]
    case["psnr_minus_median_cut"] = kc["psnr"] - case["median_cut"]["psnr"]
    case["process_time_vs_pngquant"] = kc["process_seconds"] / case["pngquant"]["process_seconds"]
    if "full_kmeans" in case:
        case["full_kmeans_time_vs_fit_remap"] = (
            case["full_kmeans"]["seconds"] / kc["fit_remap_seconds"]
        )
    print(f"  {name} k={k}: {json.dumps(summary_row(case))}", file=sys.stderr, flush=True)
    return case


def summary_row(case: dict) -> dict:
    """The figures of one case shown in the table."""
    full = case.get("full_kmeans")
    return {
        "kcolors_psnr": round(case["kcolors"]["psnr"], 3),
        "full_kmeans_psnr": round(full["psnr"], 3) if full else None,
        "pngquant_psnr": round(case["pngquant"]["psnr"], 3),
        "median_cut_psnr": round(case["median_cut"]["psnr"], 3),
        "fit_remap_s": round(case["kcolors"]["fit_remap_seconds"], 4),
        "process_s": round(case["kcolors"]["process_seconds"], 3),
        "pngquant_s": round(case["pngquant"]["process_seconds"], 3),
    }


def markdown(cases: list[dict]) -> str:
    """Render the cases as a markdown table."""

    def num(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| image | MP | k | PSNR kcolors | full k-means | pngquant | median cut "
        "| Δ vs k-means | Δ vs pngquant | fit+map s | k-means s (x kcolors) "
        "| process s | pngquant s | process / pngquant |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        full = c.get("full_kmeans")
        kmeans_time = (
            f"{full['seconds']:.2f} (x{c['full_kmeans_time_vs_fit_remap']:.0f})" if full else "-"
        )
        lines.append(
            f"| {c['image']} | {c['megapixels']:.2f} | {c['k']} | {num(c['kcolors']['psnr'])} "
            f"| {num(full['psnr']) if full else '-'} | {num(c['pngquant']['psnr'])} "
            f"| {num(c['median_cut']['psnr'])} | {num(c['psnr_minus_full_kmeans'], 3)} "
            f"| {num(c['psnr_minus_pngquant'], 3)} | {c['kcolors']['fit_remap_seconds']:.3f} "
            f"| {kmeans_time} | {c['kcolors']['process_seconds']:.2f} "
            f"| {c['pngquant']['process_seconds']:.2f} | {c['process_time_vs_pngquant']:.2f} |"
        )
    return "\n".join(lines)


def targets(cases: list[dict]) -> dict[str, Any]:
    """Check the issue's targets against the measured cases."""
    compared = [c for c in cases if c["psnr_minus_full_kmeans"] is not None]
    mosaic16 = next((c for c in cases if c["image"] == "mosaic" and c["k"] == 16), None)
    small16 = [c for c in cases if c["image"] != "mosaic" and 0.15 <= c["megapixels"] <= 0.3
               and c["k"] == 16]  # fmt: skip
    within = sum(c["psnr_minus_full_kmeans"] >= -0.05 for c in compared)
    at_least_pngquant = sum(c["psnr_minus_pngquant"] >= 0 for c in cases)
    return {
        "worst_psnr_minus_full_kmeans": min(
            (c["psnr_minus_full_kmeans"] for c in compared), default=None
        ),
        "cases_within_0.05_db_of_full_kmeans": f"{within}/{len(compared)}",
        "cases_at_least_pngquant": f"{at_least_pngquant}/{len(cases)}",
        "mosaic_k16_process_vs_pngquant": mosaic16 and mosaic16["process_time_vs_pngquant"],
        "mosaic_k16_peak_mb": mosaic16 and mosaic16["kcolors"]["peak_mb"],
        "slowest_0.2mp_fit_remap_k16_s": max(
            (c["kcolors"]["fit_remap_seconds"] for c in small16), default=None
        ),
    }


def pin_to_one_core(cpu: int | None) -> None:
    """Re-execute this benchmark on one core with single-threaded BLAS and OpenMP."""
    if os.environ.get(_PINNED) == "1":
        return
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {allowed[0] if cpu is None else cpu})
    env = dict(os.environ, _QUANTIZE_BENCH_PINNED="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")  # fmt: skip
    os.execve(
        sys.executable,
        [sys.executable, "-m", "tests.benchmarks.quantize_bench", *sys.argv[1:]],
        env,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--quick", action="store_true", help="skip full k-means on the 12-MP mosaic"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best kept)")
    parser.add_argument("--cpu", type=int, help="core to pin to (default: the first allowed)")
    parser.add_argument("--ks", type=lambda s: [int(k) for k in s.split(",")], default=list(KS))
    parser.add_argument("--images", type=lambda s: s.split(","), help="subset of images")
    args = parser.parse_args()
    pin_to_one_core(args.cpu)
    if shutil.which("pngquant") is None:
        sys.exit("pngquant is missing: run scripts/install-system-deps.sh")
    photos = sample_photos()
    photos["mosaic"] = mosaic(photos)
    cases = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for name, pixels in photos.items():
            if args.images and name not in args.images:
                continue
            png = work / f"{name}.png"
            Image.fromarray(pixels).save(png)
            for k in args.ks:
                cases.append(bench_case(name, png, pixels, k, work, args))
    result = {
        "command": "python -m tests.benchmarks.quantize_bench " + " ".join(sys.argv[1:]),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores_used": 1,
            "pngquant": subprocess.run(
                ["pngquant", "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
        },
        "targets": targets(cases),
        "cases": cases,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(cases))
    print()
    for key, value in result["targets"].items():
        print(f"- {key}: {round(value, 3) if isinstance(value, float) else value}")


if __name__ == "__main__":
    main()
