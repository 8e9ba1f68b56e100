"""Optional tokens (`KCOLORS_API_TOKENS`); everything is open when none are set.

With tokens, programs send one as a bearer token and people sign in once on the pages (the
session cookie keeps who they are, never the token). Each token is a client, its *owner* id a
hash of the token: jobs remember their owner, listings show a client its own jobs, and reuse
stays within one client's work. Reading one job by its id stays open: the id is the capability.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField
from wtforms.validators import InputRequired

from kcolors.errors import Unauthorized
from web.services import get_settings

# Reading one job by its id stays open: the id is an unguessable capability (80 random bits),
# and the job page in the browser polls these endpoints without any token.
OPEN_ENDPOINTS = {"api.get_job", "api.get_result", "api.get_input", "api.openapi"}
# Pages that create or list jobs: signed-in clients only, when tokens are set.
SIGNED_IN_PAGES = {"pages.index", "pages.submit", "pages.job_list", "pages.cancel"}

bp = Blueprint("auth", __name__)


def owner_id(token: str) -> str:
    """The client a token stands for, as stored in its jobs: a hash, never the token."""
    return hashlib.sha256(b"kcolors-owner:" + token.encode()).hexdigest()[:24]


def client_owner() -> str | None:
    """The owner of this request (a valid bearer token, or a signed-in session), if any."""
    tokens = get_settings().api_tokens
    if not tokens:
        return None
    token = bearer_token()
    if token is not None and token_is_valid(token, tokens):
        return owner_id(token)
    owner = session.get("owner")
    return owner if isinstance(owner, str) else None


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


def require_sign_in() -> Response | None:
    """Send a visitor of a page that creates or lists jobs to the sign-in form first."""
    if not get_settings().api_tokens or request.endpoint not in SIGNED_IN_PAGES:
        return None
    if session.get("owner"):
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
        if token_is_valid(form.token.data, get_settings().api_tokens):
            session.clear()  # a fresh session for the new identity
            session["owner"] = owner_id(form.token.data or "")
            return redirect(safe_next(request.args.get("next")), code=303)
        form.token.errors = ["That token is not one of this service's tokens."]
        return render_template("signin.html", form=form), 401
    status = 400 if form.errors else 200
    return render_template("signin.html", form=form), status


@bp.post("/signout")
def sign_out() -> Response:
    """Forget who this browser is."""
    session.clear()
    return redirect(url_for("pages.index"), code=303)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    # Browsers read `/\host` as `//host`: no backslash at all.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("pages.index")


def init_app(app: Flask) -> None:
    """Guard every `/api/` route and the pages that create or list jobs."""
    app.before_request(require_api_token)
    app.before_request(require_sign_in)
    app.register_blueprint(bp)
