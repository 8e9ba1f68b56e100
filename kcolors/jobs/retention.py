"""Retention: jobs and batches older than `KCOLORS_RETENTION_DAYS` are deleted with every object
they own, a bounded number per pass (the workers' sweep runs one pass per interval).

A job's age is in its id (a ULID), so finding the old ones reads no document. A job is deleted
document first: from then on it is gone for readers (`job_not_found`), and a pass cut short
leaves only unreferenced objects, which the next pass removes. Its entry in the reuse index goes
with it, so that reuse never points at a deleted job.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis

from kcolors.errors import JobNotFound
from kcolors.jobs.batch import BATCHES_PREFIX, batch_key
from kcolors.jobs.batch_counts import forget_counts
from kcolors.jobs.ids import id_time
from kcolors.jobs.job import JOBS_PREFIX, job_key, load_job
from kcolors.jobs.reuse import forget_results
from kcolors.jobs.storage import Storage

log = logging.getLogger(__name__)
# Objects deleted at most per pass: a pass stays short however much has expired.
MAX_OBJECTS_PER_PASS = 2000


@dataclass
class RetentionReport:
    """What one pass deleted."""

    jobs: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    objects: int = 0
    more_left: bool = False  # the pass stopped at its bound


def expired_ids(storage: Storage, prefix: str, cutoff: datetime) -> dict[str, list[str]]:
    """Every id under `prefix` made before `cutoff`, with all its object keys, oldest first."""
    keys: dict[str, list[str]] = defaultdict(list)
    for key in storage.list(prefix):
        item_id = key.removeprefix(prefix).split("/", 1)[0]
        made = id_time(item_id)
        if made is not None and made < cutoff:
            keys[item_id].append(key)
    return dict(sorted(keys.items()))


def delete_expired(
    storage: Storage,
    notices: redis.Redis,
    now: datetime,
    retention_days: float,
    max_objects: int = MAX_OBJECTS_PER_PASS,
) -> RetentionReport:
    """Delete the jobs and batches made more than `retention_days` before `now` (0: none)."""
    report = RetentionReport()
    if retention_days <= 0:
        return report
    cutoff = now - timedelta(days=retention_days)
    for prefix, document_key, deleted in (
        (JOBS_PREFIX, job_key, report.jobs),
        (BATCHES_PREFIX, batch_key, report.batches),
    ):
        for item_id, keys in expired_ids(storage, prefix, cutoff).items():
            if report.objects + len(keys) > max_objects and report.objects:
                report.more_left = True
                return report
            if prefix == JOBS_PREFIX:
                forget_job(storage, notices, item_id)
            else:
                forget_counts(notices, item_id)
            document = document_key(item_id)
            # The document first: once it is gone, nothing refers to the rest.
            for key in sorted(keys, key=lambda k: k != document):
                storage.delete(key)
            report.objects += len(keys)
            deleted.append(item_id)
    return report


def forget_job(storage: Storage, notices: redis.Redis, job_id: str) -> None:
    """Drop a job's entry in the reuse index, if it is the job the index names."""
    try:
        job = load_job(storage, job_id)
    except JobNotFound:  # its document went in an earlier, interrupted pass
        return
    forget_results(notices, job)
