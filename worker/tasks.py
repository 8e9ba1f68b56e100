"""Celery tasks: thin wrappers that run a job by id and make sure it ends, never stuck running."""

from __future__ import annotations

import functools
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from celery import Celery, Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from worker import defaults, metrics
from worker.celery_app import (
    EXPAND_BATCH_TASK,
    PROCESS_JOB_TASK,
    QUEUE,
    RECORD_FAILURE_TASK,
    SWEEP_TASK,
)
from worker.exceptions import JobNotFound, KcolorsError, StorageUnavailable
from worker.job import Job
from worker.job_events import announce
from worker.processing import fail_job, run_job
from worker.reconcile import ReconcileReport, reconcile
from worker.redis_clients import redis_for
from worker.reuse import remember_results
from worker.settings import Settings
from worker.storage import Storage, open_storage

log = logging.getLogger(__name__)


@functools.cache
def worker_settings() -> Settings:
    """Return the worker process's settings, read once from `KCOLORS_*` variables."""
    return Settings.from_env()


def worker_storage() -> Storage:
    """Return the storage of this worker process."""
    return open_storage(worker_settings())


@functools.cache
def worker_redis() -> redis.Redis:
    """Return this worker process's client of the broker's Redis (notices, reuse index)."""
    return redis_for(worker_settings())


def after_save(client: redis.Redis, job: Job) -> None:
    """After each save of a document: send it to the clients waiting on the job; once it is
    finished, count it in the metrics and index a success for reuse by identical jobs."""
    document = job.to_dict()
    announce(client, document)
    if job.status.is_finished:
        remember_results(client, job)
        try:  # from the document just saved: no need to read it back
            metrics.record_finished_job(document, client)
        except (redis.RedisError, OSError) as exc:
            log.warning("job %s: metrics not recorded: %s", job.id, exc)


def job_saved(job: Job) -> None:
    """`after_save` with this worker process's Redis client."""
    after_save(worker_redis(), job)


def retry_delay(retries: int) -> float:
    """Return the backoff before retry number `retries + 1`: exponential, capped, jittered."""
    base = min(
        defaults.STORAGE_RETRY_BACKOFF_SECONDS * 2**retries, defaults.STORAGE_RETRY_MAX_SECONDS
    )
    return base * random.uniform(0.5, 1.0)


def record_failure(storage: Storage, job_id: str, code: str, message: str) -> None:
    """Mark the job failed; if storage is down too, leave it to a task retried until it is back."""
    try:
        fail_job(storage, job_id, code, message, on_saved=job_saved)
    except StorageUnavailable:
        log.error("job %s: could not record failure %s yet (storage unavailable); "
                  "retrying until storage is back: %s", job_id, code, message)  # fmt: skip
        record_failure_later.apply_async(args=[job_id, code, message], countdown=retry_delay(0))


@shared_task(
    name=RECORD_FAILURE_TASK,
    bind=True,
    max_retries=int(defaults.FAILURE_RECORD_SECONDS / defaults.STORAGE_RETRY_MAX_SECONDS),
)
def record_failure_later(self: Task, job_id: str, code: str, message: str) -> str | None:
    """Record a job's failure once storage takes it: the job must not stay `running`."""
    try:
        job = fail_job(worker_storage(), job_id, code, message, on_saved=job_saved)
    except StorageUnavailable as exc:
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from exc
    log.info("job %s: failure %s recorded", job_id, code)
    return None if job is None else job.status.value


class JobTask(Task):
    """Marks the job failed when its process is killed at the hard time limit."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        if isinstance(exc, TimeLimitExceeded) and args:
            message = (
                f"the job ran past the hard time limit ({worker_settings().hard_time_limit} s)"
            )
            record_failure(worker_storage(), args[0], "time_limit_exceeded", message)


@shared_task(name=PROCESS_JOB_TASK, bind=True, base=JobTask, max_retries=defaults.STORAGE_RETRIES)
def process_job(self: JobTask, job_id: str) -> str | None:
    """Run job `job_id`; retry when storage fails; end it failed on anything else."""
    storage = worker_storage()
    try:
        return run_job(storage, job_id, worker_settings(), on_saved=job_saved).status.value
    except JobNotFound:
        log.warning("job %s has no document; dropped", job_id)
        return None
    except SoftTimeLimitExceeded:
        limit = worker_settings().soft_time_limit
        record_failure(storage, job_id, "time_limit_exceeded", f"the job ran past {limit} s")
        return "failed"
    except StorageUnavailable as exc:
        retries = worker_settings().storage_retries
        if self.request.retries >= retries:
            message = f"storage failed {retries + 1} times: {exc}"
            record_failure(storage, job_id, exc.code, message)
            return "failed"
        log.warning("job %s: %s; retry %d", job_id, exc, self.request.retries + 1)
        delay = retry_delay(self.request.retries)
        raise self.retry(exc=exc, countdown=delay, max_retries=retries) from exc
    except Exception as exc:
        # A bug, not bad input: record it on the job rather than leave it running forever.
        log.exception("job %s failed unexpectedly", job_id)
        record_failure(storage, job_id, "internal_error", f"{type(exc).__name__}: {exc}")
        return "failed"


SWEEP_OWNER_KEY = "kcolors:sweep-owner"


def requeue_lost(
    app: Celery, storage: Storage, broker: redis.Redis, **options: Any
) -> ReconcileReport:
    """`reconcile` for this service's queue and tasks, enqueueing through `app`; `options` are
    reconcile's (`min_age_seconds`, `created_after`, `dry_run`). The sweep and `kcolors
    reconcile` both use it."""
    return reconcile(
        storage,
        broker,
        lambda task, item_id: app.send_task(task, args=[item_id]),
        queue=QUEUE,
        job_task=PROCESS_JOB_TASK,
        batch_task=EXPAND_BATCH_TASK,
        failure_task=RECORD_FAILURE_TASK,
        **options,
    )


def claim_sweep(client: redis.Redis, chain: str, seconds: int) -> bool:
    """Tell whether `chain` runs the sweep: the first to claim it keeps it while it renews it.

    Each worker start begins a chain of sweep tasks; all but one stop at their first run, so
    one sweep runs per interval however many workers there are. If the owning chain dies, its
    claim lapses and the next chain begun takes over.
    """
    if client.set(SWEEP_OWNER_KEY, chain, nx=True, ex=seconds):
        return True
    if client.get(SWEEP_OWNER_KEY) == chain.encode():
        client.expire(SWEEP_OWNER_KEY, seconds)
        return True
    return False


@shared_task(name=SWEEP_TASK, bind=True)
def sweep_lost_jobs(self: Task, chain: str) -> list[str] | None:
    """Enqueue again the recent jobs and batches left unfinished with no message behind them,
    then come back in `sweep_interval` seconds; return the ids enqueued.

    A job's message can be lost without Redis losing data: kombu pops it before recording it
    as unacknowledged, and a worker killed in between takes it along. Such a job stays queued;
    this finds it. Only jobs older than the hard time limit plus an interval are looked at: a
    message a busy worker has popped is delivered by then.
    """
    settings = worker_settings()
    interval = settings.sweep_interval
    client = worker_redis()
    try:
        if not claim_sweep(client, chain, 3 * interval):
            return None
        now = datetime.now(UTC)
        report = requeue_lost(
            self.app,
            worker_storage(),
            client,
            min_age_seconds=settings.hard_time_limit + interval,
            created_after=now - timedelta(seconds=defaults.SWEEP_WINDOW_SECONDS),
        )
    except (KcolorsError, redis.RedisError, OSError) as exc:
        log.warning("sweep for lost jobs failed, trying again in %d s: %s", interval, exc)
        report = None
    self.apply_async(args=[chain], countdown=interval)
    if report is None:
        return []
    lost = report.requeued + report.batches_requeued
    if lost:
        log.warning("sweep: enqueued again %d lost jobs/batches: %s", len(lost), lost)
    return lost
