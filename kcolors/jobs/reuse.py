"""Reuse of stored results: identical image bytes with identical parameters are computed once.

The index from a fingerprint to the job that computed it lives in Redis: it is a cache, read on
every submission, and Redis answers in a fraction of a storage round trip. Losing it (a flushed
Redis) costs only recomputation; the job documents and outputs stay in storage.
"""

from __future__ import annotations

import hashlib
import json
import logging

import redis

from kcolors import defaults
from kcolors.engine.params import QuantizeParams
from kcolors.errors import JobNotFound
from kcolors.jobs.broker import text
from kcolors.jobs.job import Job, load_job
from kcolors.jobs.status import JobStatus
from kcolors.jobs.storage import Storage

INDEX_PREFIX = "kcolors:results:"
log = logging.getLogger(__name__)


def image_digest(data: bytes) -> str:
    """The SHA-256 of an image's bytes, as stored in the job's `input.sha256`."""
    return hashlib.sha256(data).hexdigest()


def fingerprint(digest: str, params: QuantizeParams, owner: str | None = None) -> str:
    """What identifies a job's outputs: the input's digest and every parameter, and the
    client when tokens are set (one client's work is never reused for another)."""
    identity = {"sha256": digest, **params.to_dict()}
    if owner is not None:
        identity["owner"] = owner
    canonical = json.dumps(identity, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def index_key(value: str) -> str:
    """The Redis key naming the job that computed a fingerprint."""
    return f"{INDEX_PREFIX}{value}"


def job_fingerprint(job: Job) -> str | None:
    """The fingerprint of a job, or None for a job created without its input's digest."""
    digest = job.input.get("sha256")
    return fingerprint(digest, job.params, job.owner) if digest else None


def remember_results(index: redis.Redis, job: Job) -> None:
    """Record a succeeded job as the one to reuse for its fingerprint."""
    value = job_fingerprint(job)
    if value is None or job.status is not JobStatus.SUCCEEDED:
        return
    try:
        index.set(index_key(value), job.id, ex=defaults.REUSE_INDEX_SECONDS)
    except (redis.RedisError, OSError) as exc:
        log.warning("job %s: not indexed for reuse: %s", job.id, exc)


def find_reusable(
    storage: Storage,
    index: redis.Redis,
    digest: str,
    params: QuantizeParams,
    owner: str | None = None,
) -> Job | None:
    """The succeeded job (of this client, when tokens are set) whose stored outputs answer these
    bytes and parameters, if any."""
    try:
        job_id = index.get(index_key(fingerprint(digest, params, owner)))
    except (redis.RedisError, OSError) as exc:
        log.warning("reuse index unreadable, computing again: %s", exc)
        return None
    if job_id is None:
        return None
    try:
        job = load_job(storage, text(job_id))
    except JobNotFound:
        return None
    # Outputs deleted since (by a retention policy, say) cannot be reused.
    if job.status is not JobStatus.SUCCEEDED or not all(
        storage.exists(result["key"]) for result in job.results
    ):
        log.info("fingerprint of job %s is stale; computing again", job.id)
        return None
    return job


def forget_results(index: redis.Redis, job: Job) -> None:
    """Drop the index entry naming `job` (it is being deleted), if it still names it."""
    value = job_fingerprint(job)
    if value is None:
        return
    try:
        if index.get(index_key(value)) in (job.id.encode(), job.id):
            index.delete(index_key(value))
    except (redis.RedisError, OSError) as exc:
        # A stale entry is harmless: `find_reusable` checks that the outputs still exist.
        log.warning("job %s: reuse index entry not removed: %s", job.id, exc)
