"""`kcolors quantize`: run the engine on local image files, in one process (or N with -j)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from cli.params import param_options, params_from_options
from cli.tables import (
    OUTPUT_COLUMNS,
    Column,
    auto_k_notes,
    output_cells,
    picture,
    plural,
    render,
)
from kcolors.engine.params import QuantizeParams

# The extension each output format is written with (the engine's OUTPUT_FORMATS, without
# importing the engine and numpy before the options are checked).
EXTENSIONS = {"png": ".png", "webp": ".webp"}


@click.command()
@click.argument("input_paths", metavar="INPUT...", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))  # fmt: skip
@param_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (only with a single input and a single output).")  # fmt: skip
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the outputs (default: beside each input).")  # fmt: skip
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes quantizing files at once.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def quantize(
    input_paths: tuple[Path, ...],
    output: Path | None,
    out_dir: Path | None,
    jobs: int,
    as_json: bool,
    **options: Any,
) -> None:
    """Write k-colour versions of each INPUT as <stem>.k<K>.png and print their statistics.

    All inputs run in one process (or -j N processes), so start-up is paid once. Every output
    path is checked before any work: a wrong extension or an unwritable place stops the
    command with a one-line error. A progress bar shows on a terminal.
    """
    params = params_from_options(options)
    plans = plan_outputs(list(input_paths), params, output, out_dir)
    check_writable(plans)
    # Imported here so that `kcolors --help`, bad options and the other commands pay for
    # neither numpy nor the engine.
    from cli.quantize_files import FileRunner

    failures = 0
    reports: list[dict[str, Any]] = []
    runner = FileRunner(plans, params, jobs)
    for result in runner:
        if result.error is not None:
            failures += 1
            where = f"{result.plan.input_path}: " if len(plans) > 1 else ""
            runner.echo(f"Error: {where}{result.error}", err=True)
            continue
        report = {"input": result.input_stats, "outputs": result.outputs}
        if as_json:
            reports.append({"path": str(result.plan.input_path), **report} if len(plans) > 1
                           else report)  # fmt: skip
        else:
            runner.echo(format_table(result.plan.input_path, result.input_stats, result.outputs))
    if as_json and reports:
        json.dump(reports if len(plans) > 1 else reports[0], sys.stdout, indent=2)
        sys.stdout.write("\n")
    if failures:
        sys.exit(1)


class OutputPlan:
    """Where the outputs of one input go: one path per k (and one for the auto-k output)."""

    def __init__(self, input_path: Path, directory: Path, single: Path | None) -> None:
        self.input_path = input_path
        self.directory = directory
        self.single = single

    def path(self, k: int, extension: str) -> Path:
        return self.single or self.directory / f"{self.input_path.stem}.k{k}.{extension}"

    def known_paths(self, params: QuantizeParams) -> list[Path]:
        """The paths known before the work (the auto-k output's k is only known after it)."""
        extension = EXTENSIONS[params.format].lstrip(".")
        if self.single is not None:
            return [self.single]
        return [self.path(k, extension) for k in params.k]


def output_count(params: QuantizeParams) -> int:
    """How many files the parameters make for one input: one per k, one more for a target."""
    return len(params.k) + (params.target_psnr is not None)


def plan_outputs(
    inputs: list[Path], params: QuantizeParams, output: Path | None, out_dir: Path | None
) -> list[OutputPlan]:
    """Decide every output path, refusing what cannot work before anything is read."""
    if output is not None:
        if out_dir is not None or len(inputs) != 1 or output_count(params) != 1:
            raise click.UsageError(
                "-o/--output needs exactly one output: one INPUT and one -k (or --target-psnr)"
            )
        wanted = EXTENSIONS[params.format]
        if output.suffix.lower() != wanted:
            raise click.UsageError(
                f"-o {output}: a {params.format} output must end in {wanted}"
                + ("" if output.suffix else ", not nothing")
            )
    plans = []
    for path in inputs:
        if not path.is_file():
            reason = "no such file" if not path.exists() else "not a file"
            raise click.ClickException(f"cannot read {path}: {reason}")
        if not os.access(path, os.R_OK):
            raise click.ClickException(f"cannot read {path}: permission denied")
        plans.append(OutputPlan(path, out_dir if out_dir is not None else path.parent, output))
    seen: dict[Path, Path] = {}
    for plan in plans:
        for target in plan.known_paths(params):
            key = Path(os.path.abspath(target))
            if key in seen and seen[key] != plan.input_path:
                raise click.UsageError(
                    f"{seen[key]} and {plan.input_path} would both be written to {target}"
                )
            seen[key] = plan.input_path
    return plans


def check_writable(plans: list[OutputPlan]) -> None:
    """Stop with one line unless every output can be written: each output directory is made
    (as the outputs would make it) and a probe file is created in it and removed."""
    import tempfile

    checked: set[Path] = set()
    for plan in plans:
        if plan.single is not None:
            if plan.single.is_dir():
                raise click.ClickException(f"cannot write {plan.single}: it is a directory")
            if plan.single.exists() and not os.access(plan.single, os.W_OK):
                raise click.ClickException(f"cannot write {plan.single}: permission denied")
        directory = plan.single.parent if plan.single is not None else plan.directory
        if directory in checked:
            continue
        checked.add(directory)
        existing = Path(os.path.abspath(directory))
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise click.ClickException(
                f"cannot write to {directory}: {existing} is not a directory"
            )
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory, prefix=".kcolors-"):
                pass
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise click.ClickException(f"cannot write to {directory}: {reason}") from None


def format_table(input_path: Path, input_stats: dict[str, Any], outputs: list[dict]) -> str:
    """Render the statistics as a plain-text table, in the CLI's one dialect (cli/tables.py)."""
    s = input_stats
    heading = (
        f"{input_path}: {picture(s['width'], s['height'], s['format'])}, "
        f"{plural(s['bytes'], 'byte')}, {plural(s['distinct_colors'], 'distinct colour')}"
    )
    columns = [*OUTPUT_COLUMNS, Column("seconds"), Column("output", right=False)]
    rows = [
        [
            *output_cells(o),
            f"{sum(o['timings'].values()):.3f}",
            o["path"],
        ]
        for o in outputs
    ]
    return "\n".join([heading, render(columns, rows), *auto_k_notes(outputs)])
