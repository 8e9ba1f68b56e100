"""Optional tokens (`KCOLORS_API_TOKENS`); everything is open when none are set.

With tokens, programs send one as a bearer token and people sign in once on the pages (the
session cookie holds a session id that the server can end, never the token: web/sessions.py).
Each token is a client, its *owner* id a hash of the token: jobs and batches remember their
owner, listings show a client its own, and reuse stays within one client's work. Reading one
job by its id stays open: the id is the capability. Wrong tokens are throttled
(web/guessing.py). docs/API.md, "Who can see what", has the whole table.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField
from wtforms.validators import InputRequired

from kcolors.errors import TooManyFailedSignIns, Unauthorized
from web import guessing, sessions
from web.services import get_settings

# Reading one job by its id stays open: the id is an unguessable capability (80 random bits),
# and the job page in the browser polls these endpoints without any token.
OPEN_ENDPOINTS = {"api.get_job", "api.get_result", "api.get_input", "api.openapi"}
# Pages that create or list jobs, and every batch page (a batch is read by its owner only, as in
# the API): signed-in clients only, when tokens are set.
SIGNED_IN_PAGES = {"pages.index", "pages.submit", "pages.job_list", "pages.cancel"} | {
    f"batch_pages.{view}"
    for view in (
        "batch_list", "new_batch", "submit_batch", "batch_detail", "batch_panel", "report_csv",
        "report_json", "cancel",
    )
}  # fmt: skip

# A path on this site, as pages link to them; anything longer is not one of ours.
MAX_NEXT_CHARS = 512

bp = Blueprint("auth", __name__)


def owner_id(token: str) -> str:
    """The client a token stands for, as stored in its jobs: a hash, never the token."""
    return hashlib.sha256(b"kcolors-owner:" + token.encode()).hexdigest()[:24]


def client_owner() -> str | None:
    """The owner of this request (a valid bearer token, or a live signed-in session), if any."""
    tokens = get_settings().tokens()
    if not tokens:
        return None
    token = bearer_token()
    if token is not None and token_is_valid(token, tokens):
        return owner_id(token)
    return sessions.current_owner(configured_owners(tokens))


def client_key() -> str:
    """Who a submission counts against (its rate limit) and whose share a batch takes (the
    feeder's turns): its token's owner, else its address (the client's,
    behind `KCOLORS_PROXY_HOPS` trusted proxies)."""
    owner = client_owner()
    return f"owner:{owner}" if owner else f"address:{request.remote_addr}"


def configured_owners(tokens: tuple[str, ...]) -> set[str]:
    """The clients the configured tokens stand for: a session of any other has ended."""
    return {owner_id(token) for token in tokens}


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
    tokens = get_settings().tokens()
    if not tokens or not request.path.startswith("/api/") or request.endpoint in OPEN_ENDPOINTS:
        return
    token = bearer_token()
    if token is not None:
        guessing.refuse_if_locked_out(token)
    if not token_is_valid(token, tokens):
        if token is not None:  # a wrong token is a guess; no token at all is not
            guessing.count_failure(token)
        raise Unauthorized("send a valid API token as `Authorization: Bearer <token>`")


def require_sign_in() -> Response | None:
    """Send a visitor of a page that creates or lists jobs to the sign-in form first."""
    tokens = get_settings().tokens()
    if not tokens or request.endpoint not in SIGNED_IN_PAGES:
        return None
    if sessions.current_owner(configured_owners(tokens)):
        return None
    return redirect(url_for("auth.sign_in", next=request.path), code=303)


class SignInForm(FlaskForm):
    """One of the service's API tokens, asked once per browser session."""

    token = PasswordField("API token", validators=[InputRequired("Enter your API token.")])


@bp.route("/signin", methods=["GET", "POST"])
def sign_in() -> Response | tuple[str, int] | str:
    """Ask for a token; a valid one signs the browser in as that token's client."""
    form = SignInForm()
    if form.validate_on_submit():
        token = form.token.data or ""
        try:
            guessing.refuse_if_locked_out(token)
        except TooManyFailedSignIns as exc:
            form.token.errors = [exc.message]
            page = render_template("signin.html", form=form)
            return Response(page, 429, {"Retry-After": str(exc.retry_after)})
        if token_is_valid(token, get_settings().tokens()):
            sessions.start(owner_id(token))  # a new session id for the new identity
            return redirect(safe_next(request.args.get("next")), code=303)
        guessing.count_failure(token)
        form.token.errors = ["That token is not one of this service's tokens."]
        return render_template("signin.html", form=form), 401
    status = 400 if form.errors else 200
    return render_template("signin.html", form=form), status


@bp.post("/signout")
def sign_out() -> Response:
    """Forget who this browser is, here and on the server (a copied cookie ends too)."""
    sessions.end()
    return redirect(url_for("pages.index"), code=303)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    # Browsers read `/\host` as `//host`: no backslash at all. No control character either: a
    # CR or LF would end the `Location` header (werkzeug refuses it with a 500).
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
        and len(target) <= MAX_NEXT_CHARS
    ):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("pages.index")


def init_app(app: Flask) -> None:
    """Guard every `/api/` route and the pages that create or list jobs."""
    app.before_request(require_api_token)
    app.before_request(require_sign_in)
    app.context_processor(lambda: {"signed_in": lambda: client_owner() is not None})
    app.register_blueprint(bp)
