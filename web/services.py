"""Resources a request needs, opened lazily from the app's settings."""

from __future__ import annotations

import functools
import logging
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor

import redis
from celery import Celery
from flask import current_app
from kombu.exceptions import OperationalError

from web.submission import Submission
from worker import metrics
from worker.celery_app import PROCESS_JOB_TASK, create_celery_app
from worker.exceptions import BrokerUnavailable, StorageUnavailable
from worker.job import Job, input_key, job_key, save_job
from worker.job_events import announce
from worker.redis_clients import redis_for
from worker.reuse import find_reusable
from worker.settings import Settings
from worker.storage import Storage, open_storage

SUBMIT_THREADS = 16  # two round trips per submission, for several request threads at once
log = logging.getLogger(__name__)


def get_settings() -> Settings:
    """Return the app's settings."""
    return current_app.config["KCOLORS_SETTINGS"]


def get_storage() -> Storage:
    """Return the storage named by the app's settings."""
    return open_storage(get_settings())


def get_redis() -> redis.Redis:
    """Return the app's client of the broker's Redis (the reuse index), made on first use."""
    extensions = current_app.extensions
    if "kcolors_redis" not in extensions:
        extensions["kcolors_redis"] = redis_for(get_settings())
    return extensions["kcolors_redis"]


def get_celery() -> Celery:
    """Return the app's Celery app, created on first use."""
    extensions = current_app.extensions
    if "celery" not in extensions:
        extensions["celery"] = create_celery_app(get_settings())
    return extensions["celery"]


def enqueue_job(job_id: str) -> None:
    """Send the job's id to the workers, or raise `BrokerUnavailable`."""
    enqueue_task(PROCESS_JOB_TASK, job_id)


def enqueue_task(task_name: str, *args: str) -> None:
    """Send a task by name to the workers, or raise `BrokerUnavailable`."""
    try:
        get_celery().send_task(task_name, args=list(args))
    except (OperationalError, OSError) as exc:
        raise BrokerUnavailable(f"the job queue is unreachable: {exc}") from exc


def check_broker() -> None:
    """Raise `BrokerUnavailable` unless the broker answers a ping."""
    try:
        get_redis().ping()
    except (redis.RedisError, OSError) as exc:
        raise BrokerUnavailable(f"broker unreachable: {exc}") from exc


@functools.cache
def submit_pool() -> ThreadPoolExecutor:
    """This process's threads for the storage round trips of a submission, made on first use
    (after gunicorn forked): starting threads for every request costs a millisecond each."""
    return ThreadPoolExecutor(max_workers=SUBMIT_THREADS, thread_name_prefix="kcolors-submit")


def submit_job(submission: Submission) -> Job:
    """Store the input and the job document, then enqueue the job (for the API and the form)."""
    storage = get_storage()
    info = dict(submission.image_info)
    extension = info.pop("extension")
    job = Job.create(submission.params, submission.source_key or "", info)
    source = find_reusable(storage, get_redis(), info["sha256"], submission.params)
    if source is not None:  # same bytes, same parameters: the outputs exist already
        job.reuse_results(source)
        save_job(storage, job)
        announce(get_redis(), job.to_dict())
        return accepted(job)
    # The input and the queued document at once: one round trip's wait, not two.
    pool, writes = submit_pool(), []
    if submission.upload is not None:
        job.input["key"] = input_key(job.id, extension)
        image_type = f"image/{info['format']}"
        writes.append(pool.submit(storage.put, job.input["key"], submission.upload, image_type))
    writes.append(pool.submit(save_job, storage, job))
    futures.wait(writes)
    try:
        for write in writes:
            write.result()
    except StorageUnavailable:
        discard_objects(storage, job, uploaded=submission.upload is not None)
        raise
    # The queued version, for clients that wait on the job from its 202 on.
    announce(get_redis(), job.to_dict())
    try:
        enqueue_job(job.id)
    except BrokerUnavailable as exc:
        job.fail(exc.code, exc.message)  # never leave a document queued with no message behind it
        save_job(storage, job)
        announce(get_redis(), job.to_dict())
        raise
    return accepted(job)


def discard_objects(storage: Storage, job: Job, uploaded: bool) -> None:
    """Remove what a submission that failed half-way stored, if storage lets us."""
    try:
        storage.delete(job_key(job.id))
        if uploaded:
            storage.delete(job.input["key"])
    except StorageUnavailable:
        log.warning("job %s: objects left behind; `kcolors reconcile` will fail the job", job.id)


def accepted(job: Job) -> Job:
    """Count and log a job the service took on."""
    metrics.JOBS_SUBMITTED.labels(kind="job").inc()
    log.info("job %s", job.status.value, extra={"job_id": job.id})
    return job
