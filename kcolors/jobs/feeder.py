"""Fair shares between clients: batch jobs wait in per-client backlogs, and a feeder moves them
into the batch queue in turns, a small window at a time.

Celery's queue is first in, first out: a client's 1,000-image batch sent to it whole would run
before another client's batch sent a second later. So a batch's jobs are not sent at once: they
are added to their client's backlog (a Redis list per client), and the feeder keeps at most
`window` messages waiting in the batch queue, taking one job from each client with work in turn
(deficit round robin with a quantum of one job: jobs are the unit of share). A client with ten
batches has one backlog, so one share; a new client's first job waits at most `window` jobs.

The ring of clients with work and the backlogs change only in Lua scripts, each atomic in Redis:
a client added while the feeder finds its backlog empty is never dropped from the ring. Feeding
takes no lock: two workers feeding at once can each send one message past the window, a bounded
overshoot, and no feed can stall another. Plain functions over a redis client; sending is a
callback, so no Celery here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import redis

from kcolors.jobs.broker import text

BACKLOG_PREFIX = "kcolors:backlog:"
# The clients with jobs in a backlog: `RING` in the order of their turns, `CLIENTS` as a set, so
# that adding jobs tells in O(1) whether the client is in the ring already.
RING_KEY = "kcolors:backlog-ring"
CLIENTS_KEY = "kcolors:backlog-clients"
# Whose backlog a batch with no recorded client goes to (made before clients were recorded).
ANONYMOUS = "anonymous"
BATCH_SEPARATOR = "@"  # between a job's id and its batch's in a backlog entry (ULIDs have none)

# KEYS: ring, clients. ARGV: backlog prefix, client, job ids...
_ADD = """
local backlog = ARGV[1] .. ARGV[2]
for i = 3, #ARGV do redis.call('RPUSH', backlog, ARGV[i]) end
if redis.call('SADD', KEYS[2], ARGV[2]) == 1 then redis.call('RPUSH', KEYS[1], ARGV[2]) end
return redis.call('LLEN', backlog)
"""
# KEYS: ring, clients. ARGV: backlog prefix. Returns {client, job id}, or nil when none waits.
_TAKE = """
while true do
  local client = redis.call('LMOVE', KEYS[1], KEYS[1], 'LEFT', 'RIGHT')
  if not client then return nil end
  local job = redis.call('LPOP', ARGV[1] .. client)
  if job then return {client, job} end
  redis.call('LREM', KEYS[1], 0, client)
  redis.call('SREM', KEYS[2], client)
end
"""


def backlog_key(client: str) -> str:
    """The Redis list of a client's batch jobs not yet sent to the queue."""
    return f"{BACKLOG_PREFIX}{client}"


def add_to_backlog(
    connection: redis.Redis, client: str, job_ids: Iterable[str], batch_id: str | None = None
) -> int:
    """Queue `job_ids` (of batch `batch_id`) behind the client's other batch jobs; return its
    backlog's length."""
    entries = [backlog_entry(job_id, batch_id) for job_id in job_ids]
    if not entries:
        return 0
    script = connection.register_script(_ADD)
    return int(script(keys=[RING_KEY, CLIENTS_KEY], args=[BACKLOG_PREFIX, client, *entries]))


def backlog_entry(job_id: str, batch_id: str | None) -> str:
    """A job as its backlog holds it: with its batch, so that the feeder can drop the jobs of a
    cancelled batch without reading their documents."""
    return f"{job_id}{BATCH_SEPARATOR}{batch_id}" if batch_id else job_id


def parse_entry(entry: bytes | str) -> tuple[str, str | None]:
    """`(job_id, batch_id)` of a backlog entry (one added before batches were recorded: None)."""
    job_id, _, batch_id = text(entry).partition(BATCH_SEPARATOR)
    return job_id, batch_id or None


def take_next(connection: redis.Redis) -> tuple[str, str, str | None] | None:
    """Take the next client's next job, `(client, job_id, batch_id)`, turning the ring; None
    if none waits."""
    taken = connection.register_script(_TAKE)(keys=[RING_KEY, CLIENTS_KEY], args=[BACKLOG_PREFIX])
    if not taken:
        return None
    client, entry = taken
    return (text(client), *parse_entry(entry))


def feed(
    connection: redis.Redis,
    send: Callable[[str], None],
    *,
    queue: str,
    window: int,
    cancelled: Callable[[str, str | None], bool] = lambda job_id, batch_id: False,
) -> list[str]:
    """Send backlog jobs, client after client, until `window` messages wait in `queue` (a kombu
    Redis list) or the backlogs are empty; return the ids sent.

    A job for which `cancelled(job_id, batch_id)` is true is dropped, not sent: a cancelled
    batch's backlog drains without a message each.
    """
    sent: list[str] = []
    while connection.llen(queue) < window:
        taken = take_next(connection)
        if taken is None:
            break
        _client, job_id, batch_id = taken
        if cancelled(job_id, batch_id):
            continue
        send(job_id)
        sent.append(job_id)
    return sent


def backlog_clients(connection: redis.Redis) -> list[str]:
    """The clients with jobs in a backlog, in the order of their next turns."""
    return [text(client) for client in connection.lrange(RING_KEY, 0, -1)]


def backlog_lengths(connection: redis.Redis) -> dict[str, int]:
    """Each client's count of batch jobs waiting in its backlog."""
    clients = backlog_clients(connection)
    with connection.pipeline(transaction=False) as pipe:
        for client in clients:
            pipe.llen(backlog_key(client))
        lengths = pipe.execute()
    return dict(zip(clients, (int(n) for n in lengths), strict=True))


def backlog_job_ids(connection: redis.Redis) -> set[str]:
    """Every job id waiting in a backlog: jobs with a message to come, for reconcile."""
    ids: set[str] = set()
    for client in backlog_clients(connection):
        entries = connection.lrange(backlog_key(client), 0, -1)
        ids.update(parse_entry(entry)[0] for entry in entries)
    return ids
