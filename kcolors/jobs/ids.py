"""Job and batch ids: ULIDs, unguessable and in creation order, their time inside them."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime

from ulid import ULID

from kcolors.errors import JobNotFound

_last_id: tuple[int, int] = (0, 0)  # (milliseconds, randomness) of the last id made here
_id_lock = threading.Lock()
RANDOM_BITS = 80
# Ids made in the same millisecond step up by a random gap: still in creation order, and one id
# says nothing usable about the next (python-ulid's monotonic generator steps by exactly one).
MAX_GAP = 2**64


def new_job_id() -> str:
    """Return a fresh ULID: unguessable (>= 64 random bits) and sortable by creation time."""
    global _last_id
    with _id_lock:
        milliseconds = time.time_ns() // 1_000_000
        last_ms, last_random = _last_id
        if milliseconds <= last_ms:
            milliseconds, randomness = last_ms, last_random + 1 + secrets.randbelow(MAX_GAP)
            if randomness >= 2**RANDOM_BITS:  # this millisecond is used up: borrow the next
                milliseconds, randomness = last_ms + 1, secrets.randbits(RANDOM_BITS)
        else:
            randomness = secrets.randbits(RANDOM_BITS)
        _last_id = (milliseconds, randomness)
    value = milliseconds.to_bytes(6, "big") + randomness.to_bytes(10, "big")
    return str(ULID.from_bytes(value))


def parse_job_id(job_id: str) -> str:
    """Return `job_id` if it is a well-formed ULID, else raise `JobNotFound`."""
    try:
        if len(job_id) == 26 and str(ULID.from_str(job_id)) == job_id:
            return job_id
    except ValueError:
        pass
    raise JobNotFound(f"no job {job_id!r}")


def id_time(item_id: str) -> datetime | None:
    """When a job or batch was made, from its ULID; None for a string that is no id."""
    try:
        return ULID.from_str(item_id).datetime
    except ValueError:
        return None
