"""Cancelling jobs: a queued job ends `cancelled` at once; a running one is asked to stop, and
its worker ends it `cancelled` at its next output, keeping the outputs made so far.

The request is a Redis flag beside the document: the worker may have read a queued document
just before the cancellation was saved, and would save `running` over it. It looks at the flag
before it starts, after each output and before it records success, so the job ends cancelled
whichever save came last.
"""

from __future__ import annotations

import redis

from kcolors import defaults
from kcolors.errors import BrokerUnavailable, JobFinished, JobNotFound
from kcolors.jobs.batch_counts import COUNTS_SECONDS
from kcolors.jobs.broker import text
from kcolors.jobs.events import after_save
from kcolors.jobs.job import Job, load_job, save_job
from kcolors.jobs.status import JobStatus
from kcolors.jobs.storage import Storage

CANCEL_PREFIX = "kcolors:cancel:"
# A cancelled batch: one flag that every job of it reads as its own, so that cancelling a batch
# of any size stops it at once (the feeder sends none of its jobs, a worker starts none, the
# expansion makes no more), while a task ends its queued jobs' documents in the background.
BATCH_CANCEL_PREFIX = "kcolors:cancel-batch:"


def cancel_key(job_id: str) -> str:
    """The Redis key that asks a job's worker to stop."""
    return f"{CANCEL_PREFIX}{job_id}"


def request_cancel(storage: Storage, notices: redis.Redis, job: Job) -> Job:
    """Cancel a job: at once when queued, at its next output when running; `JobFinished` when
    it already ended."""
    if job.status.is_finished:
        raise JobFinished(f"job {job.id} has ended ({job.status.value}): nothing to cancel")
    try:
        notices.set(cancel_key(job.id), 1, ex=defaults.FAILURE_RECORD_SECONDS)
    except (redis.RedisError, OSError) as exc:
        raise BrokerUnavailable(f"the cancellation could not be recorded: {exc}") from exc
    if job.status is JobStatus.QUEUED:
        job.cancel()
        save_job(storage, job)
        after_save(notices, job)
    return job


def batch_cancel_key(batch_id: str) -> str:
    """The Redis key that stops every job of a batch."""
    return f"{BATCH_CANCEL_PREFIX}{batch_id}"


def request_batch_cancel(notices: redis.Redis, batch_id: str, when: str) -> None:
    """Stop every job of a batch, whatever its size: one write, holding when it was cancelled
    (`batch_cancelled_at`)."""
    try:
        notices.set(batch_cancel_key(batch_id), when, ex=COUNTS_SECONDS)  # as its counters
    except (redis.RedisError, OSError) as exc:
        raise BrokerUnavailable(f"the cancellation could not be recorded: {exc}") from exc


def batch_cancelled_at(notices: redis.Redis, batch_id: str) -> str | None:
    """When a batch was cancelled, as its flag says; None if it was not (a Redis outage reads
    as not: its document says it too). The flag is what every reader trusts: an expansion
    saving its own copy of the batch document may have written over the document's."""
    try:
        value = notices.get(batch_cancel_key(batch_id))
    except (redis.RedisError, OSError):
        return None
    return None if value is None else text(value)


def batch_of(job: Job) -> str | None:
    """The id of the batch a job was made for, if any."""
    return job.batch["id"] if job.batch else None


def cancel_requested(notices: redis.Redis, job_id: str, batch_id: str | None = None) -> bool:
    """Whether the job's client asked it, or its batch, to stop (one round trip; a Redis
    outage reads as no)."""
    keys = [cancel_key(job_id)] + ([batch_cancel_key(batch_id)] if batch_id else [])
    try:
        return bool(notices.exists(*keys))
    except (redis.RedisError, OSError):
        return False


def cancel_batch_jobs(storage: Storage, notices: redis.Redis, job_ids: list[str]) -> int:
    """Cancel every unfinished job of a batch; return how many were."""
    cancelled = 0
    for job_id in job_ids:
        try:
            job = load_job(storage, job_id)
        except JobNotFound:  # its retention ended, or it was never made: nothing to cancel
            continue
        if not job.status.is_finished:
            request_cancel(storage, notices, job)
            cancelled += 1
    return cancelled
