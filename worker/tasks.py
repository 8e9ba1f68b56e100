"""Celery tasks: thin wrappers that run a job by id and make sure it ends, never stuck running."""

from __future__ import annotations

import functools
import logging
import os
import signal
from contextlib import suppress

import redis
from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from celery.worker.request import Request
from kombu.exceptions import OperationalError

from kcolors import defaults
from kcolors.errors import DocumentUnreadable, JobNotFound, StorageUnavailable
from kcolors.jobs.broker import BATCH_QUEUE, PROCESS_JOB_TASK, RECORD_FAILURE_TASK, redis_for
from kcolors.jobs.cancel import batch_of, cancel_requested
from kcolors.jobs.events import after_save
from kcolors.jobs.feeder import feed
from kcolors.jobs.job import Job
from kcolors.jobs.runner import fail_job, run_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import Storage, open_storage

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


def job_saved(job: Job) -> None:
    """`after_save` with this worker process's Redis client."""
    after_save(worker_redis(), job)


def retry_delay(retries: int) -> int:
    """Return the backoff before retry number `retries + 1`: Celery's own (the one its
    `retry_backoff` uses), exponential, capped, with full jitter, in integer arithmetic."""
    return get_exponential_backoff_interval(
        defaults.STORAGE_RETRY_BACKOFF_SECONDS,
        retries,
        defaults.STORAGE_RETRY_MAX_SECONDS,
        full_jitter=True,
    )


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
    autoretry_for=(StorageUnavailable,),
    retry_backoff=defaults.STORAGE_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=defaults.STORAGE_RETRY_MAX_SECONDS,
    retry_jitter=True,
    # Full jitter waits half the cap on average once backoff reaches it: twice the count of
    # capped waits spans FAILURE_RECORD_SECONDS.
    max_retries=2 * defaults.FAILURE_RECORD_SECONDS // defaults.STORAGE_RETRY_MAX_SECONDS,
)
def record_failure_later(self: Task, job_id: str, code: str, message: str) -> str | None:
    """Record a job's failure once storage takes it: the job must not stay `running`."""
    job = fail_job(worker_storage(), job_id, code, message, on_saved=job_saved)
    log.info("job %s: failure %s recorded", job_id, code)
    return None if job is None else job.status.value


class JobRequest(Request):
    """A job's request that stops the job's process before its hard time limit is handled."""

    def on_timeout(self, soft: bool, timeout: float) -> None:
        # billiard runs the failure handlers (ours records `failed`) and only then kills the
        # process: a job still running in between saved its progress over the failure, and
        # stayed `running` for good (seen in CI). The pool kills it anyway; kill it first.
        pid = self.worker_pid
        if not soft and pid and pid != os.getpid():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        super().on_timeout(soft, timeout)


class JobTask(Task):
    """Marks the job failed when its process is killed at the hard time limit."""

    Request = JobRequest

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        if isinstance(exc, TimeLimitExceeded) and args:
            message = (
                f"the job ran past the hard time limit ({worker_settings().hard_time_limit} s)"
            )
            record_failure(worker_storage(), args[0], "time_limit_exceeded", message)
            feed_batch_queue()  # the killed process never reached its own feed


@shared_task(name=PROCESS_JOB_TASK, bind=True, base=JobTask, max_retries=defaults.STORAGE_RETRIES)
def process_job(self: JobTask, job_id: str) -> str | None:
    """Run job `job_id`; retry when storage fails; end it failed on anything else."""
    storage = worker_storage()
    try:
        return run_this_job(self, storage, job_id)
    finally:
        # A worker process is free again: the batch queue gets its next job, client by client.
        feed_batch_queue()


def run_this_job(self: JobTask, storage: Storage, job_id: str) -> str | None:
    """`process_job`'s work: run the job, and end it failed on anything but a storage outage."""
    try:
        return run_job(
            storage,
            job_id,
            worker_settings(),
            on_saved=job_saved,
            cancelled=lambda job: cancel_requested(worker_redis(), job.id, batch_of(job)),
        ).status.value
    except JobNotFound:
        log.warning("job %s has no document; dropped", job_id)
        return None
    except DocumentUnreadable as exc:
        # Nothing to record a failure in: storage damaged the document (S3 never stores half an
        # object; some stand-ins do). Dropped, and said loudly; the sweep skips it too.
        log.error("%s; dropped", exc.message)
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


def send_batch_job(job_id: str) -> None:
    """Send a batch's job to the batch queue: behind single jobs, never ahead of them."""
    process_job.apply_async((job_id,), queue=BATCH_QUEUE)


def feed_batch_queue() -> list[str]:
    """Top the batch queue up from the clients' backlogs, a job of each client in turn
    (`kcolors.jobs.feeder`); return the ids sent.

    A broker failing here loses no job: those not taken stay in their backlogs for the next
    feed (the next job's end, the next expansion, the sweep), and one taken but not sent is
    queued with no message, which the sweep enqueues again.
    """
    try:
        return feed(
            worker_redis(),
            send_batch_job,
            queue=BATCH_QUEUE,
            window=worker_settings().batch_window,
            cancelled=lambda job_id, batch_id: cancel_requested(worker_redis(), job_id, batch_id),
        )
    except (redis.RedisError, OSError, OperationalError) as exc:
        log.warning("feeding the batch queue failed; the next feed tries again: %s", exc)
        return []
