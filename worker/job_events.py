"""Change notices for job documents, over Redis pub/sub, so that pollers can wait for a change.

The document in storage stays the source of truth: a notice is sent only after a save
succeeded, and carries the document just saved, so that a waiting request need not read it
back. Notices are best effort: one lost (Redis down, no one subscribed) costs a waiting client
nothing but the rest of its wait.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis

CHANNEL_PREFIX = "kcolors:job-saved:"
log = logging.getLogger(__name__)


def channel(job_id: str) -> str:
    """The pub/sub channel of a job's notices."""
    return f"{CHANNEL_PREFIX}{job_id}"


def publish_saved(client: redis.Redis, document: dict[str, Any]) -> None:
    """Send whoever waits on the job the document just saved."""
    job_id = document["id"]
    try:
        client.publish(channel(job_id), json.dumps(document))
    except (redis.RedisError, OSError) as exc:
        log.warning("job %s: change notice not sent: %s", job_id, exc)


class ChangeWaiter:
    """A subscription to one job's notices: subscribe first, then read, then wait.

    Subscribing before the caller reads the document closes the gap in which a save between
    the read and the subscription would go unnoticed.
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
