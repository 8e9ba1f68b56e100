"""Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

from worker.settings import Settings


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the web app: defaults, then `KCOLORS_*` settings, then the test config."""
    app = Flask(__name__)
    settings = (test_config or {}).get("KCOLORS_SETTINGS") or Settings.from_env()
    app.config.from_mapping(
        KCOLORS_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
    )
    if test_config:
        app.config.update(test_config)

    from web import api, health
    from web.errors import register_error_handlers

    register_error_handlers(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    return app
