"""A batch's progress in counters, kept in Redis as its jobs change: its summary is one read,
whatever its size, and still adds up exactly.

Every item of a batch has an index. One bitmap per state records which items have reached it
(`started`, and the ends: `succeeded`, `failed`, `cancelled`; and `reused`), and a hash keeps
the counts. Both change only in Lua scripts, each atomic in Redis, and a count moves only when a
bit does: counting the same job twice (a save announced again, the sweep's correction, a
recount) changes nothing, so the counts are never off by a repeat, in whatever order the calls
come. An item sharing its twin's job (the same picture twice in one batch) follows that job: its
index is kept under the job's id, and counted with it.

Redis is not the source of truth: the job documents are. A worker that died between its save
and its count is counted by the sweep, which reads every recent job document anyway
(`reconcile`); counters that Redis lost (a flush) are missing their `total`, and the next
summary counts every item again from storage (`recount`). Plain functions over a redis client.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from kcolors.jobs.broker import text
from kcolors.jobs.job import Job
from kcolors.jobs.status import JobStatus

COUNTS_PREFIX = "kcolors:batch-counts:"
ENDS = ("succeeded", "failed", "cancelled")
STATES = ("queued", "running", *ENDS)
# Counters unread this long expire: a summary asked for after that counts again from storage.
COUNTS_SECONDS = 7 * 24 * 3600
# The keys of one batch, in the order the scripts take them.
_PARTS = ("counts", "started", *ENDS, "reused", "twins")
_LIB = """
local counts, started, twins = KEYS[1], KEYS[2], KEYS[7]
local ends = {succeeded = KEYS[3], failed = KEYS[4], cancelled = KEYS[5]}
local function ended(i)
  for state, key in pairs(ends) do
    if redis.call('GETBIT', key, i) == 1 then return state end
  end
  return nil
end
local function mark(i, state, reused)
  if state == 'running' then
    if redis.call('SETBIT', started, i, 1) == 0 and not ended(i) then
      redis.call('HINCRBY', counts, 'running', 1)
    end
    return
  end
  if ended(i) then return end
  redis.call('SETBIT', ends[state], i, 1)
  redis.call('HINCRBY', counts, state, 1)
  if redis.call('GETBIT', started, i) == 1 then redis.call('HINCRBY', counts, 'running', -1) end
  if reused == '1' and redis.call('SETBIT', KEYS[6], i, 1) == 0 then
    redis.call('HINCRBY', counts, 'reused', 1)
  end
end
local function keep(seconds)
  for _, key in ipairs(KEYS) do
    if redis.call('EXISTS', key) == 1 then redis.call('EXPIRE', key, seconds) end
  end
end
"""
# ARGV: item index, state (running or an end), reused (0/1), job id ('' for none), seconds kept.
_MARK = (
    _LIB
    + """
mark(tonumber(ARGV[1]), ARGV[2], ARGV[3])
if ARGV[4] ~= '' then
  local shared = redis.call('HGET', twins, ARGV[4])
  if shared then
    for t in string.gmatch(shared, '%d+') do mark(tonumber(t), ARGV[2], '1') end
  end
end
keep(tonumber(ARGV[5]))
"""
)
# ARGV: the twin's index, the job's id, the index of the item the job was made for, seconds kept.
_ADD_TWIN = (
    _LIB
    + """
local twin, first = tonumber(ARGV[1]), tonumber(ARGV[3])
local shared = redis.call('HGET', twins, ARGV[2])
redis.call('HSET', twins, ARGV[2], (shared and (shared .. ',') or '') .. ARGV[1])
if redis.call('GETBIT', started, first) == 1 then mark(twin, 'running', '1') end
local state = ended(first)
if state then mark(twin, state, '1') end
keep(tonumber(ARGV[4]))
"""
)

# KEYS: a state's bitmap. ARGV: how many. The first indices whose bit is set, in order.
_FIRST = """
local found, from = {}, 0
while #found < tonumber(ARGV[1]) do
  local at = redis.call('BITPOS', KEYS[1], 1, from, -1, 'BIT')
  if at < 0 then break end
  found[#found + 1] = at
  from = at + 1
end
return found
"""


def counts_keys(batch_id: str) -> list[str]:
    """The Redis keys of a batch's counters, in the scripts' order."""
    return [f"{COUNTS_PREFIX}{batch_id}:{part}" for part in _PARTS]


def set_total(conn: redis.Redis, batch_id: str, total: int) -> None:
    """Record how many items a batch has: its counters are complete from here on."""
    with conn.pipeline(transaction=False) as pipe:
        pipe.hset(counts_keys(batch_id)[0], "total", total)
        pipe.expire(counts_keys(batch_id)[0], COUNTS_SECONDS)
        pipe.execute()


def count_item(
    conn: redis.Redis,
    batch_id: str,
    index: int,
    state: str,
    *,
    reused: bool = False,
    job_id: str = "",
) -> None:
    """Count item `index` as `state` (running, or an end); the twins of `job_id` follow."""
    # EVALSHA, as the feeder's scripts: a batch job's every save counts, and the script's text
    # is sent only when Redis does not know it yet.
    args: list[str | int] = [index, state, int(reused), job_id, COUNTS_SECONDS]
    conn.register_script(_MARK)(keys=counts_keys(batch_id), args=args)


def add_twin(conn: redis.Redis, batch_id: str, index: int, job_id: str, first: int) -> None:
    """Count item `index` with `job_id`, the job of item `first`, from now on and as it is."""
    args: list[str | int] = [index, job_id, first, COUNTS_SECONDS]
    conn.register_script(_ADD_TWIN)(keys=counts_keys(batch_id), args=args)


def count_job(conn: redis.Redis, job: Job) -> None:
    """Count a batch's job as its document says: running, or an end (nothing while it is
    queued, nor for a job of no batch)."""
    if job.batch is None or job.status is JobStatus.QUEUED:
        return
    batch_id, index = job.batch["id"], job.batch["item"]
    count_item(conn, batch_id, index, job.status.value, reused=job.reused, job_id=job.id)


def count_jobs(conn: redis.Redis, jobs: Iterable[Job]) -> None:
    """`count_job` for many jobs, in one round trip."""
    with conn.pipeline(transaction=False) as pipe:
        for job in jobs:
            count_job(pipe, job)  # a pipeline queues each call: one round trip
        pipe.execute()


def read_counts(conn: redis.Redis, batch_id: str) -> dict[str, int] | None:
    """The batch's counts by state, `reused` and `total`; None when Redis has lost them."""
    stored = {text(k): int(v) for k, v in conn.hgetall(counts_keys(batch_id)[0]).items()}
    if "total" not in stored:
        return None
    ended = sum(stored.get(state, 0) for state in ENDS)
    running = stored.get("running", 0)
    counts = {state: stored.get(state, 0) for state in ENDS}
    return {
        "total": stored["total"],
        "queued": stored["total"] - running - ended,
        "running": running,
        **counts,
        "reused": stored.get("reused", 0),
    }


def first_items(conn: redis.Redis, batch_id: str, state: str, limit: int) -> list[int]:
    """The indices of the first `limit` items counted as `state` (an end), in order: the
    failures a page shows, read without reading every job."""
    key = counts_keys(batch_id)[_PARTS.index(state)]
    return [int(index) for index in conn.register_script(_FIRST)(keys=[key], args=[limit])]


def forget_counts(conn: redis.Redis, batch_id: str) -> None:
    """Remove a batch's counters (the batch is being deleted)."""
    conn.delete(*counts_keys(batch_id))


def summary_of(counts: dict[str, Any], expanded: bool) -> dict[str, Any]:
    """The batch summary the API shows, from its counts: every item's state, how far it is, and
    whether all are done (a batch still being expanded has items to come)."""
    ended = sum(counts[state] for state in ENDS)
    total = counts["total"]
    finished = expanded and ended == total
    status = "finished" if finished else ("running" if expanded else "queued")
    progress = round(ended / total, 4) if total else 1.0
    return {"status": status, **{name: counts[name] for name in ("total", *STATES, "reused")},
            "progress": progress}  # fmt: skip
