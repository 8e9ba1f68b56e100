"""Find jobs and batches whose message Redis lost, and enqueue them again.

After Redis lost its data (flushed, or restarted without persistence), the documents in storage
still say a job is `queued` or `running`, or a batch is not expanded yet, but no worker will ever
get their message. Plain functions: the broker is a redis client and enqueueing is a callback,
so no Celery here.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from kcolors import defaults
from kcolors.errors import BatchNotFound, DocumentUnreadable, JobNotFound
from kcolors.jobs.batch import BATCHES_PREFIX, Batch, load_batch
from kcolors.jobs.batch_counts import count_jobs
from kcolors.jobs.cancel import batch_of
from kcolors.jobs.feeder import add_to_backlog, backlog_job_ids
from kcolors.jobs.ids import id_time
from kcolors.jobs.job import JOBS_PREFIX, Job, load_job
from kcolors.jobs.status import JobStatus
from kcolors.jobs.storage import Storage
from kcolors.jobs.times import parse_iso

log = logging.getLogger(__name__)

# Where kombu's Redis transport keeps messages delivered to a worker but not yet acknowledged.
UNACKED_KEY = "unacked"


@dataclass
class ReconcileReport:
    """What a reconcile pass saw and did."""

    checked: int = 0
    unfinished: int = 0
    requeued: list[str] = field(default_factory=list)
    batches_requeued: list[str] = field(default_factory=list)


def message_task_and_id(raw: bytes | str) -> tuple[str, str] | None:
    """Return the task name and first argument of a JSON kombu message, or None."""
    try:
        message = json.loads(raw)
        task = message["headers"]["task"]
        if message.get("content-type") != "application/json":
            return None
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, binascii.Error):
        return None
    return (str(task), str(args[0])) if args else None


def enqueued_ids(broker: redis.Redis, queue: str) -> dict[str, set[str]]:
    """Return, per task name, the ids with a message waiting in `queue` or held by a worker."""
    raws: list[bytes | str] = []
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
    ids: dict[str, set[str]] = defaultdict(set)
    for raw in raws:
        if (found := message_task_and_id(raw)) is not None:
            ids[found[0]].add(found[1])
    return ids


def _ids_under(
    storage: Storage, prefix: str, name: str, created_after: datetime | None = None
) -> list[str]:
    ids = [key.split("/")[1] for key in storage.list(prefix) if key.endswith(f"/{name}")]
    if created_after is None:
        return ids
    # Ids are ULIDs: their creation time is in the id itself, no document needs reading.
    return [i for i in ids if (made := id_time(i)) is not None and made >= created_after]


def _age_seconds(created_at: str, now: datetime) -> float:
    return (now - parse_iso(created_at)).total_seconds()


def unfinished_jobs(
    storage: Storage,
    job_ids: Iterable[str],
    min_age_seconds: float,
    now: datetime,
    ended: list[Job] | None = None,
) -> list[Job]:
    """Return the jobs still `queued` or `running`, created at least `min_age_seconds` ago;
    the batch jobs that have started or ended go to `ended`, if given, to be counted."""
    jobs = []
    for job_id in job_ids:
        try:
            job = load_job(storage, job_id)
        except JobNotFound:  # deleted since the listing
            continue
        except DocumentUnreadable as exc:  # one damaged document must not stop the sweep
            log.warning("%s; skipped", exc.message)
            continue
        if not job.status.is_finished and _age_seconds(job.created_at, now) >= min_age_seconds:
            jobs.append(job)
        elif ended is not None and job.batch is not None and job.status is not JobStatus.QUEUED:
            ended.append(job)
    return jobs


def unexpanded_batches(
    storage: Storage, min_age_seconds: float, now: datetime, created_after: datetime | None = None
) -> list[Batch]:
    """Return the batches not yet expanded into jobs, created at least `min_age_seconds` ago."""
    batches = []
    for batch_id in _ids_under(storage, BATCHES_PREFIX, "batch.json", created_after):
        try:
            batch = load_batch(storage, batch_id)
        except BatchNotFound:
            continue
        except DocumentUnreadable as exc:
            log.warning("%s; skipped", exc.message)
            continue
        if batch.expanded_at is None and _age_seconds(batch.created_at, now) >= min_age_seconds:
            batches.append(batch)
    return batches


def reconcile(
    storage: Storage,
    broker: redis.Redis,
    enqueue: Callable[[str, str], None],
    *,
    queue: str,
    job_task: str,
    batch_task: str,
    failure_task: str | None = None,
    min_age_seconds: float = defaults.RECONCILE_MIN_AGE_SECONDS,
    created_after: datetime | None = None,
    dry_run: bool = False,
) -> ReconcileReport:
    """Send `enqueue(task, id)` again for every unfinished job or batch with no message; a
    batch's job goes back to its client's backlog instead, for the next feed.

    A running job is enqueued again too: its worker is gone with its message, and jobs are
    idempotent; one that keeps losing its workers ends `too_many_attempts` in `run_job`. A
    job whose failure waits to be recorded (`failure_task`) has a message behind it.
    """
    report = ReconcileReport()
    now = datetime.now(UTC)
    # Read the broker before and after the documents: a message moving from the queue to a
    # worker's unacknowledged set between two reads is seen by at least one of them.
    # A batch job waiting in its client's backlog has its message to come: read the backlogs
    # first, since the feeder moves jobs from them into the queue.
    backlog = backlog_job_ids(broker)
    before = enqueued_ids(broker, queue)
    before[job_task] |= backlog
    job_ids = _ids_under(storage, JOBS_PREFIX, "job.json", created_after)
    counted: list[Job] = []
    jobs = unfinished_jobs(storage, job_ids, min_age_seconds, now, counted)
    if not dry_run:  # a worker that died between its save and its count: counted now
        count_jobs(broker, counted)
    batches = unexpanded_batches(storage, min_age_seconds, now, created_after)
    after = enqueued_ids(broker, queue)
    report.checked, report.unfinished = len(job_ids), len(jobs)
    lost = [(job_task, job.id, job.batch_client, batch_of(job), report.requeued) for job in jobs]
    lost += [(batch_task, batch.id, None, None, report.batches_requeued) for batch in batches]
    for task, item_id, backlog_client, batch_id, done in lost:
        tasks = (task, failure_task) if task == job_task and failure_task else (task,)
        if any(item_id in ids[name] for ids in (before, after) for name in tasks):
            continue
        log.info("%s %s has no message behind it: enqueued again", task, item_id)
        if dry_run:
            pass
        elif backlog_client is not None:  # a batch's job takes its turn again, behind singles
            add_to_backlog(broker, backlog_client, [item_id], batch_id=batch_id)
        else:
            enqueue(task, item_id)
        done.append(item_id)
    return report
