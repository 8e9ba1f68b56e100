"""Celery glue for observability: logging, the job id on log lines, metrics, the exporter."""

from __future__ import annotations

import functools
import logging
import uuid
from contextvars import Token
from typing import Any

from celery import signals

from kcolors.jobs import metrics
from kcolors.jobs.broker import SWEEP_TASK
from kcolors.jobs.logs import CURRENT_JOB_ID, configure_logging
from kcolors.jobs.settings import Settings, metrics_host_port
from kcolors.jobs.status import FINISHED_STATUSES

log = logging.getLogger(__name__)
_job_tokens: dict[str, Token] = {}


@functools.cache
def _settings() -> Settings:
    return Settings.from_env()


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


@signals.worker_process_init.connect
def warm_up_engine(**_: Any) -> None:
    """Load the engine and its kernels in each pool process before its first job, so that no
    job pays for imports or first calls."""
    from kcolors.engine import warm_up

    warm_up()


@signals.task_prerun.connect
def enter_job(task_id: str, args: tuple = (), **_: Any) -> None:
    """Tag the task's log lines with its job id."""
    if args:
        _job_tokens[task_id] = CURRENT_JOB_ID.set(str(args[0]))
        log.info("job started")


@signals.task_postrun.connect
def leave_job(task_id: str, args: tuple = (), retval: Any = None, **_: Any) -> None:
    """Log how a job's run ended, then drop its id from the log lines.

    (Metrics are counted when the finished document is saved: `worker.tasks.after_save`.)
    """
    try:
        if args and retval in FINISHED_STATUSES:
            log.info("job %s", retval, extra={"status": retval})
    finally:
        token = _job_tokens.pop(task_id, None)
        if token is not None:
            CURRENT_JOB_ID.reset(token)


@signals.worker_ready.connect
def begin_sweeping(sender: Any = None, **_: Any) -> None:
    """Begin a chain of sweeps for lost jobs (one chain per cluster survives: `claim_sweep`)."""
    interval = _settings().sweep_interval
    if interval and sender is not None:
        sender.app.send_task(SWEEP_TASK, args=[uuid.uuid4().hex], countdown=interval)
