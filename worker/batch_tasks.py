"""Celery tasks of batches: the fan-out (one job per image, each added to its client's backlog)
and the cancel that ends a cancelled batch's queued jobs."""

from __future__ import annotations

import logging
import time

import redis
from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from kcolors import defaults
from kcolors.errors import BatchNotFound, StorageUnavailable
from kcolors.jobs.batch import (
    cancel_items,
    expand,
    item_jobs,
    load_batch,
    mark_sent,
    scheduling_client,
)
from kcolors.jobs.broker import CANCEL_BATCH_TASK, EXPAND_BATCH_TASK
from kcolors.jobs.feeder import add_to_backlog, backlog_job_ids
from kcolors.jobs.job import JobStatus
from worker.tasks import (
    feed_batch_queue,
    retry_delay,
    worker_redis,
    worker_settings,
    worker_storage,
)

log = logging.getLogger(__name__)
# Attempts of one expansion cut off by its soft time limit: each goes on from where the last
# stopped, so this bounds only an expansion that makes no progress at all.
MAX_EXPANSION_ATTEMPTS = 50
# The share of the soft time limit one expansion task spends before it hands the rest of the
# batch to a new task: an expansion stops cleanly between two items, well before the limit
# would interrupt it at an arbitrary point (inside a storage call, a lock), and the jobs made
# so far start at once, not after the last picture of the batch is read.
EXPANSION_SHARE_OF_LIMIT = 0.5


@shared_task(name=EXPAND_BATCH_TASK, bind=True, max_retries=defaults.STORAGE_RETRIES)
def expand_batch(self: Task, batch_id: str) -> int:
    """Create the batch's jobs (once) and add those that must run to its client's backlog,
    from which the feeder sends them in turns with other clients' jobs; return how many.

    A big batch is expanded in parts, each within a share of the soft time limit: a part adds
    its jobs to the backlog and hands the rest to a new task. Cut off by the limit itself, an
    expansion has saved what it made (`expand`): it goes on at once in a new attempt, which
    resumes after those items, up to `MAX_EXPANSION_ATTEMPTS`.
    """
    storage = worker_storage()
    settings = worker_settings()
    deadline = time.monotonic() + settings.soft_time_limit * EXPANSION_SHARE_OF_LIMIT
    try:
        batch = load_batch(storage, batch_id)
        if batch.expanded_at is None:
            to_run = expand(storage, worker_redis(), batch, settings, deadline=deadline)
        else:  # a redelivered message: the jobs exist; send again those that never started
            jobs = item_jobs(storage, batch)
            waiting = backlog_job_ids(worker_redis())
            to_run = [j.id for j in jobs.values() if j.status is JobStatus.QUEUED]
            to_run = [job_id for job_id in to_run if job_id not in waiting]
    except BatchNotFound:
        log.warning("batch %s has no document; dropped", batch_id)
        return 0
    except StorageUnavailable as exc:
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from exc
    except SoftTimeLimitExceeded as exc:
        log.warning("batch %s: expansion cut off at its time limit; resuming", batch_id)
        raise self.retry(exc=exc, countdown=0, max_retries=MAX_EXPANSION_ATTEMPTS) from exc
    # Behind the client's other batch jobs, taking turns with other clients' (the feeder).
    try:
        add_to_backlog(worker_redis(), scheduling_client(batch), to_run, batch_id=batch.id)
    except (redis.RedisError, OSError) as exc:
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from exc
    feed_batch_queue()
    if batch.expanded_at is None:  # stopped at its deadline: the rest in a new task
        try:
            mark_sent(storage, batch, to_run)
        except StorageUnavailable as exc:  # sent again by the retry: a job runs once anyway
            raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from exc
        self.apply_async((batch_id,))
        log.info("batch %s: %d jobs enqueued; expansion continues", batch_id, len(to_run))
        return len(to_run)
    log.info("batch %s: %d jobs enqueued of %d images", batch_id, len(to_run), len(batch.items))
    return len(to_run)


@shared_task(name=CANCEL_BATCH_TASK, bind=True, max_retries=defaults.STORAGE_RETRIES)
def cancel_batch(self: Task, batch_id: str, start: int = 0) -> int:
    """End `cancelled` the unfinished jobs of a cancelled batch, a part at a time (each within
    a share of the soft time limit, the rest in a new task); return the item it stopped at.

    The batch stopped when it was cancelled (one Redis flag that the feeder, the workers and
    the expansion read); this only ends its jobs' documents, so that its counts add up."""
    storage = worker_storage()
    deadline = time.monotonic() + worker_settings().soft_time_limit * EXPANSION_SHARE_OF_LIMIT
    try:
        batch = load_batch(storage, batch_id)
        next_start = cancel_items(storage, worker_redis(), batch, start, deadline)
    except BatchNotFound:
        log.warning("batch %s has no document; nothing to cancel", batch_id)
        return start
    except (StorageUnavailable, redis.RedisError, OSError) as exc:
        raise self.retry(exc=exc, countdown=retry_delay(self.request.retries)) from exc
    if next_start is not None:
        self.apply_async((batch_id, next_start))
        return next_start
    log.info("batch %s: every unfinished job of it is cancelled", batch_id)
    return len(batch.items)
