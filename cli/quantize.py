"""`kcolors quantize`: run the engine on local image files, in one process (or N with -j)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cli.output_plan import check_writable, plan_outputs
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


@click.command()
@click.argument("input_paths", metavar="INPUT...", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))  # fmt: skip
@param_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (only with a single input and a single output); its folder "
                   "must exist, unless --parents.")  # fmt: skip
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the outputs, made if missing (default: beside each "
                   "input).")  # fmt: skip
@click.option("--parents", is_flag=True, help="Make the missing folders of -o's path.")
@click.option("-f", "--force", is_flag=True,
              help="Overwrite existing outputs (without it, an existing output stops the "
                   "command before any work, as pngquant does).")  # fmt: skip
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes quantizing files at once.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def quantize(
    input_paths: tuple[Path, ...],
    output: Path | None,
    out_dir: Path | None,
    parents: bool,
    force: bool,
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
    plans = plan_outputs(list(input_paths), params, output, out_dir, force=force)
    check_writable(plans, parents=parents)
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
