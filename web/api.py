"""The JSON API: submit jobs, poll them, fetch their images."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from kcolors import defaults
from kcolors.engine.params import whole_number
from kcolors.errors import InvalidParameter, ResultNotFound
from kcolors.jobs.events import document_etag
from kcolors.jobs.job import download_stem, list_jobs, load_job, result_filename
from web.auth import client_owner
from web.documents import public_document
from web.files import serve_archive, serve_file
from web.idempotency import idempotent
from web.openapi import openapi_document
from web.services import cancel_job, get_settings, get_storage, submit_job
from web.submission import parse_submission
from web.waiting import NotModified, parse_wait, read_when_changed

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.post("/jobs")
@idempotent
def create_job() -> tuple[dict, int, dict[str, str]]:
    """Validate, store the input and the job document, then enqueue the job's id."""
    submission = parse_submission(request, get_settings(), get_storage().get)
    upload = request.files.get("image")
    name = upload.filename if upload is not None else submission.source_key
    document = submit_job(submission, client_owner(), name).to_dict()
    # The ETag lets the client wait for the job's first change straight away.
    headers = {
        "Location": url_for("api.get_job", job_id=document["id"]),
        "ETag": f'"{document_etag(document)}"',
    }
    return public_document(document), 202, headers


@bp.get("/jobs")
def list_recent_jobs() -> dict:
    """Return the most recent jobs, newest first."""
    limit, owner = list_limit(request.args.get("limit")), client_owner()
    # With tokens, a client sees its own jobs only (the token guard let only clients in).
    jobs = list_jobs(get_storage(), limit, owner=owner)
    return {"jobs": [public_document(job.to_dict()) for job in jobs]}


def list_limit(raw: str | None) -> int:
    """Read `?limit=N`: a whole number from 1 to `defaults.MAX_LIST_LIMIT` (plain ASCII digits)."""
    if raw is None:
        return defaults.DEFAULT_LIST_LIMIT
    try:
        limit = whole_number(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= defaults.MAX_LIST_LIMIT:
        raise InvalidParameter(f"limit must be a whole number from 1 to {defaults.MAX_LIST_LIMIT}")
    return limit


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    """Return the job document, with its ETag; `304` when `If-None-Match` names it.

    With `?wait=S` and the ETag in `If-None-Match`, an unfinished job is answered when its
    document changes, or after S seconds.
    """
    seconds = parse_wait(request.args.get("wait"))
    if seconds and request.if_none_match:
        job = read_when_changed(job_id, request.if_none_match, seconds)
        if isinstance(job, NotModified):
            unchanged = Response(status=304)
            unchanged.set_etag(job.etag)
            return unchanged
    else:
        job = load_job(get_storage(), job_id)
    document = job.to_dict()
    response = jsonify(public_document(document))
    response.set_etag(document_etag(document))
    return response.make_conditional(request)


@bp.delete("/jobs/<job_id>")
def cancel(job_id: str) -> tuple[dict, int]:
    """Cancel the job: ended at once when queued, asked to stop when running; 409 if finished."""
    return public_document(cancel_job(job_id, client_owner()).to_dict()), 202


@bp.get("/jobs/<job_id>/results/<int:k>")
def get_result(job_id: str, k: int) -> Response:
    """Serve the output for `k`: a presigned redirect on S3, streamed from a directory."""
    job = load_job(get_storage(), job_id)
    for result in job.results:
        if result["k"] == k:
            # `?download=1` answers as an attachment, so that browsers save the file.
            asked = request.args.get("download")
            name = result_filename(job.to_dict(), k, result["key"]) if asked else None
            return serve_file(result["key"], result.get("format"), download_name=name)
    raise ResultNotFound(f"job {job_id} has no result for k={k} (status {job.status.value})")


@bp.get("/jobs/<job_id>/results.zip")
def get_results_zip(job_id: str) -> Response:
    """Every output made so far, in one zip, each named as its own download is."""
    job = load_job(get_storage(), job_id)
    if not job.results:
        raise ResultNotFound(f"job {job_id} has no output yet (status {job.status.value})")
    document = job.to_dict()
    files = [(result_filename(document, r["k"], r["key"]), r["key"]) for r in job.results]
    return serve_archive(files, f"{download_stem(document)}.kcolors.zip")


@bp.get("/jobs/<job_id>/input")
def get_input(job_id: str) -> Response:
    """Serve the job's input image (as the format kcolors decoded it as; web/files.py)."""
    job = load_job(get_storage(), job_id)
    return serve_file(job.input["key"], job.input.get("format"))


@bp.get("/jobs/<job_id>/preview")
def get_preview(job_id: str) -> Response:
    """The input as a browser can show it: the worker's WebP preview for HEIC, TIFF or BMP
    (once it has started the job; until then, and for every other format, the input)."""
    job = load_job(get_storage(), job_id)
    if job.input.get("preview_key"):
        return serve_file(job.input["preview_key"], "webp")
    return serve_file(job.input["key"], job.input.get("format"))


@bp.get("/openapi.json")
def openapi() -> dict:
    """Return the OpenAPI 3 description of this API."""
    return openapi_document(get_settings())
