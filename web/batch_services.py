"""Starting, reading and cancelling one client's batches: what the batch API and the batch pages
both do, so that each rule is written once."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from flask import Response
from werkzeug.datastructures import FileStorage

from kcolors.engine.params import QuantizeParams
from kcolors.errors import BatchNotFound, BatchTooLarge, EmptyBatch, JobFinished, KcolorsError
from kcolors.jobs import metrics
from kcolors.jobs.batch import (
    MAX_BATCH_IMAGES,
    Batch,
    batch_summary,
    load_batch,
    report_csv,
    report_json,
    report_pages,
    save_batch,
    upload_key,
)
from kcolors.jobs.batch_counts import set_total
from kcolors.jobs.broker import CANCEL_BATCH_TASK, EXPAND_BATCH_TASK
from kcolors.jobs.cancel import batch_cancelled_at, request_batch_cancel
from kcolors.jobs.creation import probe
from kcolors.jobs.times import now_iso
from web.auth import client_key, client_owner
from web.services import enqueue_task, get_redis, get_settings, get_storage, upload_name
from web.submission import source_key


def start_batch(batch: Batch) -> None:
    """Save a new batch and enqueue its fan-out (the API and the batch pages alike)."""
    save_batch(get_storage(), batch)
    set_total(get_redis(), batch.id, len(batch.items))  # counted from here on
    enqueue_task(EXPAND_BATCH_TASK, batch.id)
    metrics.JOBS_SUBMITTED.labels(kind="batch").inc(len(batch.items))


def batch_from_prefix(prefix: object, params: QuantizeParams) -> Batch:
    """A batch over every object under a storage prefix the service may read."""
    prefix = source_key(prefix, get_settings(), field="prefix")
    keys = get_storage().list(prefix)
    check_size(len(keys), f"no object under {prefix!r}")
    names = [(key.removeprefix(prefix).lstrip("/") or key, key) for key in keys]
    return Batch.create(params, {"prefix": prefix}, names, client_owner(), client_key())


def batch_from_uploads(files: list[FileStorage], params: QuantizeParams) -> Batch:
    """A batch over several uploaded files, each checked before any is stored."""
    settings, storage = get_settings(), get_storage()
    check_size(len(files), "no picture sent")
    uploads = []
    for number, file in enumerate(files):
        data = file.read()
        name = upload_name(file.filename) or f"image-{number}"
        try:
            probed = probe(data, settings)
        except KcolorsError as exc:
            raise type(exc)(f"picture {name!r}: {exc.message}", code=exc.code) from None
        uploads.append((name, data, probed))
    batch = Batch.create(params, {"uploads": len(uploads)}, [], client_owner(), client_key())
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


def cancel_own_batch(batch_id: str) -> Batch:
    """Cancel a batch of this client (the API and the batch page alike); `JobFinished` if it
    has finished. One flag stops it at once, whatever its size (nothing more of it is expanded,
    sent or started); a worker task then ends its queued jobs, and the summary follows."""
    storage, notices = get_storage(), get_redis()
    batch = load_own_batch(batch_id)
    if batch_summary(storage, notices, batch)["status"] == "finished":
        raise JobFinished(f"batch {batch.id} is finished already: nothing to cancel")
    batch.cancelled_at = now_iso()
    request_batch_cancel(notices, batch.id, batch.cancelled_at)
    save_batch(storage, batch)
    enqueue_task(CANCEL_BATCH_TASK, batch.id)
    return batch


def load_own_batch(batch_id: str) -> Batch:
    """A batch of this client: with tokens, another client's batch reads as unknown (a batch
    belongs to the client that made it, on every route)."""
    batch, owner = load_batch(get_storage(), batch_id), client_owner()
    if owner is not None and batch.owner not in (None, owner):
        raise BatchNotFound(f"no batch {batch_id!r}")
    batch.cancelled_at = batch.cancelled_at or batch_cancelled_at(get_redis(), batch.id)
    return batch


def report_json_response(batch_id: str) -> Response:
    """A batch's report: every image's statistics, one row per image and k, streamed a page of
    items at a time (`report_pages`), so that the web process holds one page, whatever the
    batch's size."""
    batch = load_own_batch(batch_id)
    head = {"batch": batch.id, "summary": batch_summary(get_storage(), get_redis(), batch)}
    text = report_json(head, report_pages(get_storage(), batch))
    return Response(begun(text), mimetype="application/json")


def report_csv_response(batch_id: str) -> Response:
    """The same report as a CSV download, streamed likewise."""
    batch = load_own_batch(batch_id)
    disposition = f'attachment; filename="kcolors-batch-{batch.id}.csv"'
    text = report_csv(report_pages(get_storage(), batch))
    return Response(begun(text), mimetype="text/csv", headers={"Content-Disposition": disposition})


def begun(chunks: Iterator[str]) -> Iterator[str]:
    """A stream whose first chunk is made now, in the request: storage that fails on the first
    page answers a clear error (503), not a cut-off download. A later failure can only cut the
    download short (logged); the report is then not valid CSV or JSON, which a client sees.
    The rest needs no request context: the chunks hold the storage they read."""
    first = next(chunks)
    return itertools.chain([first], chunks)
