"""Celery glue for observability: logging, the job id on log lines, metrics, the exporter."""

from __future__ import annotations

import functools
import logging
from contextvars import Token
from typing import Any

import redis
from celery import signals

from worker import metrics
from worker.job import load_job
from worker.logs import CURRENT_JOB_ID, configure_logging
from worker.settings import Settings, metrics_host_port
from worker.storage import open_storage

log = logging.getLogger(__name__)
FINISHED_STATUSES = ("succeeded", "failed")
_job_tokens: dict[str, Token] = {}


@functools.cache
def _settings() -> Settings:
    return Settings.from_env()


@functools.cache
def _broker() -> redis.Redis | None:
    url = _settings().broker_url
    return redis.Redis.from_url(url, socket_timeout=5) if url else None


@signals.setup_logging.connect
def use_kcolors_logging(**_: Any) -> None:
    """Configure logging from KCOLORS_LOG_LEVEL and KCOLORS_LOG_FORMAT instead of Celery's."""
    configure_logging(_settings().log_level, _settings().log_format)


@signals.worker_init.connect
def start_metrics_exporter(**_: Any) -> None:
    """Serve the metrics of this worker and its pool processes, if an address is set."""
    address = _settings().metrics_address
    if address is None:
        return
    host, port = metrics_host_port(address)
    try:
        metrics.start_exporter(port, host)
    except OSError as exc:  # a busy port must not keep the worker from working
        log.warning("metrics exporter not started on %s: %s", address, exc)
        return
    log.info("metrics exporter on http://%s/metrics", address)


@signals.task_prerun.connect
def enter_job(task_id: str, args: tuple = (), **_: Any) -> None:
    """Tag the task's log lines with its job id."""
    if args:
        _job_tokens[task_id] = CURRENT_JOB_ID.set(str(args[0]))
        log.info("job started")


@signals.task_postrun.connect
def leave_job(task_id: str, args: tuple = (), retval: Any = None, **_: Any) -> None:
    """Record a job that finished in this run, then drop its id from the log lines."""
    try:
        if args and retval in FINISHED_STATUSES:
            record(str(args[0]))
    finally:
        token = _job_tokens.pop(task_id, None)
        if token is not None:
            CURRENT_JOB_ID.reset(token)


def record(job_id: str) -> None:
    """Feed a finished job's document to the metrics; never fail the task for it."""
    try:
        document = load_job(open_storage(_settings()), job_id).to_dict()
        metrics.record_finished_job(document, _broker())
    except Exception:
        log.exception("metrics for job %s not recorded", job_id)
    else:
        log.info("job %s", document["status"], extra={"status": document["status"]})
