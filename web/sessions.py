"""Signed-in browsers, kept on the server so that they can be ended.

Flask's session is a signed cookie: on its own it cannot be taken back, so a cookie copied
before sign-out, or made with a token since removed, would go on working. The cookie holds only
a random session id; the broker's Redis holds which client each live id stands for, for
`SESSION_SECONDS`, and a set of the ids of each client. A session is good only while

- its id is in Redis (sign-out deletes it; so does ending every session of a client), and
- its client is still one of `KCOLORS_API_TOKENS` (removing a token ends its sessions at once),
- and the cookie's signature holds (a new `KCOLORS_SECRET_KEY` ends them all).

Sign-in always makes a new id (no session fixation).
"""

from __future__ import annotations

import secrets

import redis
from flask import g, session

from kcolors.errors import BrokerUnavailable
from web.services import get_redis

SESSION_SECONDS = 7 * 24 * 3600
_SESSION = "kcolors:session:{}"  # id -> owner
_OWNER_SESSIONS = "kcolors:sessions:{}"  # owner -> its session ids


def start(owner: str) -> None:
    """Sign this browser in as `owner`, under a new session id."""
    session.clear()
    session_id = secrets.token_urlsafe(32)
    try:
        with get_redis().pipeline() as pipe:
            pipe.set(_SESSION.format(session_id), owner, ex=SESSION_SECONDS)
            pipe.sadd(_OWNER_SESSIONS.format(owner), session_id)
            pipe.expire(_OWNER_SESSIONS.format(owner), SESSION_SECONDS)
            pipe.execute()
    except (redis.RedisError, OSError) as exc:
        raise BrokerUnavailable(f"cannot sign in while the broker is unreachable: {exc}") from exc
    session["sid"] = session_id
    g.session_owner = owner


def end() -> None:
    """Sign this browser out: its id stops working everywhere, also in a copied cookie."""
    session_id = session.get("sid")
    session.clear()
    if not isinstance(session_id, str):
        return
    try:
        client = get_redis()
        owner = client.getdel(_SESSION.format(session_id))
        if owner is not None:
            client.srem(_OWNER_SESSIONS.format(owner.decode()), session_id)
    except (redis.RedisError, OSError) as exc:
        raise BrokerUnavailable(f"cannot sign out while the broker is unreachable: {exc}") from exc


def end_all(owner: str) -> int:
    """End every session of `owner`; return how many there were."""
    client = get_redis()
    ids = [i.decode() for i in client.smembers(_OWNER_SESSIONS.format(owner))]
    if ids:
        client.delete(*(_SESSION.format(i) for i in ids))
    client.delete(_OWNER_SESSIONS.format(owner))
    return len(ids)


def current_owner(valid_owners: set[str]) -> str | None:
    """The client this browser is signed in as, if its session is live and its token still
    configured (looked up once per request)."""
    if "session_owner" not in g:
        g.session_owner = _look_up(valid_owners)
    owner = g.session_owner
    return owner if owner in valid_owners else None


def _look_up(valid_owners: set[str]) -> str | None:
    session_id = session.get("sid")
    if not isinstance(session_id, str) or not valid_owners:
        return None
    try:
        owner = get_redis().get(_SESSION.format(session_id))
    except (redis.RedisError, OSError) as exc:
        raise BrokerUnavailable(
            f"cannot check the session: the broker is unreachable: {exc}"
        ) from exc
    return owner.decode() if owner is not None else None
