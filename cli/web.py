"""`kcolors web`: the Flask app under gunicorn, for deployments."""

from __future__ import annotations

import os
import secrets
from typing import Any

import click
from gunicorn.app.base import BaseApplication


class WebServer(BaseApplication):
    """gunicorn running `web.create_app()` with options given in code, not a config file."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from kcolors.jobs.logs import configure_logging
        from kcolors.jobs.settings import Settings
        from web import create_app

        settings = Settings.from_env()
        configure_logging(settings.log_level, settings.log_format)
        return create_app()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, help="[default: 8000]")
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn processes")
@click.option("--threads", default=4, show_default=True, type=int, help="threads per process")
def web(host: str, port: int | None, workers: int, threads: int) -> None:
    """Serve the web app and JSON API with gunicorn."""
    from kcolors import defaults
    from kcolors.jobs.metrics_dir import use_a_multiprocess_dir
    from kcolors.jobs.settings import Settings

    use_a_multiprocess_dir()  # one metrics folder for all gunicorn processes (main chose it)
    settings = Settings.from_env()
    if not settings.secret_key:
        # Every gunicorn process must sign sessions, and so the form's CSRF tokens, with one key.
        os.environ["KCOLORS_SECRET_KEY"] = secrets.token_hex(32)
    port = defaults.WEB_PORT if port is None else port
    warn_if_unreachable(settings)
    WebServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "loglevel": settings.log_level.lower(),
            "accesslog": "-",
            # Uploads of up to max_upload_bytes must not be cut off by a short timeout.
            "timeout": 120,
            "graceful_timeout": 30,
            # Idle keep-alive connections are closed after 5 s; slow clients are the proxy's to
            # absorb (nginx in docker-compose, the ingress in Kubernetes: docs/OPERATIONS.md).
            "keepalive": 5,
            # gunicorn 25's control socket is one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl or
            # ~/.gunicorn/gunicorn.ctl): a second `kcolors web` on the machine would take it
            # from the first. Nothing of kcolors uses it (gunicornc).
            "control_socket_disable": True,
        }
    ).run()


def warn_if_unreachable(settings: Any) -> None:
    """Say at start-up, as `kcolors worker` does, what the service cannot reach: the web starts
    anyway (it recovers when the broker or storage comes back), but a newcomer should not learn
    it from a failing page."""
    import redis
    from kombu.utils.url import maybe_sanitize_url

    from kcolors.errors import KcolorsError
    from kcolors.jobs.broker import broker_url, redis_for
    from kcolors.jobs.storage import open_storage

    problems = []
    try:
        redis_for(settings).ping()
    except (redis.RedisError, OSError) as exc:
        url = maybe_sanitize_url(broker_url(settings))
        problems.append(f"the broker at {url} cannot be reached ({exc})")
    try:
        open_storage(settings).check()
    except KcolorsError as exc:
        problems.append(f"storage cannot be reached ({exc.message})")
    for problem in problems:
        click.echo(
            f"kcolors web: {problem}. Submissions answer 503 and /readyz is 503 until it "
            "answers; `kcolors up` runs everything on embedded defaults.",
            err=True,
        )
