"""Benchmark of the engine against pngquant and libimagequant, with full k-means' quality.

Run: python -m tests.benchmarks.quantize_bench [--sizes 0.1,0.3,1,3,12] [--ks 2,8,16,32,64,256]
         [--repeat 3] [--folder] [--process] [--memory] [--optimize] [--dither] [--output PATH]

The grid is sizes x k. For each case, alternated in the same run and each the best of --repeat
(--repeat-small below 1 MP):

- kcolors: the warm engine job in-process, as a worker runs it (`quantize_image`: decode,
  histogram, fit, remap, encode, statistics);
- pngquant: the whole `pngquant --nofs K` process on the same PNG;
- libimagequant in-process (PyPI `imagequant`, no dithering), quantizing a decoded image.

PSNR (RGB, dB) and bytes come with each; full k-means is scikit-learn's KMeans on every pixel
(random_state=0), cached in results/full_kmeans_psnr.json since it takes up to hours at 12 MP.
`--process` adds the whole `kcolors quantize` process for 12 MP at k = 16, `--folder` a folder
of 0.3-MP photos as one command of each tool, `--memory` the peak memory of `kcolors quantize`
on a 50-MP image, `--optimize` the same job with `optimize` (oxipng) against the bytes of
pngquant's `--nofs` and default (dithered) outputs. `--dither` adds, for each case, the dithered
job against the whole `pngquant K` process (its default dithering), alternated: PSNR, SSIM of
both pictures blurred (`blurred_ssim`), bytes (also with `optimize`, untimed) and time, and
Pillow's Floyd-Steinberg onto the same palette (the engine's dithering before issue 12) for
reference. The whole run is pinned to one core with one BLAS thread; it writes JSON and prints
markdown tables.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kcolors.engine.params import QuantizeParams
from tests.benchmarks.pinning import pin_to_one_core

KS = (2, 8, 16, 32, 64, 256)
# size name -> (width, height, tile size or None for one photo resized, photo for one photo)
SIZES: dict[str, tuple[int, int, tuple[int, int] | None, str]] = {
    "0.1": (388, 258, None, "chelsea"),
    "0.3": (671, 447, None, "china"),
    "1": (1155, 866, (385, 289), ""),
    "3": (2000, 1500, (400, 300), ""),
    "12": (4000, 3000, (800, 600), ""),
}
MEMORY_SIZE = (8660, 5770, (866, 577))  # 49.97 megapixels, under the 50-MP limit
FOLDER_SIZE = (632, 474)  # 0.3 MP
RESULTS = Path(__file__).parent / "results"
DEFAULT_OUTPUT = RESULTS / "quantize_bench.json"
KMEANS_CACHE = RESULTS / "full_kmeans_psnr.json"


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


def resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))


def mosaic(
    photos: dict[str, np.ndarray], size: tuple[int, int], tile: tuple[int, int]
) -> np.ndarray:
    """A photo mosaic: the sample photos resized (Lanczos) into tiles, cycling row by row."""
    width, height = size
    tile_width, tile_height = tile
    tiles = [resize(p, tile) for p in photos.values()]
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    n = 0
    for y in range(0, height, tile_height):
        for x in range(0, width, tile_width):
            part = tiles[(n + y // tile_height) % len(tiles)]
            canvas[y : y + tile_height, x : x + tile_width] = part[: height - y, : width - x]
            n += 1
    return canvas


def grid_image(photos: dict[str, np.ndarray], name: str) -> np.ndarray:
    width, height, tile, photo = SIZES[name]
    return (
        resize(photos[photo], (width, height))
        if tile is None
        else mosaic(photos, (width, height), tile)
    )


def psnr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """PSNR in dB between two uint8 RGB images."""
    error = reference.astype(np.int64) - candidate.astype(np.int64)
    mse = float(np.einsum("ijk,ijk->", error, error)) / reference.size
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def read_rgb(data: bytes | Path) -> np.ndarray:
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
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
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        assert process.stderr is not None
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


def kcolors_command() -> str:
    return str(Path(sys.executable).with_name("kcolors"))


def pngquant_command(png: Path, k: int, out: Path, dither: bool = False) -> list[str]:
    options = [] if dither else ["--nofs"]
    return ["pngquant", *options, "--force", "--output", str(out), str(k), str(png)]


def engine_job(
    data: bytes, k: int, optimize: bool = False, dither: bool = False
) -> tuple[float, Any]:
    """One warm engine job, as a worker runs it."""
    from kcolors.engine.quantize import quantize_image

    started = time.perf_counter()
    report = quantize_image(data, QuantizeParams(k=[k], optimize=optimize, dither=dither))
    return time.perf_counter() - started, report.outputs[0]


def libimagequant(pixels: np.ndarray, k: int) -> tuple[float, bytes]:
    """libimagequant in-process on decoded pixels (no dithering); the PNG as Pillow saves it."""
    import imagequant

    image = Image.fromarray(pixels)
    started = time.perf_counter()
    quantized = imagequant.quantize_pil_image(image, dithering_level=0.0, max_colors=k)
    seconds = time.perf_counter() - started
    buffer = io.BytesIO()
    quantized.save(buffer, "PNG")
    return seconds, buffer.getvalue()


def full_kmeans_psnr(
    cache: dict[str, float], key: str, pixels: np.ndarray, k: int, compute: bool
) -> float | None:
    """scikit-learn KMeans over every pixel (the article's method), palette rounded to uint8:
    from the cache, else computed when `compute` (else None)."""
    if key not in cache and not compute:
        return None
    if key not in cache:
        from sklearn.cluster import KMeans

        flat = pixels.reshape(-1, 3).astype(np.float64)
        model = KMeans(n_clusters=k, random_state=0).fit(flat)
        palette = np.clip(np.rint(model.cluster_centers_), 0, 255).astype(np.uint8)
        cache[key] = psnr(pixels, palette[model.labels_].reshape(pixels.shape))
        KMEANS_CACHE.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
    return cache[key]


def bench_case(size: str, png: Path, pixels: np.ndarray, k: int, work: Path, args: Any,
               kmeans_cache: dict[str, float] | None) -> dict[str, Any]:  # fmt: skip
    """Every method on one image and k, alternated, best of --repeat."""
    data = png.read_bytes()
    engine_job(data, k)  # warm: what a worker's earlier jobs did
    pngquant_out = work / f"{png.stem}.pq{k}.png"
    engine_runs, pngquant_runs, liq_runs, optimized_runs = [], [], [], []
    output = optimized = None
    liq_bytes = b""
    # Runs under a second are cheap to repeat and the most disturbed by other load.
    repeat = args.repeat if pixels.shape[0] * pixels.shape[1] >= 1e6 else args.repeat_small
    for _ in range(repeat):
        seconds, output = engine_job(data, k)
        engine_runs.append(seconds)
        pngquant_runs.append(run_process(pngquant_command(png, k, pngquant_out))[0])
        seconds, liq_bytes = libimagequant(pixels, k)
        liq_runs.append(seconds)
        if args.optimize:
            seconds, optimized = engine_job(data, k, optimize=True)
            optimized_runs.append(seconds)
    assert output is not None
    case: dict[str, Any] = {
        "size": size,
        "megapixels": pixels.shape[0] * pixels.shape[1] / 1e6,
        "k": k,
        "kcolors": {
            "psnr": psnr(pixels, read_rgb(output.data)),
            "bytes": len(output.data),
            "seconds": min(engine_runs),
            "runs": [round(s, 4) for s in engine_runs],
            "timings": output.stats["timings"],
        },
        "pngquant": {
            "psnr": psnr(pixels, read_rgb(pngquant_out)),
            "bytes": pngquant_out.stat().st_size,
            "seconds": min(pngquant_runs),
            "runs": [round(s, 4) for s in pngquant_runs],
        },
        "libimagequant": {
            "psnr": psnr(pixels, read_rgb(liq_bytes)),
            "bytes": len(liq_bytes),
            "seconds": min(liq_runs),
        },
    }
    if optimized is not None:
        case["optimized"] = optimized_case(optimized, optimized_runs, output, png, k, work)
    if kmeans_cache is not None:
        compute = case["megapixels"] <= args.kmeans_up_to
        full = full_kmeans_psnr(kmeans_cache, f"{size}:{k}", pixels, k, compute)
        if full is not None:
            case["full_kmeans"] = {"psnr": full}
    kc = case["kcolors"]
    case["engine_vs_pngquant"] = kc["seconds"] / case["pngquant"]["seconds"]
    case["psnr_minus_pngquant"] = kc["psnr"] - case["pngquant"]["psnr"]
    case["psnr_minus_libimagequant"] = kc["psnr"] - case["libimagequant"]["psnr"]
    case["psnr_minus_full_kmeans"] = (
        kc["psnr"] - case["full_kmeans"]["psnr"] if "full_kmeans" in case else None
    )
    print(f"  {size} MP k={k}: x{case['engine_vs_pngquant']:.2f} of pngquant, "
          f"PSNR {kc['psnr']:.3f} (pngquant {case['pngquant']['psnr']:.3f}, libimagequant "
          f"{case['libimagequant']['psnr']:.3f}, full k-means "
          f"{case['full_kmeans']['psnr'] if 'full_kmeans' in case else float('nan'):.3f})",
          file=sys.stderr, flush=True)  # fmt: skip
    return case


def optimized_case(optimized: Any, runs: list[float], plain: Any, png: Path, k: int,
                   work: Path) -> dict[str, Any]:  # fmt: skip
    """The `optimize` job's bytes and times, with pngquant's default (dithered) output's bytes."""
    dithered = work / f"{png.stem}.pqd{k}.png"
    run_process(pngquant_command(png, k, dithered, dither=True))
    assert np.array_equal(read_rgb(optimized.data), read_rgb(plain.data))  # lossless
    return {
        "bytes": len(optimized.data),
        "bytes_before_optimize": optimized.stats["bytes_before_optimize"],
        "seconds": min(runs),
        "runs": [round(s, 4) for s in runs],
        "timings": optimized.stats["timings"],
        "pngquant_dithered_bytes": dithered.stat().st_size,
    }


def blurred_ssim(reference: np.ndarray, candidate: np.ndarray) -> float:
    """SSIM (scikit-image's, 7 x 7 windows, mean over R, G and B) of both pictures blurred by a
    Gaussian of sigma 1 pixel, roughly as an eye sees them from a little way off: dithering
    that keeps the local mean colour scores, where per-pixel PSNR counts every dot as an error."""
    from scipy.ndimage import gaussian_filter
    from skimage.metrics import structural_similarity

    scores = []
    for channel in range(3):  # one at a time: at 12 MP all three take gigabytes
        a = gaussian_filter(reference[..., channel].astype(np.float64), 1.0)
        b = gaussian_filter(candidate[..., channel].astype(np.float64), 1.0)
        scores.append(structural_similarity(a, b, data_range=255.0))
    return float(np.mean(scores))


def pillow_floyd_steinberg(pixels: np.ndarray, k: int) -> tuple[np.ndarray, bytes]:
    """The engine's dithering before issue 12: Pillow's Floyd-Steinberg onto the fitted palette.
    Returns the RGB pixels and the PNG the engine's encoder makes of them."""
    from kcolors.engine.encode import encode_indexed
    from kcolors.engine.histogram import build_histogram
    from kcolors.engine.palette import fit_palette

    palette = fit_palette(build_histogram(pixels), k)
    palette_image = Image.new("P", (1, 1))
    palette_image.putpalette(palette.tobytes(), "RGB")
    indices = np.asarray(
        Image.fromarray(pixels).quantize(palette=palette_image, dither=Image.Dither.FLOYDSTEINBERG)
    )
    return palette[indices], encode_indexed(indices, palette, dithered=True)


def dither_case(size: str, png: Path, pixels: np.ndarray, k: int, work: Path,
                args: Any) -> dict[str, Any]:  # fmt: skip
    """The dithered job against `pngquant K` (default dithering), alternated, best of --repeat."""
    data = png.read_bytes()
    engine_job(data, k, dither=True)  # warm
    pngquant_out = work / f"{png.stem}.pqfs{k}.png"
    engine_runs, pngquant_runs = [], []
    output = None
    repeat = args.repeat if pixels.shape[0] * pixels.shape[1] >= 1e6 else args.repeat_small
    for _ in range(repeat):
        seconds, output = engine_job(data, k, dither=True)
        engine_runs.append(seconds)
        pngquant_runs.append(run_process(pngquant_command(png, k, pngquant_out, dither=True))[0])
    assert output is not None
    ours, theirs = read_rgb(output.data), read_rgb(pngquant_out)
    optimized = engine_job(data, k, optimize=True, dither=True)[1]
    before, before_png = pillow_floyd_steinberg(pixels, k)
    case: dict[str, Any] = {
        "size": size,
        "megapixels": pixels.shape[0] * pixels.shape[1] / 1e6,
        "k": k,
        "kcolors": {
            "psnr": psnr(pixels, ours),
            "ssim": blurred_ssim(pixels, ours),
            "bytes": len(output.data),
            "optimized_bytes": len(optimized.data),
            "seconds": min(engine_runs),
            "runs": [round(s, 4) for s in engine_runs],
            "timings": output.stats["timings"],
        },
        "pngquant": {
            "psnr": psnr(pixels, theirs),
            "ssim": blurred_ssim(pixels, theirs),
            "bytes": pngquant_out.stat().st_size,
            "seconds": min(pngquant_runs),
            "runs": [round(s, 4) for s in pngquant_runs],
        },
        "pillow_fs": {
            "psnr": psnr(pixels, before),
            "ssim": blurred_ssim(pixels, before),
            "bytes": len(before_png),
        },
    }
    kc, pq = case["kcolors"], case["pngquant"]
    case["engine_vs_pngquant"] = kc["seconds"] / pq["seconds"]
    case["psnr_minus_pngquant"] = kc["psnr"] - pq["psnr"]
    case["ssim_minus_pngquant"] = kc["ssim"] - pq["ssim"]
    case["bytes_vs_pngquant"] = kc["bytes"] / pq["bytes"]
    case["optimized_bytes_vs_pngquant"] = kc["optimized_bytes"] / pq["bytes"]
    print(f"  dithered {size} MP k={k}: x{case['engine_vs_pngquant']:.2f} of pngquant, PSNR "
          f"{kc['psnr']:.3f} ({pq['psnr']:.3f}), SSIM {kc['ssim']:.4f} ({pq['ssim']:.4f}), "
          f"bytes x{case['bytes_vs_pngquant']:.3f} "
          f"(optimized x{case['optimized_bytes_vs_pngquant']:.3f})",
          file=sys.stderr, flush=True)  # fmt: skip
    return case


def whole_processes(png: Path, k: int, work: Path, repeat: int) -> dict[str, Any]:
    """The whole `kcolors quantize` and `pngquant` processes on one file, alternated."""
    commands = {
        "kcolors": [kcolors_command(), "quantize", str(png), "-k", str(k), "--out-dir", str(work)],
        "pngquant": pngquant_command(png, k, work / f"{png.stem}.pq{k}.png"),
    }
    return _alternate(commands, repeat)


def _alternate(commands: dict[str, list[str]], repeat: int) -> dict[str, Any]:
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            runs[name].append(run_process(command))
    result: dict[str, Any] = {
        name: {
            "seconds": min(r[0] for r in rs),
            "runs": [round(r[0], 3) for r in rs],
            "peak_mb": max(r[1] for r in rs),
        }
        for name, rs in runs.items()
    }
    result["ratio"] = result["kcolors"]["seconds"] / result["pngquant"]["seconds"]
    return result


def folder_row(photos: dict[str, np.ndarray], work: Path, k: int, repeat: int) -> dict[str, Any]:
    """A folder of 0.3-MP photos (the five photos and their mirror images) as one command."""
    folder = work / "folder"
    folder.mkdir()
    for name, photo in photos.items():
        pixels = resize(photo, FOLDER_SIZE)
        Image.fromarray(pixels).save(folder / f"{name}.png")
        Image.fromarray(pixels[:, ::-1]).save(folder / f"{name}-mirror.png")
    files = sorted(str(p) for p in folder.glob("*.png"))
    out = work / "folder-out"
    commands = {
        "kcolors": [kcolors_command(), "quantize", *files, "-k", str(k), "--out-dir", str(out)],
        "pngquant": ["pngquant", "--nofs", "--force", "--ext", ".pq.png", str(k), *files],
    }
    result = _alternate(commands, repeat)
    result.update(files=len(files), k=k, megapixels=FOLDER_SIZE[0] * FOLDER_SIZE[1] / 1e6)
    return result


def memory_row(photos: dict[str, np.ndarray], work: Path) -> dict[str, Any]:
    """Peak memory of `kcolors quantize` (k = 16) on a 50-MP mosaic."""
    width, height, tile = MEMORY_SIZE
    png = work / "mosaic50.png"
    Image.fromarray(mosaic(photos, (width, height), tile)).save(png, compress_level=1)
    command = [kcolors_command(), "quantize", str(png), "-k", "16", "--out-dir", str(work)]
    seconds, peak = run_process(command)
    return {"megapixels": width * height / 1e6, "k": 16, "seconds": seconds, "peak_mb": peak}


def speed_table(cases: list[dict[str, Any]]) -> str:
    sizes = list(dict.fromkeys(c["size"] for c in cases))
    ks = list(dict.fromkeys(c["k"] for c in cases))
    lines = ["| size | " + " | ".join(f"k={k}" for k in ks) + " |",
             "|---|" + "---|" * len(ks)]  # fmt: skip
    for size in sizes:
        cells = []
        for k in ks:
            case = next((c for c in cases if c["size"] == size and c["k"] == k), None)
            cells.append("-" if case is None else f"{case['engine_vs_pngquant']:.2f}x")
        lines.append(f"| {size} MP | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def quality_table(cases: list[dict[str, Any]]) -> str:
    def num(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| MP | k | PSNR kcolors | full k-means | pngquant | libimagequant | Δ k-means "
        "| kcolors s | pngquant s | libimagequant s | bytes kcolors / pngquant / libimagequant |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        kc, pq, liq = c["kcolors"], c["pngquant"], c["libimagequant"]
        full = c.get("full_kmeans")
        lines.append(
            f"| {c['size']} | {c['k']} | {num(kc['psnr'])} | {num(full['psnr']) if full else '-'} "
            f"| {num(pq['psnr'])} | {num(liq['psnr'])} | {num(c['psnr_minus_full_kmeans'], 3)} "
            f"| {kc['seconds']:.3f} | {pq['seconds']:.3f} | {liq['seconds']:.3f} "
            f"| {kc['bytes']:,} / {pq['bytes']:,} / {liq['bytes']:,} |"
        )
    return "\n".join(lines)


def optimize_table(cases: list[dict[str, Any]]) -> str:
    """Bytes with `optimize` against pngquant's (`--nofs`, and its default, dithered) outputs."""
    lines = [
        "| MP | k | bytes kcolors | optimized | saved | / pngquant --nofs | / pngquant default "
        "| optimize s / pngquant s | job s / pngquant s | encode s / optimize s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        if "optimized" not in c:
            continue
        opt, pq_seconds = c["optimized"], c["pngquant"]["seconds"]
        before, after, timings = opt["bytes_before_optimize"], opt["bytes"], opt["timings"]
        dithered = opt["pngquant_dithered_bytes"]
        lines.append(
            f"| {c['size']} | {c['k']} | {before:,} | {after:,} | {1 - after / before:.1%} "
            f"| {after / c['pngquant']['bytes']:.3f} | {after / dithered:.3f} "
            f"| {timings['optimize'] / pq_seconds:.2f} | {opt['seconds'] / pq_seconds:.2f} "
            f"| {timings['encode'] / timings['optimize']:.2f} |"
        )
    return "\n".join(lines)


def dither_table(cases: list[dict[str, Any]]) -> str:
    """Dithered outputs against pngquant's default ones, and Pillow's (the engine's before)."""
    lines = [
        "| MP | k | PSNR kcolors / pngquant / before | blurred SSIM kcolors / pngquant / before "
        "| bytes kcolors / pngquant / before | bytes / pngquant | optimized / pngquant "
        "| kcolors s | pngquant s | time ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        kc, pq, old = c["kcolors"], c["pngquant"], c["pillow_fs"]
        lines.append(
            f"| {c['size']} | {c['k']} | {kc['psnr']:.2f} / {pq['psnr']:.2f} / {old['psnr']:.2f} "
            f"| {kc['ssim']:.4f} / {pq['ssim']:.4f} / {old['ssim']:.4f} "
            f"| {kc['bytes']:,} / {pq['bytes']:,} / {old['bytes']:,} "
            f"| {c['bytes_vs_pngquant']:.3f} | {c['optimized_bytes_vs_pngquant']:.3f} "
            f"| {kc['seconds']:.3f} | {pq['seconds']:.3f} | {c['engine_vs_pngquant']:.2f}x |"
        )
    return "\n".join(lines)


def dither_targets(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 12's goals against the measured dithered cases."""

    def count(test: Any) -> str:
        return f"{sum(bool(test(c)) for c in cases)}/{len(cases)}"

    return {
        "dithered_psnr_at_least_pngquant": count(lambda c: c["psnr_minus_pngquant"] >= 0),
        "dithered_bytes_at_most_pngquant": count(lambda c: c["bytes_vs_pngquant"] <= 1),
        "dithered_optimized_bytes_at_most_pngquant": count(
            lambda c: c["optimized_bytes_vs_pngquant"] <= 1
        ),
        "dithered_ssim_at_least_pngquant": count(lambda c: c["ssim_minus_pngquant"] >= 0),
        "dithered_worst_psnr_minus_pngquant": min(c["psnr_minus_pngquant"] for c in cases),
        "dithered_worst_bytes_vs_pngquant": max(c["bytes_vs_pngquant"] for c in cases),
        "dithered_worst_ssim_minus_pngquant": min(c["ssim_minus_pngquant"] for c in cases),
        "dithered_worst_time_ratio": max(c["engine_vs_pngquant"] for c in cases),
    }


def targets(cases: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals against the measured cases."""
    big = [c for c in cases if c["megapixels"] >= 0.9 and c["k"] <= 64]
    compared = [c for c in cases if c["psnr_minus_full_kmeans"] is not None]

    def count(cases: list[dict[str, Any]], test: Any) -> str:
        return f"{sum(bool(test(c)) for c in cases)}/{len(cases)}"

    result: dict[str, Any] = {
        "cases_at_most_pngquant": count(cases, lambda c: c["engine_vs_pngquant"] <= 1),
        "big_cases_at_most_half": count(big, lambda c: c["engine_vs_pngquant"] <= 0.5),
        "worst_ratio": max((c["engine_vs_pngquant"] for c in cases), default=None),
        "cases_within_0.05_db_of_full_kmeans": count(
            compared, lambda c: c["psnr_minus_full_kmeans"] >= -0.05
        ),
        "worst_psnr_minus_full_kmeans": min(
            (c["psnr_minus_full_kmeans"] for c in compared), default=None
        ),
        "cases_at_least_pngquant": count(cases, lambda c: c["psnr_minus_pngquant"] >= 0),
        "cases_at_least_libimagequant": count(cases, lambda c: c["psnr_minus_libimagequant"] >= 0),
    }
    optimized = [c for c in cases if "optimized" in c]
    if optimized:
        result["optimized_at_least_10pct_below_pngquant"] = count(
            optimized, lambda c: c["optimized"]["bytes"] <= 0.9 * c["pngquant"]["bytes"]
        )
        result["optimized_below_pngquant"] = count(
            optimized, lambda c: c["optimized"]["bytes"] < c["pngquant"]["bytes"]
        )
        result["optimized_at_least_10pct_below_pngquant_default"] = count(
            optimized,
            lambda c: c["optimized"]["bytes"] <= 0.9 * c["optimized"]["pngquant_dithered_bytes"],
        )
    if "process_12mp_k16" in extra:
        result["process_12mp_k16_vs_pngquant"] = extra["process_12mp_k16"]["ratio"]
    if "folder" in extra:
        result["folder_vs_pngquant"] = extra["folder"]["ratio"]
    if "memory_50mp" in extra:
        result["peak_mb_50mp"] = extra["memory_50mp"]["peak_mb"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best kept)")
    parser.add_argument("--repeat-small", type=int, default=7, help="the same, under 1 MP")
    parser.add_argument("--cpu", type=int, help="core to pin to (default: the first allowed)")
    parser.add_argument(
        "--sizes", type=lambda s: [x for x in s.split(",") if x], default=list(SIZES)
    )
    parser.add_argument("--ks", type=lambda s: [int(k) for k in s.split(",")], default=list(KS))
    parser.add_argument("--no-kmeans", action="store_true", help="skip full k-means")
    parser.add_argument(
        "--kmeans-up-to",
        type=float,
        default=3.5,
        metavar="MP",
        help="compute missing full k-means only up to this size (else cached)",
    )
    parser.add_argument("--process", action="store_true", help="whole processes, 12 MP k=16")
    parser.add_argument("--folder", action="store_true", help="a folder of 0.3-MP photos")
    parser.add_argument("--memory", action="store_true", help="peak memory at 50 MP")
    parser.add_argument("--optimize", action="store_true", help="also the job with optimize")
    parser.add_argument("--dither", action="store_true", help="dithered jobs against pngquant's")
    parser.add_argument("--no-plain", action="store_true", help="only the dithered cases")
    args = parser.parse_args()
    pin_to_one_core(args.cpu, "tests.benchmarks.quantize_bench")
    # pngquant's outputs carry a tRNS chunk; converting them to RGB is what is meant here.
    warnings.filterwarnings("ignore", "Palette images with Transparency", UserWarning)
    if shutil.which("pngquant") is None:
        sys.exit("pngquant is missing: run scripts/install-system-deps.sh")
    photos = sample_photos()
    kmeans_cache = None
    if not args.no_kmeans:
        kmeans_cache = json.loads(KMEANS_CACHE.read_text()) if KMEANS_CACHE.exists() else {}
    cases: list[dict[str, Any]] = []
    dithered: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for size in args.sizes:
            pixels = grid_image(photos, size)
            png = work / f"grid{size}.png"
            Image.fromarray(pixels).save(png)
            for k in args.ks:
                if not args.no_plain:
                    cases.append(bench_case(size, png, pixels, k, work, args, kmeans_cache))
                if args.dither:
                    dithered.append(dither_case(size, png, pixels, k, work, args))
            if args.process and size == "12":
                extra["process_12mp_k16"] = whole_processes(png, 16, work, args.repeat)
        if args.process and "12" not in args.sizes:
            png = work / "grid12.png"
            Image.fromarray(grid_image(photos, "12")).save(png)
            extra["process_12mp_k16"] = whole_processes(png, 16, work, args.repeat)
        if args.folder:
            extra["folder"] = folder_row(photos, work, 16, args.repeat)
        if args.memory:
            extra["memory_50mp"] = memory_row(photos, work)
    result = {
        "command": "python -m tests.benchmarks.quantize_bench " + " ".join(sys.argv[1:]),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores_used": 1,
            "pngquant": subprocess.run(
                ["pngquant", "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
        },
        "targets": {**targets(cases, extra), **(dither_targets(dithered) if dithered else {})},
        "cases": cases,
        "dithered_cases": dithered,
        **extra,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    if cases:
        print("Warm engine job / whole pngquant process:\n")
        print(speed_table(cases))
        print()
        print(quality_table(cases))
        print()
        if args.optimize:
            print(optimize_table(cases))
            print()
    if dithered:
        print("Dithered: kcolors against `pngquant K` (its default dithering):\n")
        print(dither_table(dithered))
        print()
    for name, row in extra.items():
        print(f"- {name}: {json.dumps(row)}")
    for key, value in result["targets"].items():
        print(f"- {key}: {round(value, 3) if isinstance(value, float) else value}")


if __name__ == "__main__":
    main()
