"""Probes: liveness (the process answers) and readiness (broker and storage reachable)."""

from flask import Blueprint

from kcolors.errors import KcolorsError
from web.errors import error_response
from web.services import check_broker, get_storage

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Answer as long as the process serves requests."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Answer 200 when broker and storage answer, else 503 naming what is down."""
    failures = []
    for check in (check_broker, lambda: get_storage().check()):
        try:
            check()
        except KcolorsError as exc:
            failures.append(exc.message)
    if failures:
        return error_response(503, "not_ready", "; ".join(failures))
    return {"status": "ok", "broker": "ok", "storage": "ok"}
