"""The batch API: many images (a storage prefix or several uploads), one job each, one report."""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for

from kcolors.errors import MissingImage, UnsupportedMediaType
from kcolors.jobs.batch import Batch, batch_summary
from web.batch_services import (
    batch_from_prefix,
    batch_from_uploads,
    cancel_own_batch,
    load_own_batch,
    report_csv_response,
    report_json_response,
    start_batch,
)
from web.documents import PRIVATE_FIELDS
from web.idempotency import idempotent
from web.services import get_redis, get_settings, get_storage
from web.submission import form_params, json_body, json_params

bp = Blueprint("batches", __name__, url_prefix="/api")


@bp.post("/batches")
@idempotent
def create_batch() -> tuple[dict, int, dict[str, str]]:
    """Validate, store the uploads and the batch document, then enqueue its fan-out."""
    settings = get_settings()
    if request.mimetype == "multipart/form-data":
        files = request.files.getlist("image")
        if not files:
            raise MissingImage("send the pictures as repeated multipart fields `image`")
        batch = batch_from_uploads(files, form_params(request, settings))
    elif request.is_json:
        body = json_body(request)
        batch = batch_from_prefix(body.get("prefix"), json_params(body, settings, besides="prefix"))
    else:
        raise UnsupportedMediaType("send multipart/form-data with `image` files, or JSON")
    start_batch(batch)
    location = url_for("batches.get_batch", batch_id=batch.id)
    return batch_view(batch), 202, {"Location": location}


def batch_view(batch: Batch) -> dict:
    """The batch document with its aggregate progress."""
    shown = {name: value for name, value in batch.to_dict().items() if name not in PRIVATE_FIELDS}
    return {**shown, "summary": batch_summary(get_storage(), get_redis(), batch)}


@bp.delete("/batches/<batch_id>")
def cancel_batch(batch_id: str) -> tuple[dict, int]:
    """Cancel every job of the batch that has not finished (and any it has yet to make)."""
    return batch_view(cancel_own_batch(batch_id)), 202


@bp.get("/batches/<batch_id>")
def get_batch(batch_id: str) -> dict:
    """The batch document and its aggregate progress."""
    return batch_view(load_own_batch(batch_id))


@bp.get("/batches/<batch_id>/report.json")
def report_json(batch_id: str) -> Response:
    """Every image's statistics, one row per image and k."""
    return report_json_response(batch_id)


@bp.get("/batches/<batch_id>/report.csv")
def report_as_csv(batch_id: str) -> Response:
    """The same report as CSV."""
    return report_csv_response(batch_id)
