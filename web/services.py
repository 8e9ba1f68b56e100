"""Resources a request needs, opened lazily from the app's settings, and job submission."""

from __future__ import annotations

import logging
import unicodedata

import redis
from celery import Celery
from flask import current_app
from kombu.exceptions import OperationalError

from kcolors.errors import BrokerUnavailable, JobNotFound
from kcolors.jobs import metrics
from kcolors.jobs.broker import PROCESS_JOB_TASK, celery_config, redis_for
from kcolors.jobs.cancel import request_cancel
from kcolors.jobs.creation import create_job, enqueue_job
from kcolors.jobs.job import Job, load_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import Storage, open_storage
from web.submission import Submission

log = logging.getLogger(__name__)
MAX_NAME_CHARS = 200  # of an upload's file name, as stored in the job's `input.name`


def get_settings() -> Settings:
    """Return the app's settings."""
    settings: Settings = current_app.config["KCOLORS_SETTINGS"]
    return settings


def get_storage() -> Storage:
    """Return the storage named by the app's settings."""
    return open_storage(get_settings())


def get_redis() -> redis.Redis:
    """Return the app's client of the broker's Redis (the reuse index), made on first use."""
    extensions = current_app.extensions
    if "kcolors_redis" not in extensions:
        extensions["kcolors_redis"] = redis_for(get_settings())
    client: redis.Redis = extensions["kcolors_redis"]
    return client


def get_celery() -> Celery:
    """Return the app's Celery client, made on first use: it only sends tasks, by name."""
    extensions = current_app.extensions
    if "celery" not in extensions:
        sender = Celery("kcolors", set_as_current=False)
        sender.config_from_object(celery_config(get_settings()))
        extensions["celery"] = sender
    celery: Celery = extensions["celery"]
    return celery


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


def load_own_job(job_id: str, owner: str | None) -> Job:
    """A job to act on: with tokens, only the client's own (another's reads as unknown)."""
    job = load_job(get_storage(), job_id)
    if owner is not None and job.owner not in (None, owner):
        raise JobNotFound(f"no job {job_id!r}")
    return job


def cancel_job(job_id: str, owner: str | None) -> Job:
    """Cancel a job of this client (API, page): at once if queued, at its next output if
    running; `JobFinished` if it ended."""
    return request_cancel(get_storage(), get_redis(), load_own_job(job_id, owner))


def upload_name(filename: str | None) -> str | None:
    """An upload's file name fit to store and show: its last path part only (some browsers
    send a whole Windows path), no control or format characters (no bidi tricks), at most
    `MAX_NAME_CHARS` characters; None when nothing is left."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return clean[:MAX_NAME_CHARS] or None


def submit_job(submission: Submission, owner: str | None, name: str | None = None) -> Job:
    """Create the job (the API's and the form's one path) and enqueue it unless reused.
    `name` is the uploaded file's name as the client sent it; it is cleaned here."""
    storage, notices = get_storage(), get_redis()
    job = create_job(
        storage,
        notices,
        get_settings(),
        submission.params,
        submission.probed,
        submission.data,
        source_key=submission.source_key,
        owner=owner,
        name=upload_name(name),
    )
    if not job.status.is_finished:
        enqueue_job(storage, notices, job, lambda job_id: enqueue_task(PROCESS_JOB_TASK, job_id))
    metrics.JOBS_SUBMITTED.labels(kind="job").inc()
    log.info("job %s", job.status.value, extra={"job_id": job.id})
    return job
