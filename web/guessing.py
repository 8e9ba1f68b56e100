"""No guessing of tokens: wrong tokens are counted per address and per token prefix, and past
`defaults.AUTH_FAILURE_LIMIT` every further try is refused with `429` and `Retry-After`.

Only failures count (a client with a good token is never slowed), in a moving window (a fixed
window lets twice the limit through at its edge), with the `limits` library that Flask-Limiter
is built on, its counters in the broker's Redis so that every web process shares them. The
prefix key catches one guesser spread over many addresses trying variations of one token; the
address key catches one address trying many tokens.
"""

from __future__ import annotations

import logging
import math
import time

import limits
import limits.storage
import limits.strategies
import redis
from flask import current_app, request

from kcolors import defaults
from kcolors.errors import TooManyFailedSignIns
from kcolors.jobs.broker import broker_url
from web.services import get_settings

log = logging.getLogger(__name__)
LIMIT = limits.parse(defaults.AUTH_FAILURE_LIMIT)
PREFIX_CHARS = 6  # of a tried token: enough to group variations, too few to help a guesser


def _limiters() -> list[limits.strategies.MovingWindowRateLimiter]:
    """This app's limiters, made on first use: on the broker's Redis (shared by every web
    process), then one in this process's memory that counts while the broker is away."""
    extensions = current_app.extensions
    if "kcolors_guessing" not in extensions:
        settings = get_settings()
        stores = [limits.storage.MemoryStorage()]
        if settings.broker_url:
            shared = limits.storage.storage_from_string(
                broker_url(settings), socket_connect_timeout=2, socket_timeout=2
            )
            stores.insert(0, shared)
        extensions["kcolors_guessing"] = [
            limits.strategies.MovingWindowRateLimiter(store) for store in stores
        ]
    limiters: list[limits.strategies.MovingWindowRateLimiter] = extensions["kcolors_guessing"]
    return limiters


def _keys(token: str | None) -> list[tuple[str, str]]:
    keys = [("address", request.remote_addr or "unknown")]
    if token:
        keys.append(("prefix", token[:PREFIX_CHARS]))
    return keys


def _ask(method: str, *arguments: object) -> object:
    """Call `method` of the shared limiter, or of this process's own while the broker is away."""
    *shared, own = _limiters()
    for limiter in shared:
        try:
            return getattr(limiter, method)(*arguments)
        except (redis.RedisError, OSError) as exc:
            log.warning("counting wrong tokens in this process: broker unreachable (%s)", exc)
    return getattr(own, method)(*arguments)


def refuse_if_locked_out(token: str | None) -> None:
    """Raise `TooManyFailedSignIns` if this address, or this token's prefix, is locked out
    (asked before a token is compared: a locked-out guesser's right guess is refused too)."""
    for kind, value in _keys(token):
        if not _ask("test", LIMIT, "kcolors:auth", kind, value):
            stats = _ask("get_window_stats", LIMIT, "kcolors:auth", kind, value)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            raise TooManyFailedSignIns(
                f"too many wrong tokens from this {kind}: the limit is "
                f"{defaults.AUTH_FAILURE_LIMIT}; retry in {retry_after} s",
                retry_after=retry_after,
            )


def count_failure(token: str | None) -> None:
    """Count a wrong token against this address and its prefix, and log it."""
    for kind, value in _keys(token):
        _ask("hit", LIMIT, "kcolors:auth", kind, value)
    log.warning(
        "wrong API token from %s (prefix %r)",
        request.remote_addr,
        (token or "")[:PREFIX_CHARS],
        extra={"path": request.path},
    )
