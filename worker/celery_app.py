"""The worker's Celery app, configured from one mapping (`kcolors.jobs.broker.celery_config`).

`celery -A worker.celery_app worker` runs a worker configured from `KCOLORS_*` variables.
"""

from __future__ import annotations

from celery import Celery

from kcolors.jobs.broker import celery_config
from kcolors.jobs.settings import Settings

TASK_MODULES = ["worker.tasks", "worker.batch_tasks", "worker.sweep", "worker.signals"]


def create_celery_app(settings: Settings) -> Celery:
    """Return the worker's Celery app for `settings`, with its task modules."""
    app = Celery("kcolors", include=TASK_MODULES)
    app.config_from_object(celery_config(settings))
    return app


app = create_celery_app(Settings.from_env())
