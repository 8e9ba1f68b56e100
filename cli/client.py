"""`kcolors submit` and `kcolors status`: clients of the JSON API."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import requests

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

DEFAULT_SERVER = "http://127.0.0.1:8000"
# The client's token, one of the server's KCOLORS_API_TOKENS.
TOKEN_VARIABLE = "KCOLORS_API_TOKEN"
POLL_INTERVAL_SECONDS = 0.5
# How long each request asks the server to hold it until the document changes.
WAIT_SECONDS = 20
server_option = click.option(
    "--server",
    envvar="KCOLORS_SERVER",
    default=DEFAULT_SERVER,
    show_default=True,
    help="base URL of the kcolors web server (env KCOLORS_SERVER)",
)


def auth_headers() -> dict[str, str]:
    """Return the bearer token header from `KCOLORS_API_TOKEN`, for servers that want one."""
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def send(method: str, url: str, **kwargs: Any) -> requests.Response:
    """Send a request with the client's token; stop with a message when the server is away."""
    headers = {**auth_headers(), **kwargs.pop("headers", {})}
    try:
        return requests.request(method, url, timeout=kwargs.pop("timeout", 60), headers=headers,
                                **kwargs)  # fmt: skip
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from None


def json_of(response: requests.Response) -> dict[str, Any]:
    """Return an answer's JSON, or stop with the API's error code and message."""
    try:
        body = response.json()
    except ValueError:
        raise click.ClickException(
            f"{response.url} answered {response.status_code}, not JSON"
        ) from None
    if response.status_code >= 400:
        error = body.get("error", {})
        raise click.ClickException(
            f"{error.get('code', response.status_code)}: {error.get('message', '')}"
        )
    return body


def call(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    """Send a request; return its JSON, or stop with the API's error code and message."""
    return json_of(send(method, url, **kwargs))


def next_version(url: str, document: dict[str, Any], etag: str | None, seconds: float):
    """Return the document at `url` and its ETag once it differs from `etag`, or after `seconds`.

    The server holds the request until the document changes (`?wait`); a server that does
    not (no ETag in its answer) is polled every `POLL_INTERVAL_SECONDS` instead.
    """
    if etag is None:
        time.sleep(POLL_INTERVAL_SECONDS)
        response = send("GET", url)
    else:
        started = time.monotonic()
        response = send("GET", url, params={"wait": f"{seconds:.0f}"},
                        headers={"If-None-Match": etag}, timeout=seconds + 30)  # fmt: skip
        if response.status_code == 304:
            if time.monotonic() - started < 1:  # not held (a busy server): poll at our pace
                time.sleep(POLL_INTERVAL_SECONDS)
            return document, etag
    return json_of(response), response.headers.get("ETag")


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


def follow(
    url: str,
    document: dict[str, Any],
    finished: Callable[[dict[str, Any]], bool],
    describe_state: Callable[[dict[str, Any]], str],
    timeout: float,
) -> dict[str, Any]:
    """Follow a job or batch document at `url` until `finished`, printing each change of state."""
    deadline = time.monotonic() + timeout
    last = describe_state(document)
    click.echo(last)
    etag = None
    while not finished(document):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise click.ClickException(f"{document['id']} not finished after {timeout:.0f} s")
        document, etag = next_version(url, document, etag, min(WAIT_SECONDS, max(remaining, 1)))
        if describe_state(document) != last:
            last = describe_state(document)
            click.echo(last)
    return document


def wait_for(server: str, job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Poll a job until it finishes, printing each change of state."""
    return follow(
        f"{server}/api/jobs/{job['id']}",
        job,
        lambda doc: doc["status"] in ("succeeded", "failed", "cancelled"),
        describe,
        timeout,
    )


def finish(job: dict[str, Any], server: str) -> None:
    """Print a finished job's results, or fail the command if the job failed."""
    if job["status"] in ("succeeded", "cancelled") and job["results"]:
        print_results(job, server)
    if job["status"] == "cancelled":  # not a success: scripts must tell them apart
        kept = len(job["results"])
        raise click.ClickException(f"job cancelled, {kept} output{'s' if kept != 1 else ''} kept")
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
    --wait, its results)."""
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
    """Print a job's state and results, or (--queue) the queue and the workers."""
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
