"""Find jobs left `queued` or `running` with no message behind them, and enqueue them again.

After Redis lost its data (flushed, or restarted without persistence), the job documents in
storage still say `queued` or `running` but no worker will ever get their message. Plain
functions: the broker is a redis client and enqueueing is a callback, so no Celery here.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from worker.exceptions import JobNotFound
from worker.job import JOBS_PREFIX, Job, load_job
from worker.storage import Storage

log = logging.getLogger(__name__)

# Where kombu's Redis transport keeps messages delivered to a worker but not yet acknowledged.
UNACKED_KEY = "unacked"
# A job younger than this may be between its document being saved and its message being sent.
DEFAULT_MIN_AGE_SECONDS = 60


@dataclass
class ReconcileReport:
    """What a reconcile pass saw and did."""

    checked: int = 0
    unfinished: int = 0
    requeued: list[str] = field(default_factory=list)


def message_job_id(raw: bytes | str, task_name: str) -> str | None:
    """Return the job id a kombu message carries for `task_name`, or None for anything else."""
    try:
        message = json.loads(raw)
        if message.get("headers", {}).get("task") != task_name:
            return None
        if message.get("content-type") != "application/json":
            return None
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, binascii.Error):
        return None
    return str(args[0]) if args else None


def enqueued_job_ids(broker: redis.Redis, queue: str, task_name: str) -> set[str]:
    """Return the ids of jobs with a message waiting in `queue` or held by a worker."""
    raws: list[bytes] = []
    # kombu keeps one list per priority level: `<queue>` and `<queue>\x06\x16<priority>`.
    for key in broker.scan_iter(match=f"{queue}*"):
        if broker.type(key) == b"list":
            raws.extend(broker.lrange(key, 0, -1))
    # Each unacknowledged entry is `[message, exchange, routing_key]`.
    for entry in broker.hvals(UNACKED_KEY):
        try:
            raws.append(json.dumps(json.loads(entry)[0]))
        except (ValueError, IndexError, TypeError):
            continue
    return {job_id for raw in raws if (job_id := message_job_id(raw, task_name)) is not None}


def stored_job_ids(storage: Storage) -> list[str]:
    """Return the id of every job with a document in storage."""
    return [key.split("/")[1] for key in storage.list(JOBS_PREFIX) if key.endswith("/job.json")]


def unfinished_jobs(
    storage: Storage, job_ids: Iterable[str], min_age_seconds: float, now: datetime
) -> Iterable[Job]:
    """Yield the jobs still `queued` or `running`, created at least `min_age_seconds` ago."""
    for job_id in job_ids:
        try:
            job = load_job(storage, job_id)
        except JobNotFound:  # deleted since the listing
            continue
        created = datetime.fromisoformat(job.created_at.replace("Z", "+00:00"))
        if job.status.is_finished or (now - created).total_seconds() < min_age_seconds:
            continue
        yield job


def reconcile(
    storage: Storage,
    broker: redis.Redis,
    enqueue: Callable[[str], None],
    *,
    queue: str,
    task_name: str,
    min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS,
    dry_run: bool = False,
) -> ReconcileReport:
    """Enqueue again every unfinished job that has no message in the broker.

    A running job is enqueued again too: its worker is gone with its message, and jobs are
    idempotent; one that keeps losing its workers ends `too_many_attempts` in `run_job`.
    """
    report = ReconcileReport()
    # Read the broker before and after the documents: a message moving from the queue to a
    # worker's unacknowledged set between two reads is seen by at least one of them.
    before = enqueued_job_ids(broker, queue, task_name)
    job_ids = stored_job_ids(storage)
    candidates = list(unfinished_jobs(storage, job_ids, min_age_seconds, datetime.now(UTC)))
    enqueued = before | enqueued_job_ids(broker, queue, task_name)
    report.checked = len(job_ids)
    report.unfinished = len(candidates)
    for job in candidates:
        if job.id in enqueued:
            continue
        log.info("job %s is %s with no message behind it: enqueued again", job.id, job.status)
        if not dry_run:
            enqueue(job.id)
        report.requeued.append(job.id)
    return report
