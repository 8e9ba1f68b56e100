"""`kcolors submit` and `kcolors status`: clients of the JSON API."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from cli.http import EXIT_CANCELLED, call, fetch_bytes, follow, submit_call
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
    "files", metavar="[FILE|FOLDER]...", nargs=-1,
    type=click.Path(exists=True, path_type=Path),
)  # fmt: skip
@click.option("--prefix", help="submit a batch: every image under this storage prefix instead")
@param_options
@click.option("--wait", is_flag=True, help="poll until the job finishes, then print its stats")
@click.option("--timeout", default=600.0, show_default=True, help="seconds --wait waits")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="with --wait: save the outputs here, as photo.k16.png (made if "
                   "missing)")  # fmt: skip
@click.option("-f", "--force", is_flag=True, help="with --out-dir: overwrite existing files")
@server_option
def submit(
    files: tuple[Path, ...],
    prefix: str | None,
    wait: bool,
    timeout: float,
    out_dir: Path | None,
    force: bool,
    server: str,
    **options: Any,
) -> None:
    """Submit FILE as one job; several files, or a FOLDER's pictures, as one batch of uploads;
    or, with --prefix, a batch over a storage prefix. Print the job's (or batch's) line; with
    --wait, follow it to the end and print its results.

    \b
    Exit status: 0 done (or, without --wait, accepted), 1 failed or refused by the server,
    2 a usage error, 3 cancelled, 4 no such job or batch."""
    server = server.rstrip("/")
    if bool(files) == (prefix is not None):
        raise click.UsageError("give either FILE (or FOLDER) or --prefix PREFIX")
    if out_dir is not None and not wait:
        raise click.UsageError("--out-dir saves the outputs of a finished job: add --wait")
    params_from_options(options)  # the server checks again; a typo costs no upload
    fields = given_params(options)
    saver = OutputSaver(server, out_dir, force) if out_dir is not None else None
    if prefix is not None:
        from cli.batches import submit_batch

        submit_batch(server, {"json": {"prefix": prefix, **fields}}, wait, timeout, saver)
        return
    pictures = pictures_of(files)
    if len(pictures) > 1 or files[0].is_dir():
        from cli.batches import submit_batch

        with ExitStack() as opened:
            uploads = [("image", (p.name, opened.enter_context(p.open("rb")))) for p in pictures]
            request = {"data": form_fields(fields), "files": uploads}
            submit_batch(server, request, wait, timeout, saver)
        return
    [file] = pictures
    with file.open("rb") as image:
        job = submit_call(f"{server}/api/jobs", data=form_fields(fields),
                   files={"image": (file.name, image)})  # fmt: skip
    if not wait:
        click.echo(describe(job))
        return
    job = wait_for(server, job, timeout)
    if saver is not None:
        saver.save(job)
    finish(job, server)


# What a FOLDER's pictures are: the extensions of the formats kcolors reads.
PICTURE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"}
)


def pictures_of(paths: tuple[Path, ...]) -> list[Path]:
    """The files to upload: each FILE, and each FOLDER's pictures (by extension, not
    recursive, sorted by name); a folder without one is a usage error."""
    pictures: list[Path] = []
    for path in paths:
        if not path.is_dir():
            pictures.append(path)
            continue
        found = sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES
        )
        if not found:
            raise click.UsageError(
                f"{path} holds no picture ({', '.join(sorted(PICTURE_SUFFIXES))})"
            )
        pictures += found
    return pictures


def form_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The parameters as multipart form fields."""
    return {name: [str(v) for v in value] if name == "k" else str(value).lower()
            for name, value in fields.items()}  # fmt: skip


class OutputSaver:
    """Save a finished job's outputs into a folder, named as the server names its downloads
    (`photo.k16.png`); an existing file is kept unless `force`, as `kcolors quantize` does."""

    def __init__(self, server: str, folder: Path, force: bool) -> None:
        self.server, self.folder, self.force = server, folder, force

    def save(self, job: dict[str, Any]) -> None:
        from kcolors.jobs.job import result_filename

        self.folder.mkdir(parents=True, exist_ok=True)
        for result in job.get("results") or []:
            path = self.folder / result_filename(job, result["k"], result["key"])
            if path.exists() and not self.force:
                raise click.ClickException(f"{path} exists: --force overwrites it")
            path.write_bytes(fetch_bytes(f"{self.server}{result['url']}"))
            click.echo(f"saved {path}")


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
