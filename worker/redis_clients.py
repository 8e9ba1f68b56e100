"""Redis clients for what the service keeps beside the queue, in the broker's Redis: the change
notices of job documents and the index of reusable results."""

from __future__ import annotations

import redis

from worker.celery_app import FALLBACK_BROKER_URL
from worker.settings import Settings

# Neither notices nor the index may hold a job or a request up for long.
SOCKET_TIMEOUT_SECONDS = 2


def redis_for(settings: Settings, *, read_timeout: bool = True) -> redis.Redis:
    """A client of the broker's Redis; without `read_timeout` for pub/sub listeners, whose
    reads wait as long as they are told to."""
    return redis.Redis.from_url(
        settings.broker_url or FALLBACK_BROKER_URL,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS if read_timeout else None,
    )
