"""The sweep for lost jobs: one chain of Celery tasks per cluster finds jobs and batches left
unfinished with no message behind them, and enqueues them again."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from celery import Celery, Task, shared_task

from kcolors import defaults
from kcolors.errors import KcolorsError
from kcolors.jobs.broker import (
    EXPAND_BATCH_TASK,
    PROCESS_JOB_TASK,
    QUEUE,
    RECORD_FAILURE_TASK,
    SWEEP_TASK,
)
from kcolors.jobs.reconcile import ReconcileReport, reconcile
from kcolors.jobs.retention import delete_expired
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import Storage
from worker.tasks import feed_batch_queue, worker_redis, worker_settings, worker_storage

log = logging.getLogger(__name__)


SWEEP_OWNER_KEY = "kcolors:sweep-owner"


def requeue_lost(
    app: Celery, storage: Storage, broker: redis.Redis, **options: Any
) -> ReconcileReport:
    """`reconcile` for this service's queue and tasks, enqueueing through `app`; `options` are
    reconcile's (`min_age_seconds`, `created_after`, `dry_run`). The sweep and `kcolors
    reconcile` both use it."""
    return reconcile(
        storage,
        broker,
        lambda task, item_id: app.send_task(task, args=[item_id]),
        queue=QUEUE,
        job_task=PROCESS_JOB_TASK,
        batch_task=EXPAND_BATCH_TASK,
        failure_task=RECORD_FAILURE_TASK,
        **options,
    )


def claim_sweep(client: redis.Redis, chain: str, seconds: int) -> bool:
    """Tell whether `chain` runs the sweep: the first to claim it keeps it while it renews it.

    Each worker start begins a chain of sweep tasks; all but one stop at their first run, so
    one sweep runs per interval however many workers there are. If the owning chain dies, its
    claim lapses and the next chain begun takes over.
    """
    if client.set(SWEEP_OWNER_KEY, chain, nx=True, ex=seconds):
        return True
    if client.get(SWEEP_OWNER_KEY) == chain.encode():
        client.expire(SWEEP_OWNER_KEY, seconds)
        return True
    return False


@shared_task(name=SWEEP_TASK, bind=True)
def sweep_lost_jobs(self: Task, chain: str) -> list[str] | None:
    """Enqueue again the recent jobs and batches left unfinished with no message behind them,
    delete those past `KCOLORS_RETENTION_DAYS` (a bounded number per pass), then come back in
    `sweep_interval` seconds; return the ids enqueued.

    A job's message can be lost without Redis losing data: kombu pops it before recording it
    as unacknowledged, and a worker killed in between takes it along. Such a job stays queued;
    this finds it. Only jobs older than the hard time limit plus an interval are looked at: a
    message a busy worker has popped is delivered by then.
    """
    settings = worker_settings()
    interval = settings.sweep_interval
    client = worker_redis()
    owner, report = True, None
    try:
        if not claim_sweep(client, chain, 3 * interval):
            owner = False
            return None
        report = sweep_once(self.app, client, settings.hard_time_limit + interval, settings)
        # Jobs left in a backlog with no feed to come (a feed cut off by a broker outage).
        feed_batch_queue()
    except (KcolorsError, redis.RedisError, OSError) as exc:
        log.warning("sweep for lost jobs failed, trying again in %d s: %s", interval, exc)
    finally:
        # Whatever this pass met (its soft time limit, a bug), the next one is scheduled: a
        # chain that stopped here would leave nothing sweeping until a worker restarts.
        if owner:
            self.apply_async(args=[chain], countdown=interval)
    if report is None:
        return []
    lost = report.requeued + report.batches_requeued
    if lost:
        log.warning("sweep: enqueued again %d lost jobs/batches: %s", len(lost), lost)
    return lost


def sweep_once(
    app: Celery, client: redis.Redis, min_age_seconds: int, settings: Settings
) -> ReconcileReport:
    """One pass: enqueue the lost, delete the expired (a bounded number)."""
    now = datetime.now(UTC)
    report = requeue_lost(
        app,
        worker_storage(),
        client,
        min_age_seconds=min_age_seconds,
        created_after=now - timedelta(seconds=defaults.SWEEP_WINDOW_SECONDS),
    )
    expired = delete_expired(worker_storage(), client, now, settings.retention_days)
    if expired.jobs or expired.batches:
        log.info("retention: deleted %d jobs and %d batches (%d objects)%s",
                 len(expired.jobs), len(expired.batches), expired.objects,
                 "; more next time" if expired.more_left else "")  # fmt: skip
    return report
