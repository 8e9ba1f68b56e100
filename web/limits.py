"""Rate limits on submissions, per client, with Flask-Limiter (its counters in the broker's
Redis, so every web process shares them): `KCOLORS_RATE_LIMIT`, answered `429` with
`Retry-After`."""

from __future__ import annotations

from flask import Flask, Response, g
from flask_limiter import Limiter

from kcolors.jobs.broker import broker_url
from kcolors.jobs.settings import Settings
from web.auth import client_key

# One budget shared by every way of creating work: a job, a batch, the form.
SUBMISSION_ENDPOINTS = (
    "api.create_job",
    "batches.create_batch",
    "pages.submit",
    "batch_pages.submit_batch",
)


def init_app(app: Flask, settings: Settings) -> None:
    """Limit the submission endpoints of `app` (registered already) to `settings.rate_limit`."""
    if not settings.rate_limit:
        return

    @app.after_request
    def retry_after_only_when_refused(response: Response) -> Response:
        """Flask-Limiter sends `Retry-After` on every answer; a client reads it as "come back
        then", so it stays only on the 429 that means it, and on an error that set its own
        (`web.errors`: a key in flight, say), with that error's value. (Registered before the
        limiter: Flask runs these in reverse, so this one runs after it.)"""
        if response.status_code != 429:
            own = g.get("retry_after")
            if own:
                response.headers["Retry-After"] = str(own)
            else:
                response.headers.pop("Retry-After", None)
        return response

    limiter = Limiter(
        key_func=client_key,
        app=app,
        storage_uri=broker_url(settings) if settings.broker_url else "memory://",
        storage_options={"socket_connect_timeout": 2, "socket_timeout": 2},
        headers_enabled=True,
        # A broker outage must not turn submissions into 500s: count in memory meanwhile.
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        key_prefix="kcolors:rate",
    )
    limit = limiter.shared_limit(settings.rate_limit, scope="submissions")
    for endpoint in SUBMISSION_ENDPOINTS:
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])
