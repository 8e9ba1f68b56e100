"""Benchmark of auto-k (`target_psnr`): its time against a plain job at the k it chose.

Run: python -m tests.benchmarks.autok_bench [--sizes 1,3,12] [--targets 30,35,40,60,80]
         [--repeat 3] [--cpu N] [--output PATH]

For each size and target, alternated in the same run and each the best of --repeat: the warm
engine job with only the target (`quantize_image(target_psnr=T)`: decode, histogram, search,
then remap, encode and statistics of the chosen k), and the plain job at the k it chose. The
images are the photo mosaics of quantize_bench (1, 3 and 12 MP). Pinned to one core; writes JSON
and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from kcolors.engine.params import QuantizeParams
from tests.benchmarks.pinning import pin_to_one_core
from tests.benchmarks.quantize_bench import RESULTS, grid_image, sample_photos

TARGETS = (30.0, 35.0, 40.0, 60.0, 80.0)
SIZES = ("1", "3", "12")
DEFAULT_OUTPUT = RESULTS / "autok_bench.json"


def engine_job(data: bytes, params: QuantizeParams) -> tuple[float, dict[str, Any]]:
    """One warm engine job; its seconds and its last output's statistics."""
    from kcolors.engine.quantize import quantize_image

    started = time.perf_counter()
    report = quantize_image(data, params)
    return time.perf_counter() - started, report.outputs[-1].stats


def bench_case(size: str, data: bytes, target: float, repeat: int) -> dict[str, Any]:
    """Auto-k and the plain job at its k, alternated, best of `repeat` each."""
    auto_params = QuantizeParams(k=[], target_psnr=target)
    _, auto = engine_job(data, auto_params)  # warm, and the k to compare with
    plain_params = QuantizeParams(k=[auto["k"]])
    auto_times, plain_times = [], []
    for _ in range(repeat):
        auto_times.append(engine_job(data, auto_params)[0])
        seconds, plain = engine_job(data, plain_params)
        plain_times.append(seconds)
    auto_s, plain_s = min(auto_times), min(plain_times)
    return {
        "size_mp": float(size),
        "target_psnr": target,
        "k": auto["k"],
        "psnr": auto["psnr"],
        "target_reached": auto["target_reached"],
        "search_steps": auto["search_steps"],
        "auto_s": round(auto_s, 3),
        "plain_s": round(plain_s, 3),
        "plain_fit_s": round(plain["timings"]["fit"], 3),
        "ratio": round(auto_s / plain_s, 2),
        # The search's cost beyond the plain job, in fits of that job.
        "extra_fits": round((auto_s - plain_s) / plain["timings"]["fit"], 1),
    }


def table(cases: list[dict[str, Any]]) -> str:
    lines = [
        "| MP | target dB | k | PSNR dB | reached | fits | auto-k s | plain job s | ratio |"
        " extra, in plain fits |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        psnr = "lossless" if c["psnr"] is None else f"{c['psnr']:.2f}"
        lines.append(
            f"| {c['size_mp']:g} | {c['target_psnr']:g} | {c['k']} | {psnr} | "
            f"{'yes' if c['target_reached'] else 'no'} | {c['search_steps']} | {c['auto_s']:.2f} | "
            f"{c['plain_s']:.2f} | {c['ratio']:.2f}x | {c['extra_fits']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best kept)")
    parser.add_argument("--cpu", type=int, help="core to pin to (default: the first allowed)")
    parser.add_argument("--sizes", type=lambda s: s.split(","), default=list(SIZES))
    parser.add_argument(
        "--targets", type=lambda s: [float(t) for t in s.split(",")], default=list(TARGETS)
    )
    args = parser.parse_args()
    pin_to_one_core(args.cpu, "tests.benchmarks.autok_bench")
    photos = sample_photos()
    cases = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            png = Path(scratch) / f"grid{size}.png"
            Image.fromarray(grid_image(photos, size)).save(png)
            data = png.read_bytes()
            for target in args.targets:
                cases.append(bench_case(size, data, target, args.repeat))
                print(table(cases[-1:]).splitlines()[-1], flush=True)
    result = {
        "command": "python -m tests.benchmarks.autok_bench " + " ".join(sys.argv[1:]),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores_used": 1},
        "cases": cases,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(cases))


if __name__ == "__main__":
    main()
