"""Waiting for a job to change (`GET /api/jobs/<id>?wait=S`): one request per change, not a poll
every few hundred milliseconds.

The client sends the ETag of the document it has in `If-None-Match`; the answer comes when the
document differs from it, or with `304 Not Modified` once `wait` seconds pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Container
from dataclasses import dataclass

import redis
from flask import Flask, current_app

from kcolors import defaults
from kcolors.errors import InvalidParameter
from kcolors.jobs.broker import redis_for
from kcolors.jobs.events import ChangeWaiter, document_etag, latest_version
from kcolors.jobs.job import Job, JobStatus, load_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import Storage
from web.services import get_storage

log = logging.getLogger(__name__)


def parse_wait(raw: str | None) -> float:
    """Read `?wait=S`: seconds from 0 to `MAX_WAIT_SECONDS`, 0 when absent."""
    if raw is None:
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= defaults.MAX_WAIT_SECONDS:  # also refuses nan
        raise InvalidParameter(
            f"wait must be a number of seconds from 0 to {defaults.MAX_WAIT_SECONDS}"
        )
    return seconds


@dataclass(frozen=True)
class NotModified:
    """The client's version is the job's latest: answer `304` with this ETag."""

    etag: str


class WaitingRoom:
    """Per web process: the Redis client for change notices, and the slots for waiters."""

    def __init__(self, settings: Settings) -> None:
        self.notices = redis_for(settings, read_timeout=False)  # connects on first use
        size = settings.max_waiting_requests
        self._slots = threading.BoundedSemaphore(size) if size else None

    def read_when_changed(
        self, storage: Storage, job_id: str, known: Container[str], seconds: float
    ) -> Job | NotModified:
        """Return the job once its document's ETag is not one of `known`, or after `seconds`.

        The client is up to date when Redis's version hint is one of `known`; then the next
        notice carries the next document, and storage is not read at all. A finished job, a
        full waiting room or a broken notice channel answer at once, as a plain read would.
        """
        if self._slots is None or not self._slots.acquire(blocking=False):
            return load_job(storage, job_id)
        deadline = time.monotonic() + seconds
        try:
            # Listen before looking: a save just after the look is then heard, not missed.
            with ChangeWaiter(self.notices, job_id) as waiter:
                latest = latest_version(self.notices, job_id)
                if latest is None or latest[0] not in known:  # no hint, or the client is behind
                    job = load_job(storage, job_id)
                    if document_etag(job.to_dict()) not in known or job.status.is_finished:
                        return job
                elif JobStatus(latest[1]).is_finished:
                    return NotModified(latest[0])
                while (remaining := deadline - time.monotonic()) > 0:
                    document = waiter.wait(remaining)
                    if document is None:
                        break
                    if document_etag(document) not in known:
                        return Job.from_dict(document)  # as just saved: no need to read it
                # No notice: storage tells whether anything changed unannounced.
                return load_job(storage, job_id)
        except (redis.RedisError, OSError) as exc:
            log.warning("job %s: cannot wait for changes: %s", job_id, exc)
            return load_job(storage, job_id)
        finally:
            self._slots.release()


def init_app(app: Flask) -> None:
    """Give the app its waiting room."""
    app.extensions["kcolors_waiting_room"] = WaitingRoom(app.config["KCOLORS_SETTINGS"])


def read_when_changed(job_id: str, known: Container[str], seconds: float) -> Job | NotModified:
    """Read the job in the current app's waiting room; see `WaitingRoom.read_when_changed`."""
    room: WaitingRoom = current_app.extensions["kcolors_waiting_room"]
    return room.read_when_changed(get_storage(), job_id, known, seconds)
