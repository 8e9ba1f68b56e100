"""`kcolors worker`: a Celery worker, configured from `KCOLORS_*` variables."""

from __future__ import annotations

import click


@click.command()
@click.option("--concurrency", default=1, show_default=True, type=int, help="worker processes")
def worker(concurrency: int) -> None:
    """Run a Celery worker (the same as `celery -A worker.celery_app worker`); with no
    KCOLORS_BROKER_URL, on the broker of the `kcolors up` running in this folder, if any."""
    from cli.local import use_local_broker

    use_local_broker()  # before the app module reads the environment
    from kcolors.jobs.settings import Settings
    from worker.celery_app import app

    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--loglevel={Settings.from_env().log_level}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
