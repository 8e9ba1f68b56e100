"""The command-line client's HTTP: requests with the client's token, the API's errors as
messages, and following a job or batch document until it finishes. Used by `cli/client.py`
(jobs) and `cli/batches.py` (batches), below both."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import click
import requests

# The client's token, one of the server's KCOLORS_API_TOKENS.
TOKEN_VARIABLE = "KCOLORS_API_TOKEN"
POLL_INTERVAL_SECONDS = 0.5
# How long each request asks the server to hold it until the document changes.
WAIT_SECONDS = 20
# The client's exit statuses (click's own: 2 for a usage error).
EXIT_FAILED, EXIT_CANCELLED, EXIT_NOT_FOUND = 1, 3, 4
# Sends of one submission at most (web/idempotency.py makes them one job), on these answers
# (and on a lost connection), each wait at most this long: about half a minute in all.
SUBMIT_ATTEMPTS = 6
RETRIED_STATUSES = frozenset({409, 503})
MAX_RETRY_WAIT_SECONDS = 8.0


class ApiError(click.ClickException):
    """The API's error code and message, as the command's; exit 4 when there is no such thing."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.exit_code = EXIT_NOT_FOUND if not_found else EXIT_FAILED


def auth_headers() -> dict[str, str]:
    """Return the bearer token header from `KCOLORS_API_TOKEN`, for servers that want one."""
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def request_with_token(method: str, url: str, **kwargs: Any) -> requests.Response:
    """Send a request with the client's token (60 s at most unless `timeout` says)."""
    headers = {**auth_headers(), **kwargs.pop("headers", {})}
    return requests.request(method, url, timeout=kwargs.pop("timeout", 60), headers=headers,
                            **kwargs)  # fmt: skip


def send(method: str, url: str, **kwargs: Any) -> requests.Response:
    """Send a request with the client's token; stop with a message when the server is away."""
    try:
        return request_with_token(method, url, **kwargs)
    except requests.RequestException as exc:
        raise unreachable(url, exc) from None


def unreachable(url: str, exc: requests.RequestException) -> click.ClickException:
    """The command's error when a request could not be made."""
    return click.ClickException(f"cannot reach {url}: {exc}")


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
        raise ApiError(f"{error.get('code', response.status_code)}: {error.get('message', '')}",
                       not_found=response.status_code == 404)  # fmt: skip
    return body


def submit_call(url: str, **kwargs: Any) -> dict[str, Any]:
    """POST a submission with a new `Idempotency-Key`, and send it again, with the same key,
    when the server is unavailable (503), still answering the first send (409), or the
    connection is lost: the server makes one job (or batch) however many sends reach it.
    At most `SUBMIT_ATTEMPTS` sends, waiting as `Retry-After` says (else doubling from 0.5 s)."""
    headers = {**kwargs.pop("headers", {}), "Idempotency-Key": str(uuid.uuid4())}
    for attempt in range(1, SUBMIT_ATTEMPTS + 1):
        rewind(kwargs.get("files"))
        try:
            response = request_with_token("POST", url, headers=headers, **kwargs)
        except requests.RequestException as exc:
            lost = isinstance(exc, requests.ConnectionError | requests.Timeout)
            if not lost or attempt == SUBMIT_ATTEMPTS:  # a bad URL is not worth a retry
                raise unreachable(url, exc) from None
            wait_to_resend(attempt, None, f"cannot reach {url}")
            continue
        if response.status_code not in RETRIED_STATUSES or attempt == SUBMIT_ATTEMPTS:
            return json_of(response)
        retry_after = response.headers.get("Retry-After")
        wait_to_resend(attempt, retry_after, f"{url} answered {response.status_code}")
    raise AssertionError("unreachable: the last attempt returns or raises")


def rewind(files: dict[str, tuple] | list[tuple[str, tuple]] | None) -> None:
    """Put every file of a `requests` upload back at its start: each send reads it whole."""
    pairs = files.items() if isinstance(files, dict) else files or []
    for _field, (_name, stream, *_rest) in pairs:
        stream.seek(0)


def wait_to_resend(attempt: int, retry_after: str | None, why: str) -> None:
    """Say on stderr why and when the submission is sent again (a person sees a wait, not a
    hang), then wait."""
    seconds = retry_wait(attempt, retry_after)
    click.echo(f"{why}; sending again in {seconds:g} s ({attempt}/{SUBMIT_ATTEMPTS - 1})", err=True)
    time.sleep(seconds)


def retry_wait(attempt: int, retry_after: str | None) -> float:
    """Seconds before send `attempt + 1`: the server's `Retry-After` if it gave a number,
    else 0.5 s doubled each time; never more than `MAX_RETRY_WAIT_SECONDS`."""
    if retry_after is not None and retry_after.isascii() and retry_after.isdigit():
        return min(float(retry_after), MAX_RETRY_WAIT_SECONDS)
    return min(0.5 * 2 ** (attempt - 1), MAX_RETRY_WAIT_SECONDS)


def fetch_bytes(url: str) -> bytes:
    """GET a file (following a redirect to presigned storage); stop with a message on error."""
    response = send("GET", url)
    if response.status_code != 200:
        json_of(response)  # the API's error, when it gave one
        raise click.ClickException(f"{url} answered {response.status_code}")
    return response.content


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
