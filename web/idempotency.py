"""Safe retries: the `Idempotency-Key` header on the submitting routes, with the contract of
payment APIs and the IETF httpapi idempotency-key draft.

The first request with a key claims it in Redis (so every web host sees it); its 2xx answer is
kept for 24 h and answered again, with `Idempotent-Replayed: true`, to a request from the same
client with the same key and the same request. The same key with another request answers 422;
while the first is still being answered, 409. A first request that fails frees its key, so the
client's retry runs for real. Keys are per client (a token's, or an address).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

import redis
from flask import Request, request

from kcolors.errors import (
    BrokerUnavailable,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from web.auth import client_key
from web.services import get_redis

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")  # visible ASCII and spaces, as a header carries
REMEMBERED_SECONDS = 24 * 3600
# How long a claim waits for its request's answer: a request still running after this (a big
# upload on a slow link) no longer holds its key, and a retry then runs again.
CLAIM_SECONDS = 300
KEPT_HEADERS = ("Location", "ETag")
PREFIX = "kcolors:idempotency:"
log = logging.getLogger(__name__)

# KEYS: slot. ARGV: claim token, answer. Keep the answer only while this request holds the claim.
_KEEP = """
local held = redis.call('GET', KEYS[1])
if not held or cjson.decode(held)['claim'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
# KEYS: slot. ARGV: claim token. Free the key only while this request holds the claim.
_FREE = """
local held = redis.call('GET', KEYS[1])
if held and cjson.decode(held)['claim'] == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

Answer = tuple[dict[str, Any], int, dict[str, str]]


def idempotent(view: Callable[..., Answer]) -> Callable[..., Answer]:
    """Make a submitting view answer a retried request (same `Idempotency-Key`) once."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Answer:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not KEY_PATTERN.fullmatch(key):
            raise InvalidIdempotencyKey(f"{HEADER} must be 1 to 255 visible ASCII characters")
        notices, slot = get_redis(), slot_of(client_key(), key)
        fingerprint = request_fingerprint(request)
        token = secrets.token_hex(16)
        kept = claim(notices, slot, fingerprint, token)
        if kept is not None:
            return replay(kept, fingerprint)
        try:
            body, status, headers = view(*args, **kwargs)
        except BaseException:
            free(notices, slot, token)
            raise
        if 200 <= status < 300:
            shown = {name: headers[name] for name in KEPT_HEADERS if name in headers}
            answer = {"fingerprint": fingerprint, "status": status, "body": body, "headers": shown}
            keep(notices, slot, token, answer)
        else:
            free(notices, slot, token)
        return body, status, headers

    return wrapper


def slot_of(client: str, key: str) -> str:
    """The Redis key of one client's idempotency key (hashed: any text makes a plain key)."""
    return PREFIX + hashlib.sha256(f"{client}\0{key}".encode()).hexdigest()


def request_fingerprint(req: Request) -> str:
    """What makes two requests the same: route, and body as the route reads it (a multipart
    form by its fields and its files' names and bytes, since each send has a new boundary; a
    JSON body by its parsed value)."""
    digest = hashlib.sha256(f"{req.method} {req.path}\0".encode())
    if req.mimetype == "multipart/form-data":
        digest.update(json.dumps(sorted(req.form.items(multi=True))).encode())
        for field, upload in sorted(req.files.items(multi=True), key=lambda pair: pair[0]):
            digest.update(f"\0{field}\0{upload.filename}\0".encode())
            digest.update(hashlib.sha256(upload.stream.read()).digest())
            upload.stream.seek(0)  # the view reads it again
    else:
        digest.update(f"{req.mimetype}\0".encode())
        # JSON by what it says, so that spacing and the order of its fields do not count (its
        # size and depth are bounded first: web.bounded_json).
        body = req.get_json(silent=True) if req.is_json else None
        if body is not None:
            digest.update(json.dumps(body, sort_keys=True).encode())
        else:
            digest.update(req.get_data(cache=True))
    return digest.hexdigest()


def claim(notices: redis.Redis, slot: str, fingerprint: str, token: str) -> dict | None:
    """Claim the key for this request (None), or return what another request left on it."""
    record = json.dumps({"claim": token, "fingerprint": fingerprint})
    try:
        for _ in range(2):  # a claim that ends between SET and GET: try once more
            if notices.set(slot, record, nx=True, ex=CLAIM_SECONDS):
                return None
            held = notices.get(slot)
            if held is not None:
                kept: dict = json.loads(held)
                return kept
    except (redis.RedisError, OSError) as exc:
        raise BrokerUnavailable(f"the idempotency key could not be checked: {exc}") from exc
    raise IdempotencyKeyInFlight(f"the first request with this {HEADER} is still running")


def replay(kept: dict, fingerprint: str) -> Answer:
    """The first request's answer again, if this is the same request."""
    if kept["fingerprint"] != fingerprint:
        raise IdempotencyKeyReused(
            f"this {HEADER} was used for a different request: use a new key for a new request"
        )
    if "status" not in kept:
        raise IdempotencyKeyInFlight(f"the first request with this {HEADER} is still running")
    return kept["body"], kept["status"], {**kept["headers"], REPLAYED_HEADER: "true"}


def keep(notices: redis.Redis, slot: str, token: str, answer: dict) -> None:
    """Keep the answer for `REMEMBERED_SECONDS`. On a Redis failure here the job exists, so the
    answer still goes out (logged): a retry after `CLAIM_SECONDS` then makes a second job, as
    it would without a key, and one before answers 409."""
    script = notices.register_script(_KEEP)
    try:
        script(keys=[slot], args=[token, json.dumps(answer), REMEMBERED_SECONDS])
    except (redis.RedisError, OSError) as exc:
        log.warning("the answer to an idempotent request could not be kept: %s", exc)


def free(notices: redis.Redis, slot: str, token: str) -> None:
    """Free the key after a failed first request, so that a retry runs."""
    with contextlib.suppress(redis.RedisError, OSError):  # else it expires in CLAIM_SECONDS
        notices.register_script(_FREE)(keys=[slot], args=[token])
