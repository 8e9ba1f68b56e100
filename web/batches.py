"""The batch API: many images (a storage prefix or several uploads), one job each, one report."""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for

from kcolors.errors import (
    BatchNotFound,
    BatchTooLarge,
    EmptyBatch,
    JobFinished,
    KcolorsError,
    MissingImage,
    UnsupportedMediaType,
)
from kcolors.jobs import metrics
from kcolors.jobs.batch import (
    MAX_BATCH_IMAGES,
    Batch,
    item_jobs,
    load_batch,
    report_csv,
    report_rows,
    save_batch,
    summary,
    upload_key,
)
from kcolors.jobs.broker import EXPAND_BATCH_TASK
from kcolors.jobs.cancel import cancel_batch_jobs
from kcolors.jobs.creation import probe
from kcolors.jobs.times import now_iso
from web.auth import client_owner
from web.documents import PRIVATE_FIELDS
from web.services import enqueue_task, get_redis, get_settings, get_storage, upload_name
from web.submission import form_params, json_body, json_params, source_key

bp = Blueprint("batches", __name__, url_prefix="/api")


@bp.post("/batches")
def create_batch() -> tuple[dict, int, dict[str, str]]:
    """Validate, store the uploads and the batch document, then enqueue its fan-out."""
    if request.mimetype == "multipart/form-data":
        batch = batch_from_uploads()
    elif request.is_json:
        batch = batch_from_prefix()
    else:
        raise UnsupportedMediaType("send multipart/form-data with `image` files, or JSON")
    save_batch(get_storage(), batch)
    enqueue_task(EXPAND_BATCH_TASK, batch.id)
    metrics.JOBS_SUBMITTED.labels(kind="batch").inc(len(batch.items))
    location = url_for("batches.get_batch", batch_id=batch.id)
    return batch_view(batch), 202, {"Location": location}


def batch_from_prefix() -> Batch:
    """A batch over every object under a storage prefix the service may read."""
    body, settings = json_body(request), get_settings()
    prefix = source_key(body.get("prefix"), settings, field="prefix")
    params = json_params(body, settings, besides="prefix")
    keys = get_storage().list(prefix)
    check_size(len(keys), f"no object under {prefix!r}")
    names = [(key.removeprefix(prefix).lstrip("/") or key, key) for key in keys]
    return Batch.create(params, {"prefix": prefix}, names, client_owner())


def batch_from_uploads() -> Batch:
    """A batch over several uploaded `image` files, each checked before any is stored."""
    settings, storage = get_settings(), get_storage()
    files = request.files.getlist("image")
    if not files:
        raise MissingImage("send the pictures as repeated multipart fields `image`")
    check_size(len(files), "no picture sent")
    params = form_params(request, settings)
    uploads = []
    for number, file in enumerate(files):
        data = file.read()
        name = upload_name(file.filename) or f"image-{number}"
        try:
            probed = probe(data, settings)
        except KcolorsError as exc:
            raise type(exc)(f"{name}: {exc.message}", code=exc.code) from None
        uploads.append((name, data, probed))
    batch = Batch.create(params, {"uploads": len(uploads)}, [], client_owner())
    for number, (name, data, probed) in enumerate(uploads):
        key = upload_key(batch.id, number, probed.format.extension)
        storage.put(key, data, probed.format.media_type)
        batch.items.append({"name": name, "key": key, "job_id": None, "error": None})
    return batch


def check_size(count: int, empty_message: str) -> None:
    """Refuse an empty batch or one over the limit."""
    if count == 0:
        raise EmptyBatch(empty_message)
    if count > MAX_BATCH_IMAGES:
        raise BatchTooLarge(f"{count} images; a batch holds at most {MAX_BATCH_IMAGES}")


def batch_view(batch: Batch) -> dict:
    """The batch document with its aggregate progress."""
    shown = {name: value for name, value in batch.to_dict().items() if name not in PRIVATE_FIELDS}
    return {**shown, "summary": summary(batch, item_jobs(get_storage(), batch))}


@bp.delete("/batches/<batch_id>")
def cancel_batch(batch_id: str) -> tuple[dict, int]:
    """Cancel every job of the batch that has not finished (and any it has yet to make)."""
    storage = get_storage()
    batch = load_own_batch(batch_id)
    if summary(batch, item_jobs(storage, batch))["status"] == "finished":
        raise JobFinished(f"batch {batch.id} is finished already: nothing to cancel")
    batch.cancelled_at = now_iso()
    save_batch(storage, batch)
    job_ids = sorted({item["job_id"] for item in batch.items if item["job_id"]})
    cancel_batch_jobs(storage, get_redis(), job_ids)
    return batch_view(batch), 202


def load_own_batch(batch_id: str) -> Batch:
    """A batch of this client: with tokens, another client's batch reads as unknown (a batch
    belongs to the client that made it, on every route)."""
    batch, owner = load_batch(get_storage(), batch_id), client_owner()
    if owner is not None and batch.owner not in (None, owner):
        raise BatchNotFound(f"no batch {batch_id!r}")
    return batch


@bp.get("/batches/<batch_id>")
def get_batch(batch_id: str) -> dict:
    """The batch document and its aggregate progress."""
    return batch_view(load_own_batch(batch_id))


@bp.get("/batches/<batch_id>/report.json")
def report_json(batch_id: str) -> dict:
    """Every image's statistics, one row per image and k."""
    batch = load_own_batch(batch_id)
    jobs = item_jobs(get_storage(), batch)
    return {"batch": batch.id, "summary": summary(batch, jobs), "rows": report_rows(batch, jobs)}


@bp.get("/batches/<batch_id>/report.csv")
def report_as_csv(batch_id: str) -> Response:
    """The same report as CSV."""
    batch = load_own_batch(batch_id)
    rows = report_rows(batch, item_jobs(get_storage(), batch))
    disposition = f'attachment; filename="kcolors-batch-{batch.id}.csv"'
    return Response(
        report_csv(rows), mimetype="text/csv", headers={"Content-Disposition": disposition}
    )
