"""Every error answered as JSON: `{"error": {"code": ..., "message": ...}}`."""

from __future__ import annotations

import re

from flask import Flask, Response, current_app, g, jsonify, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException

from kcolors.errors import KcolorsError, RateLimited


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    """Return the JSON error body with its status."""
    return jsonify({"error": {"code": code, "message": message}}), status


def _message_for(exc: HTTPException) -> str:
    """The error's message; a 413 or a 429 names the limit the request went over."""
    if exc.code == 429:
        limit = current_app.config["KCOLORS_SETTINGS"].rate_limit
        return f"too many submissions: the limit is {limit} per client; retry later"
    if exc.code != 413:
        return exc.description or exc.name
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if (request.content_length or 0) > limit:
        return f"the upload is {request.content_length:,} bytes, more than the limit of {limit:,}"
    parts = current_app.config.get("MAX_FORM_PARTS") or request.max_form_parts
    return f"the request is over the limits of {limit:,} bytes and {parts:,} form fields"


def _code_for(exc: HTTPException) -> str:
    """Name an HTTP error the way our domain codes read: `Not Found` -> `not_found`."""
    if exc.code == 413:
        return "upload_too_large"
    if exc.code == 429:
        return RateLimited.code
    return re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower()).strip("_")


def _wants_html() -> bool:
    """Tell whether a browser asked for a page outside the JSON API (issue 4's pages)."""
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def register_error_handlers(app: Flask) -> None:
    """Answer domain errors and HTTP errors as JSON."""

    @app.errorhandler(KcolorsError)
    def domain_error(exc: KcolorsError):
        response, status = error_response(exc.http_status, exc.code, exc.message)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="kcolors API"'
        if getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)  # type: ignore[attr-defined]
            g.retry_after = exc.retry_after  # type: ignore[attr-defined]  # kept by web.limits
        return response, status

    @app.errorhandler(ParseException)
    @app.errorhandler(NoMoreData)
    def malformed_body(exc: Exception):
        """gunicorn reads the body as the app does: a bad chunk size, a missing terminator or
        a body cut short reach Flask as gunicorn's exceptions. They are the client's fault."""
        return error_response(400, "malformed_body", f"the request body is malformed: {exc}")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if _wants_html():
            return exc
        response, status = error_response(exc.code or 500, _code_for(exc), _message_for(exc))
        # Keep what the error says about the request (`Allow` on a 405), not its content type.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status
