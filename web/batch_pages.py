"""The batch pages: start a batch (pictures dropped at once, or a storage prefix), the list of
one's batches, and a batch's live page with its counts, failed items and report."""

from __future__ import annotations

import contextlib
from pathlib import PurePosixPath

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from kcolors.errors import JobFinished, KcolorsError
from kcolors.jobs.batch import batch_summary, load_jobs
from kcolors.jobs.batch_counts import first_items
from kcolors.jobs.batch_listing import find_batches
from web.auth import client_owner
from web.batch_services import (
    batch_from_prefix,
    batch_from_uploads,
    cancel_own_batch,
    load_own_batch,
    report_csv_response,
    report_json_response,
    start_batch,
)
from web.batch_view import FAILURES_SHOWN, ITEMS_SHOWN, describe_batch, describe_list_batch
from web.chart import human_bytes
from web.forms import BatchForm, sentence
from web.pages import cursor, domain_error, form_context
from web.services import get_redis, get_settings, get_storage

bp = Blueprint("batch_pages", __name__)
BATCHES_PER_PAGE = 20
bp.register_error_handler(KcolorsError, domain_error)


@bp.get("/batches")
def batch_list() -> str:
    """One's batches, newest first, a page at a time (`before=` a batch id)."""
    before = cursor("before", kind="batch")
    owner = client_owner()
    page = find_batches(get_storage(), BATCHES_PER_PAGE, owner=owner, before=before)
    return render_template(
        "batches.html",
        batches=[describe_list_batch(batch) for batch in page.batches],
        page=page,
        first_page=before is None,
        only_mine=owner is not None,
    )


@bp.get("/batches/new")
def new_batch() -> str:
    """The form that starts a batch."""
    return _render_form(BatchForm())


@bp.post("/batches")
def submit_batch() -> Response | tuple[str, int]:
    """Check the form, start the batch as the API does, and go to the batch's page."""
    form = BatchForm()
    params = form.job_params(get_settings().max_k_values) if form.validate_on_submit() else None
    if params is None:
        return _render_form(form), 400
    files = form.chosen_files()
    try:
        batch = (
            batch_from_uploads(files, params)
            if files
            else batch_from_prefix(form.prefix.data.strip(), params)
        )
        start_batch(batch)
    except KcolorsError as exc:
        return _render_form(form, message=sentence(exc.message)), exc.http_status
    return redirect(url_for("batch_pages.batch_detail", batch_id=batch.id), code=303)


@bp.get("/batches/<batch_id>")
def batch_detail(batch_id: str) -> str:
    """A batch: live progress while it runs, then its counts, failures and report."""
    return render_template("batch.html", **_describe(batch_id))


@bp.get("/batches/<batch_id>/panel")
def batch_panel(batch_id: str) -> str:
    """The batch page's progress and items as an HTML fragment, for live updates."""
    return render_template("_batch_panel.html", **_describe(batch_id))


# The report, for the page's links: with tokens, a signed-in browser has a session, not the bearer
# token that the API's own report routes ask for.
@bp.get("/batches/<batch_id>/report.csv")
def report_csv(batch_id: str) -> Response:
    """The batch's report as CSV, as `GET /api/batches/<id>/report.csv` gives it."""
    return report_csv_response(batch_id)


@bp.get("/batches/<batch_id>/report.json")
def report_json(batch_id: str) -> Response:
    """The batch's report as JSON, as `GET /api/batches/<id>/report.json` gives it."""
    return report_json_response(batch_id)


@bp.post("/batches/<batch_id>/cancel")
def cancel(batch_id: str) -> Response:
    """Cancel the batch from its page, then show the page again (a finished one stays as is)."""
    with contextlib.suppress(JobFinished):
        cancel_own_batch(batch_id)
    return redirect(url_for("batch_pages.batch_detail", batch_id=batch_id), code=303)


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(exc: RequestEntityTooLarge) -> tuple[str, int]:
    """Show the form again with the upload limit, which holds for the pictures together."""
    limit = human_bytes(current_app.config["MAX_CONTENT_LENGTH"])
    message = f"The pictures are too large: together they may be at most {limit}."
    return _render_form(BatchForm(formdata=None), message=message), 413


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError) -> tuple[str, int]:
    """Ask for a resubmission when the form's CSRF token is missing or stale."""
    message = "The form expired or was not sent from this site; please choose the pictures again."
    return _render_form(BatchForm(formdata=None), message=message), 400


def _render_form(form: BatchForm, message: str | None = None) -> str:
    settings = get_settings()
    # On local storage (`kcolors up`), a prefix is a folder: the form says which.
    local = settings.storage_url.startswith("file://")
    folder = PurePosixPath(settings.storage_url.removeprefix("file://"), settings.source_prefix)
    return render_template(
        "batch_new.html",
        form=form,
        message=message,
        source_prefix=settings.source_prefix,
        source_folder=str(folder) + "/" if local else None,
        **form_context(),
    )


def _describe(batch_id: str) -> dict:
    """A batch's page: its summary, and the jobs of the items on it (the first ones and the
    first failed ones), read without reading every job of the batch."""
    batch, storage, notices = load_own_batch(batch_id), get_storage(), get_redis()
    progress = batch_summary(storage, notices, batch)
    failed = first_items(notices, batch.id, "failed", FAILURES_SHOWN) if progress["failed"] else []
    shown = batch.items[:ITEMS_SHOWN] + [batch.items[i] for i in failed]
    jobs = load_jobs(storage, batch.id, {item["job_id"] for item in shown if item["job_id"]})
    return describe_batch(batch, progress, jobs, failed)
