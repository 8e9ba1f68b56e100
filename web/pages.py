"""The human-facing pages: the upload form, a job's live page, and the list of recent jobs."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from kcolors import defaults
from kcolors.engine import params
from kcolors.engine.formats import FORM_ACCEPT, FORMAT_NAMES
from kcolors.errors import InvalidParameter, JobFinished, KcolorsError
from kcolors.jobs.creation import probe
from kcolors.jobs.job import JobStatus, find_jobs, load_job
from kcolors.jobs.times import parse_iso
from web.auth import client_owner
from web.chart import human_bytes
from web.forms import JobForm, sentence
from web.job_view import STATUSES, describe_job, describe_list_item
from web.services import cancel_job, get_settings, get_storage, submit_job
from web.submission import Submission

bp = Blueprint("pages", __name__)
JOBS_PER_PAGE = 24  # fills rows of 2 and 3 columns
ERROR_TITLES = {404: "Not found", 422: "Not a valid address", 503: "Temporarily unavailable"}
CURSOR = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")  # a job or batch id (a ULID)


@bp.app_template_filter("human_bytes")
def human_bytes_filter(n: float) -> str:
    """Format a byte count for people."""
    return human_bytes(n)


@bp.app_template_filter("short_time")
def short_time_filter(value: str | None) -> str:
    """Format an ISO 8601 UTC time as `YYYY-MM-DD HH:MM:SS UTC`."""
    return parse_iso(value).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


bp.app_template_filter("sentence")(sentence)


@bp.get("/")
def index() -> str:
    """Show the upload form."""
    return _render_form(JobForm())


@bp.post("/")
def submit() -> Response | tuple[str, int]:
    """Validate the form, create the job as the API does, and go to the job's page."""
    form, settings = JobForm(), get_settings()
    job_params = form.job_params(settings.max_k_values) if form.validate_on_submit() else None
    if job_params is None:
        return _render_form(form), 400
    data = form.image.data.read()
    try:
        submission = Submission(job_params, probe(data, settings), data)
        job = submit_job(submission, client_owner(), name=form.image.data.filename)
    except KcolorsError as exc:
        return _render_form(form, message=sentence(exc.message)), exc.http_status
    return redirect(url_for("pages.job_detail", job_id=job.id), code=303)


@bp.get("/jobs")
def job_list() -> str:
    """List jobs, newest first, a page at a time (`before=`/`after=` a job id), all or those
    in one `status`, with their names, thumbnails and where each is."""
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidParameter(f"status must be one of {', '.join(STATUSES)}", field="status")
    before, after = cursor("before"), cursor("after")
    # With tokens, a signed-in client sees its own jobs only (others' ids are capabilities).
    owner = client_owner()
    page = find_jobs(
        get_storage(),
        JOBS_PER_PAGE,
        owner=owner,
        status=JobStatus(status) if status else None,
        before=before,
        after=after,
    )
    return render_template(
        "jobs.html",
        jobs=[describe_list_item(job.to_dict()) for job in page.jobs],
        page=page,
        status=status,
        statuses=STATUSES,
        first_page=before is None and after is None,
        only_mine=owner is not None,
    )


def cursor(name: str, kind: str = "job") -> str | None:
    """A `before` or `after` query parameter of a list: a job (or batch) id, or nothing."""
    value = request.args.get(name) or None
    if value is not None and not CURSOR.fullmatch(value):
        raise InvalidParameter(f"{name} must be a {kind} id", field=name)
    return value


@bp.get("/jobs/<job_id>")
def job_detail(job_id: str) -> str:
    """Show a job: live progress while it runs, then its results side by side."""
    return render_template("job.html", api_job_url=f"/api/jobs/{job_id}", **_describe(job_id))


@bp.post("/jobs/<job_id>/cancel")
def cancel(job_id: str) -> Response:
    """Cancel the job from its page, then show the page again (a finished job stays as is)."""
    with contextlib.suppress(JobFinished):
        cancel_job(job_id, client_owner())
    return redirect(url_for("pages.job_detail", job_id=job_id), code=303)


@bp.get("/jobs/<job_id>/panel")
def job_panel(job_id: str) -> str:
    """Return the job page's status and results as an HTML fragment, for live updates."""
    return render_template("_job_panel.html", **_describe(job_id))


@bp.errorhandler(KcolorsError)
def domain_error(exc: KcolorsError) -> tuple[str, int]:
    """Say plainly what went wrong (no such job, storage down, ...) on a page, not in JSON."""
    title = ERROR_TITLES.get(exc.http_status, "Something went wrong")
    return render_template("error.html", title=title, message=exc.message), exc.http_status


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(exc: RequestEntityTooLarge) -> tuple[str, int]:
    """Show the form again with the upload limit, not an error page."""
    limit = human_bytes(current_app.config["MAX_CONTENT_LENGTH"])
    message = f"The file is too large: uploads are limited to {limit}."
    return _render_form(JobForm(formdata=None), message=message), 413


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError) -> tuple[str, int]:
    """Ask for a resubmission when the form's CSRF token is missing or stale."""
    message = "The form expired or was not sent from this site; please choose the image again."
    return _render_form(JobForm(formdata=None), message=message), 400


def _render_form(form: JobForm, message: str | None = None) -> str:
    return render_template("index.html", form=form, message=message, **form_context())


def form_context() -> dict[str, Any]:
    """What a form choosing how to quantize says of the limits (the job and batch forms)."""
    settings = get_settings()
    return {
        "max_upload_bytes": current_app.config["MAX_CONTENT_LENGTH"],
        "max_pixels": settings.max_pixels,
        "max_k_values": settings.max_k_values,
        "min_k": defaults.MIN_K,
        "max_k": defaults.MAX_K,
        "min_psnr": params.MIN_TARGET_PSNR_DB,
        "max_psnr": params.MAX_TARGET_PSNR_DB,
        "formats": FORMAT_NAMES,
        "accept": FORM_ACCEPT,
    }


def _describe(job_id: str) -> dict:
    return describe_job(load_job(get_storage(), job_id).to_dict())
