"""The broker, as both sides see it: task and queue names, the Celery configuration mapping, and
Redis clients for what the service keeps beside the queue (change notices, the reuse index).

Plain constants and a plain mapping, no Celery import: the web sends tasks by these names, the
worker declares its tasks under them, and neither imports the other.
"""

from __future__ import annotations

from typing import Any

import redis

from kcolors.jobs.settings import Settings

PROCESS_JOB_TASK = "kcolors.process_job"
EXPAND_BATCH_TASK = "kcolors.expand_batch"
CANCEL_BATCH_TASK = "kcolors.cancel_batch"
RECORD_FAILURE_TASK = "kcolors.record_failure"
SWEEP_TASK = "kcolors.sweep_lost_jobs"
# Two queues, so that a person's single job never waits behind a batch: the interactive queue
# (jobs from the form and the API) and the batch queue (batch expansions and their jobs). Every
# worker consumes both; kombu's Redis transport asks for them in turn (BRPOP over both, the queue
# just served put last), so a waiting single job is the next or the one after that a free worker
# process takes, however long the batch queue is. deploy/ (KEDA) and /metrics watch both lists.
QUEUE = "kcolors"
BATCH_QUEUE = "kcolors.batch"
QUEUES = (QUEUE, BATCH_QUEUE)
# Used only when KCOLORS_BROKER_URL is unset outside `kcolors up` (which starts its own Valkey).
FALLBACK_BROKER_URL = "redis://127.0.0.1:6379/0"
BROKER_TIMEOUT_SECONDS = 5
MAX_RESTORE_INTERVAL_SECONDS = 10
# Neither notices nor the index may hold a job or a request up for long.
SOCKET_TIMEOUT_SECONDS = 2


def broker_url(settings: Settings) -> str:
    """The broker's Redis URL: the configured one, or the local fallback."""
    return settings.broker_url or FALLBACK_BROKER_URL


def restore_interval(visibility_timeout: int) -> int:
    """Return the seconds between sweeps for lost workers' messages: a tenth of the timeout."""
    return max(1, min(MAX_RESTORE_INTERVAL_SECONDS, visibility_timeout // 10))


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return the whole Celery configuration for these settings (senders and workers alike)."""
    return {
        "broker_url": broker_url(settings),
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": BROKER_TIMEOUT_SECONDS,
        "broker_transport_options": {
            # Longer than the hard time limit, or Redis would hand a running job to a second
            # worker; Settings refuses a shorter one.
            "visibility_timeout": settings.visibility_timeout,
            # kombu sweeps for the messages of lost workers every 10 x 10 s by default; sweep
            # every few seconds instead (one cheap ZRANGE), so that redelivery follows soon
            # after the visibility timeout.
            "unacked_restore_interval": restore_interval(settings.visibility_timeout),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
            "socket_timeout": BROKER_TIMEOUT_SECONDS,
        },
        # A web request must not hang when the broker is down: fail fast, answer 503.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        # JSON only: a pickled message pushed into the queue is refused, never executed.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        # The job document in storage is the state; Celery keeps no results.
        "task_ignore_result": True,
        "result_backend": None,
        # Keep a job's message until the job is done, and requeue it if its worker dies; tasks
        # are idempotent (deterministic keys), so running one twice is safe.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_soft_time_limit": settings.soft_time_limit,
        "task_time_limit": settings.hard_time_limit,
        "task_default_queue": QUEUE,
        # Declared on both sides: a worker consumes every declared queue.
        "task_queues": {name: {"exchange": name, "routing_key": name} for name in QUEUES},
        "task_routes": {
            EXPAND_BATCH_TASK: {"queue": BATCH_QUEUE},
            CANCEL_BATCH_TASK: {"queue": BATCH_QUEUE},
        },
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }


def text(value: bytes | str) -> str:
    """A Redis reply as text (clients made here answer bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def redis_for(settings: Settings, *, read_timeout: bool = True) -> redis.Redis:
    """A client of the broker's Redis; without `read_timeout` for pub/sub listeners, whose
    reads wait as long as they are told to."""
    return redis.Redis.from_url(
        broker_url(settings),
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS if read_timeout else None,
    )
