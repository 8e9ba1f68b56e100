"""Change notices for job documents, over Redis, so that clients can wait for a change.

After each successful save of a job document, `announce` stores the document's ETag as the
job's latest version (`kcolors:job-version:<id>`) and publishes the document on the job's channel
(`kcolors:job-saved:<id>`), in one round trip. A waiting request compares the client's ETag with
the latest version and, when the client is up to date, listens for the next document: it reads
storage neither before nor after. Storage stays the source of truth: the version is only a hint,
written after storage took the save, and whoever doubts it (no hint, a hint naming a version the
client does not have, a wait that ends with no notice) reads the document from storage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import redis

from kcolors.jobs import metrics
from kcolors.jobs.batch_counts import count_job
from kcolors.jobs.broker import text
from kcolors.jobs.job import Job
from kcolors.jobs.reuse import remember_results

CHANNEL_PREFIX = "kcolors:job-saved:"
VERSION_PREFIX = "kcolors:job-version:"
# A hint outlives every wait by far; an unknown job simply has none.
VERSION_SECONDS = 24 * 3600
log = logging.getLogger(__name__)


def channel(job_id: str) -> str:
    """The pub/sub channel of a job's notices."""
    return f"{CHANNEL_PREFIX}{job_id}"


def version_key(job_id: str) -> str:
    """The Redis key of the ETag of a job's latest saved document."""
    return f"{VERSION_PREFIX}{job_id}"


def document_etag(document: dict[str, Any]) -> str:
    """A strong ETag of a job document: equal documents, equal tags."""
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(body).hexdigest()[:32]


def announce(client: redis.Redis, document: dict[str, Any]) -> None:
    """Record the document just saved as the job's latest version and send it to its waiters."""
    job_id = document["id"]
    version = f"{document_etag(document)} {document['status']}"
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.set(version_key(job_id), version, ex=VERSION_SECONDS)
            pipe.publish(channel(job_id), json.dumps(document))
            pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("job %s: change notice not sent: %s", job_id, exc)


def latest_version(client: redis.Redis, job_id: str) -> tuple[str, str] | None:
    """The ETag and status of the job's latest saved document, if Redis knows them."""
    value = client.get(version_key(job_id))
    if value is None:
        return None
    etag, _, status = text(value).partition(" ")
    return etag, status


class ChangeWaiter:
    """A subscription to one job's notices: subscribe first, then check, then wait.

    Subscribing before the caller checks the job's version closes the gap in which a save
    between the check and the subscription would go unnoticed.
    """

    def __init__(self, client: redis.Redis, job_id: str) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(channel(job_id))

    def wait(self, timeout: float) -> dict[str, Any] | None:
        """Return the document of the next notice, or None once `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            message = self._pubsub.get_message(timeout=remaining)
            if message is not None:
                return json.loads(message["data"])
        return None

    def close(self) -> None:
        self._pubsub.close()

    def __enter__(self) -> ChangeWaiter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def after_save(client: redis.Redis, job: Job) -> None:
    """After each save of a document: send it to the clients waiting on the job and count a
    batch's job in its batch's progress; once it is finished, count it in the metrics and index
    a success for reuse by identical jobs."""
    document = job.to_dict()
    announce(client, document)
    try:
        count_job(client, job)
    except (redis.RedisError, OSError) as exc:  # the sweep counts it (reconcile)
        log.warning("job %s: not counted in its batch: %s", job.id, exc)
    if job.status.is_finished:
        remember_results(client, job)
        try:  # from the document just saved: no need to read it back
            metrics.record_finished_job(document, client)
        except (redis.RedisError, OSError) as exc:
            log.warning("job %s: metrics not recorded: %s", job.id, exc)
