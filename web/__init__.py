"""Flask application factory."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from kcolors.jobs.settings import Settings


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the web app: defaults, then `KCOLORS_*` settings, then the test config."""
    app = Flask(__name__)
    settings = (test_config or {}).get("KCOLORS_SETTINGS") or Settings.from_env()
    app.config.from_mapping(
        KCOLORS_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        # Signs the session that holds the form's CSRF token; random per process unless set.
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
    )
    if test_config:
        app.config.update(test_config)

    from web import api, auth, batches, health, metrics, pages, waiting
    from web.errors import register_error_handlers

    register_error_handlers(app)
    auth.init_app(app)
    waiting.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(batches.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(metrics.bp)

    # Every form is CSRF-checked; the JSON API is for programs, which send no browser cookies.
    csrf = CSRFProtect(app)
    csrf.exempt(api.bp)
    csrf.exempt(batches.bp)
    return app
