"""Reuse of stored results: identical image bytes with identical parameters are computed once."""

from __future__ import annotations

import hashlib
import json
import logging

from worker.exceptions import JobNotFound, ObjectNotFound
from worker.job import Job, JobParams, JobStatus, load_job
from worker.storage import Storage

FINGERPRINTS_PREFIX = "fingerprints/"
log = logging.getLogger(__name__)


def image_digest(data: bytes) -> str:
    """The SHA-256 of an image's bytes, as stored in the job's `input.sha256`."""
    return hashlib.sha256(data).hexdigest()


def fingerprint(digest: str, params: JobParams) -> str:
    """What identifies a job's outputs: the input's digest and every parameter."""
    canonical = json.dumps({"sha256": digest, **params.to_dict()}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def fingerprint_key(value: str) -> str:
    """The key of the record naming the job that computed a fingerprint."""
    return f"{FINGERPRINTS_PREFIX}{value}.json"


def job_fingerprint(job: Job) -> str | None:
    """The fingerprint of a job, or None for a job created without its input's digest."""
    digest = job.input.get("sha256")
    return fingerprint(digest, job.params) if digest else None


def remember_results(storage: Storage, job: Job) -> None:
    """Record a succeeded job as the one to reuse for its fingerprint."""
    value = job_fingerprint(job)
    if value is not None and job.status is JobStatus.SUCCEEDED:
        body = json.dumps({"job_id": job.reused_from or job.id}).encode()
        storage.put(fingerprint_key(value), body, "application/json")


def find_reusable(storage: Storage, digest: str, params: JobParams) -> Job | None:
    """The succeeded job whose stored outputs answer these bytes and parameters, if any."""
    try:
        record = json.loads(storage.get(fingerprint_key(fingerprint(digest, params))))
        job = load_job(storage, record["job_id"])
    except (ObjectNotFound, JobNotFound):
        return None
    # Outputs deleted since (by a retention policy, say) cannot be reused.
    if job.status is not JobStatus.SUCCEEDED or not all(
        storage.exists(result["key"]) for result in job.results
    ):
        log.info("fingerprint of job %s is stale; computing again", job.id)
        return None
    return job
