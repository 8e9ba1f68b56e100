"""Optional bearer tokens for the JSON API (`KCOLORS_API_TOKENS`); open when none are set."""

from __future__ import annotations

import hmac

from flask import Flask, request

from kcolors.errors import Unauthorized
from web.services import get_settings

# Reading one job by its id stays open: the id is an unguessable capability (80 random bits),
# and the job page in the browser polls these endpoints without any token.
OPEN_ENDPOINTS = {"api.get_job", "api.get_result", "api.get_input", "api.openapi"}


def bearer_token() -> str | None:
    """Return the token of an `Authorization: Bearer <token>` header, if any."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def token_is_valid(token: str | None, tokens: tuple[str, ...]) -> bool:
    """Compare in constant time against every configured token."""
    given = (token or "").encode()
    return token is not None and any(hmac.compare_digest(given, t.encode()) for t in tokens)


def require_api_token() -> None:
    """Refuse an API request without a valid bearer token, when tokens are configured."""
    tokens = get_settings().api_tokens
    if not tokens or not request.path.startswith("/api/") or request.endpoint in OPEN_ENDPOINTS:
        return
    if not token_is_valid(bearer_token(), tokens):
        raise Unauthorized("send a valid API token as `Authorization: Bearer <token>`")


def init_app(app: Flask) -> None:
    """Guard every `/api/` route of the app, whichever blueprint serves it."""
    app.before_request(require_api_token)
