"""`kcolors quantize`: run the engine on one local image file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cli.params import param_options, params_from_options
from kcolors.engine.params import QuantizeParams


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@param_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (only with a single output).")  # fmt: skip
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the outputs (default: beside the input).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def quantize(
    input_path: Path, output: Path | None, out_dir: Path | None, as_json: bool, **options: Any
) -> None:
    """Write k-colour versions of INPUT as <stem>.k<K>.png and print their statistics."""
    # Imported here so that `kcolors --help` and the other commands do not pay for numpy.
    from kcolors.engine.quantize import quantize_image
    from kcolors.errors import KcolorsError

    params = params_from_options(options)
    if output is not None and (out_dir is not None or output_count(params) != 1):
        raise click.UsageError("-o/--output needs exactly one output (one -k or --target-psnr)")
    try:
        data = input_path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {input_path}: {exc.strerror}") from exc
    directory = out_dir if out_dir is not None else input_path.parent
    written: list[dict[str, Any]] = []

    def save(result: Any) -> None:
        path = output or directory / f"{input_path.stem}.k{result.k}.{result.extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(result.data)
        written.append({"path": str(path), **result.stats})

    try:
        report = quantize_image(data, params, on_output=save)
    except KcolorsError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    if as_json:
        json.dump({"input": report.input_stats, "outputs": written}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        click.echo(format_table(input_path, report.input_stats, written))


def output_count(params: QuantizeParams) -> int:
    """How many files the parameters make: one per k, one more for a target."""
    return len(params.k) + (params.target_psnr is not None)


def format_table(input_path: Path, input_stats: dict[str, Any], outputs: list[dict]) -> str:
    """Render the statistics as a plain-text table."""
    s = input_stats
    lines = [
        f"{input_path}: {s['width']}x{s['height']} {s['format']}, {s['bytes']:,} bytes, "
        f"{s['distinct_colors']:,} distinct colours",
        f"{'k':>4} {'bytes':>11} {'ratio':>7} {'truecolour PNG':>15} {'PSNR dB':>8} "
        f"{'colours':>7} {'seconds':>8}  output",
    ]
    for o in outputs:
        psnr = "lossless" if o["psnr"] is None else f"{o['psnr']:.2f}"
        seconds = sum(o["timings"].values())
        k = f"{o['k']}*" if o.get("auto") else str(o["k"])
        lines.append(
            f"{k:>4} {o['bytes']:>11,} {o['compression_ratio']:>7.2f} "
            f"{o['truecolor_png_bytes']:>15,} {psnr:>8} {o['distinct_colors']:>7} "
            f"{seconds:>8.3f}  {o['path']}"
        )
    if any(o.get("auto") for o in outputs):
        lines.append("* chosen automatically for the target PSNR")
    return "\n".join(lines)
