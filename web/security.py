"""Security headers on every response the app makes: pages, the API, files, errors and 404s.

One place, so that no blueprint, error handler or static file can go without them. A file
response (web/files.py) sets its own, stricter policy first; this one does not replace it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from kcolors.jobs.settings import Settings

HSTS = "max-age=31536000; includeSubDomains"


def page_policy(settings: Settings) -> str:
    """Pages load only this site's scripts and styles, send forms only here, are never framed."""
    return "; ".join(
        [
            "default-src 'self'",
            f"img-src {' '.join(image_sources(settings))}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def image_sources(settings: Settings) -> list[str]:
    """Return where pages may load images from: here, previews, and presigned storage URLs."""
    sources = ["'self'", "data:", "blob:"]
    if settings.storage_url.startswith("s3://"):
        public = settings.s3_public_url or settings.s3_endpoint_url
        endpoint = urlsplit(public or "https://*.amazonaws.com")
        sources.append(f"{endpoint.scheme}://{endpoint.netloc}")
    return sources


def add_security_headers(response: Response) -> Response:
    """The headers every response carries (a file response keeps its own CSP)."""
    headers = response.headers
    settings = current_app.config["KCOLORS_SETTINGS"]
    headers.setdefault("Content-Security-Policy", page_policy(settings))
    headers["X-Content-Type-Options"] = "nosniff"
    # For browsers that predate `frame-ancestors`: no page of ours is ever framed.
    headers["X-Frame-Options"] = "DENY"
    # Job ids in page URLs are capabilities: do not hand them to the storage's host.
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.is_secure:  # behind TLS (or a proxy that says so, with KCOLORS_PROXY_HOPS)
        headers["Strict-Transport-Security"] = HSTS
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response of `app`."""
    app.after_request(add_security_headers)
