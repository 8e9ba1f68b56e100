"""Flask application factory."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from kcolors.jobs.batch import MAX_BATCH_IMAGES
from kcolors.jobs.settings import Settings
from web.bounded_json import BoundedRequest

FORM_PARTS_BESIDES_IMAGES = 64  # the parameters (k repeated up to 16 times) and the CSRF token


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the web app: defaults, then `KCOLORS_*` settings, then the test config."""
    app = Flask(__name__)
    app.request_class = BoundedRequest
    settings = (test_config or {}).get("KCOLORS_SETTINGS") or Settings.from_env()
    app.config.from_mapping(
        KCOLORS_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        # A batch of MAX_BATCH_IMAGES uploads is as many form parts, and its parameters more
        # (werkzeug's default of 1,000 parts refused the largest batch as "too large").
        MAX_FORM_PARTS=MAX_BATCH_IMAGES + FORM_PARTS_BESIDES_IMAGES,
        # Signs the session that holds the form's CSRF token; random per process unless set.
        SECRET_KEY=settings.secret() or secrets.token_hex(32),
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if test_config:
        app.config.update(test_config)

    from web import (
        api,
        auth,
        batch_pages,
        batches,
        health,
        limits,
        metrics,
        pages,
        security,
        waiting,
    )
    from web.errors import register_error_handlers

    register_error_handlers(app)
    security.init_app(app)
    auth.init_app(app)
    waiting.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(batches.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(batch_pages.bp)
    app.register_blueprint(metrics.bp)
    limits.init_app(app, settings)
    if settings.proxy_hops:
        # Behind a reverse proxy: the client's address is the one the proxies vouch for.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops
        )  # type: ignore[method-assign]

    # Every form is CSRF-checked; the JSON API is for programs, which send no browser cookies.
    csrf = CSRFProtect(app)
    csrf.exempt(api.bp)
    csrf.exempt(batches.bp)
    return app
