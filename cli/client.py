"""`kcolors submit` and `kcolors status`: clients of the JSON API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.http import EXIT_CANCELLED, call, follow
from cli.params import given_params, param_options, params_from_options
from cli.tables import (
    OUTPUT_COLUMNS,
    Column,
    auto_k_notes,
    output_cells,
    picture,
    plural,
    render,
)
from kcolors.jobs.status import FINISHED_STATUSES

DEFAULT_SERVER = "http://127.0.0.1:8000"
server_option = click.option(
    "--server",
    envvar="KCOLORS_SERVER",
    default=DEFAULT_SERVER,
    show_default=True,
    help="base URL of the kcolors web server (env KCOLORS_SERVER)",
)


def describe(job: dict[str, Any]) -> str:
    """Return one line on a job's state."""
    line = f"job {job['id']}: {job['status']} ({job['progress']:.0%})"
    if job.get("error"):
        line += f" {job['error']['code']}: {job['error']['message']}"
    return line


def print_results(job: dict[str, Any], server: str) -> None:
    """Print the input and the statistics of each output, in the CLI's one dialect."""
    source = job["input"]
    colours = source.get("distinct_colors")
    described = picture(source.get("width"), source.get("height"), source.get("format"))
    summary = f"input: {described}, {plural(source.get('bytes') or 0, 'byte')}"
    if colours is not None:
        summary += f", {plural(colours, 'distinct colour')}"
    click.echo(summary)
    columns = [*OUTPUT_COLUMNS, Column("url", right=False)]
    rows = [[*output_cells(r), f"{server}{r['url']}"] for r in job["results"]]
    click.echo("\n".join([render(columns, rows), *auto_k_notes(job["results"])]))


def wait_for(server: str, job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Poll a job until it finishes, printing each change of state."""
    return follow(
        f"{server}/api/jobs/{job['id']}",
        job,
        lambda doc: doc["status"] in FINISHED_STATUSES,
        describe,
        timeout,
    )


def finish(job: dict[str, Any], server: str) -> None:
    """Print a finished job's results, or fail the command if the job failed."""
    if job["status"] in ("succeeded", "cancelled") and job["results"]:
        print_results(job, server)
    if job["status"] == "cancelled":  # not a success, nor an error: its own exit status
        kept = len(job["results"])
        click.echo(f"job cancelled, {kept} output{'s' if kept != 1 else ''} kept", err=True)
        raise click.exceptions.Exit(EXIT_CANCELLED)
    if job["status"] == "failed":
        raise click.ClickException(f"job failed: {job['error']['code']}: {job['error']['message']}")


@click.command()
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--prefix", help="submit a batch: every image under this storage prefix instead")
@param_options
@click.option("--wait", is_flag=True, help="poll until the job finishes, then print its stats")
@click.option("--timeout", default=600.0, show_default=True, help="seconds --wait waits")
@server_option
def submit(
    file: Path | None, prefix: str | None, wait: bool, timeout: float, server: str, **options: Any
) -> None:
    """Submit FILE (or, with --prefix, a batch); print the job's line, `job <id>: <status>` (with
    --wait, its results).

    \b
    Exit status: 0 done (or, without --wait, accepted), 1 failed or refused by the server,
    2 a usage error, 3 cancelled, 4 no such job or batch."""
    server = server.rstrip("/")
    if (file is None) == (prefix is None):
        raise click.UsageError("give either FILE or --prefix PREFIX")
    params_from_options(options)  # the server checks again; a typo costs no upload
    fields = given_params(options)
    if prefix is not None:
        from cli.batches import submit_batch

        submit_batch(server, prefix, fields, wait, timeout)
        return
    form = {name: [str(v) for v in value] if name == "k" else str(value).lower()
            for name, value in fields.items()}  # fmt: skip
    with file.open("rb") as image:
        job = call("POST", f"{server}/api/jobs", data=form, files={"image": (file.name, image)})
    if not wait:
        click.echo(describe(job))
        return
    finish(wait_for(server, job, timeout), server)


@click.command()
@click.argument("job_id", required=False)
@click.option("--queue", is_flag=True, help="print the queue's length and the workers that answer")
@click.option("--wait", is_flag=True, help="poll until the job finishes")
@click.option("--timeout", default=600.0, show_default=True, help="seconds --wait waits")
@server_option
def status(job_id: str | None, queue: bool, wait: bool, timeout: float, server: str) -> None:
    """Print a job's state and results, or (--queue) the queue and the workers.

    \b
    Exit status: 0 done (or, without --wait, still queued or running), 1 failed or refused by
    the server, 2 a usage error, 3 cancelled, 4 no such job."""
    if queue:
        from cli.queue import show_queue

        show_queue()
    if job_id is None:
        if not queue:
            raise click.UsageError("give a JOB_ID, or --queue")
        return
    server = server.rstrip("/")
    job = call("GET", f"{server}/api/jobs/{job_id}")
    if wait:
        job = wait_for(server, job, timeout)
    else:
        click.echo(describe(job))
    finish(job, server)


@click.command()
@click.argument("item_id", metavar="ID")
@click.option("--batch", is_flag=True, help="ID is a batch: cancel every job of it")
@server_option
def cancel(item_id: str, batch: bool, server: str) -> None:
    """Cancel a job (or, with --batch, a batch): at once if queued, else at its next output."""
    server = server.rstrip("/")
    kind = "batches" if batch else "jobs"
    document = call("DELETE", f"{server}/api/{kind}/{item_id}")
    if batch:
        from cli.batches import describe as describe_batch

        click.echo(describe_batch(document))
    elif document["status"] == "cancelled":
        click.echo(describe(document))
    else:
        click.echo(f"{describe(document)}; asked to stop at its next output")
