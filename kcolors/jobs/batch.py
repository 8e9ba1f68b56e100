"""Batches: many images, one job each; the batch document, its expansion, progress and report.

Plain functions, no Celery: `worker.batch_tasks` calls them, and tests call them without a broker.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from kcolors.engine.params import QuantizeParams
from kcolors.errors import (
    BatchNotFound,
    DocumentUnreadable,
    JobNotFound,
    KcolorsError,
    ObjectNotFound,
    StorageUnavailable,
)
from kcolors.jobs.batch_counts import (
    add_twin,
    count_item,
    read_counts,
    set_total,
    summary_of,
)
from kcolors.jobs.cancel import batch_cancelled_at, cancel_batch_jobs
from kcolors.jobs.creation import check_work, create_job, probe
from kcolors.jobs.feeder import ANONYMOUS
from kcolors.jobs.ids import new_job_id, parse_job_id
from kcolors.jobs.job import Job, load_job
from kcolors.jobs.reuse import fingerprint, image_digest
from kcolors.jobs.settings import Settings
from kcolors.jobs.status import JobStatus
from kcolors.jobs.storage import Storage
from kcolors.jobs.times import now_iso

BATCHES_PREFIX = "batches/"
MAX_BATCH_IMAGES = 1000
REPORT_COLUMNS = (
    "name", "job_id", "status", "reused", "k", "bytes", "compression_ratio", "psnr",
    "distinct_colors", "truecolor_png_bytes", "input_width", "input_height", "input_bytes",
    "error_code", "error_message",
)  # fmt: skip
# Items whose jobs one step of a report reads and holds: the report is streamed page by page.
REPORT_ITEMS_PER_PAGE = 200
# Items an expansion makes between two looks at its batch's cancel flag (one Redis read).
CANCEL_CHECK_ITEMS = 20
CANCELLED_ITEM = {"code": "cancelled", "message": "the batch was cancelled before this image ran"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
log = logging.getLogger(__name__)


@dataclass
class Batch:
    """A batch: its parameters, where its images are, and the job made for each image."""

    id: str
    params: QuantizeParams
    source: dict[str, Any]  # {"prefix": ...} or {"uploads": n}
    items: list[dict[str, Any]]  # {"name", "key", "job_id", "error", "duplicate_of"}
    created_at: str = field(default_factory=now_iso)
    expanded_at: str | None = None  # when every item got its job (or its error)
    owner: str | None = None  # the client that made it, when tokens are set
    cancelled_at: str | None = None  # when its client cancelled it
    # Whose turn its jobs take in the feeder (kcolors.jobs.feeder): the token's client, or the
    # address, as for rate limits.
    client: str | None = None
    # The jobs its expansion made, by id: each one's fingerprint and whether it must run, so that
    # an attempt resuming an interrupted expansion reads no job document it made (see `resumed`).
    made: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        params: QuantizeParams,
        source: dict[str, Any],
        names_and_keys: list[tuple[str, str]],
        owner: str | None = None,
        client: str | None = None,
    ) -> Batch:
        """A new batch over `(name, key)` pairs, not yet expanded into jobs."""
        items = [{"name": n, "key": k, "job_id": None, "error": None} for n, k in names_and_keys]
        return cls(new_job_id(), params, source, items, owner=owner, client=client)

    def to_dict(self) -> dict[str, Any]:
        """The stored batch document."""
        return {
            "id": self.id,
            "params": self.params.to_dict(),
            "source": self.source,
            "items": self.items,
            "created_at": self.created_at,
            "expanded_at": self.expanded_at,
            "owner": self.owner,
            "cancelled_at": self.cancelled_at,
            "client": self.client,
            "made": self.made,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Batch:
        """Rebuild a stored batch."""
        return cls(
            id=data["id"],
            params=QuantizeParams.from_dict(data["params"]),
            source=data["source"],
            items=data["items"],
            created_at=data["created_at"],
            expanded_at=data["expanded_at"],
            owner=data.get("owner"),
            cancelled_at=data.get("cancelled_at"),
            client=data.get("client"),
            made=data.get("made", {}),
        )


def scheduling_client(batch: Batch) -> str:
    """Whose backlog the batch's jobs wait in: its client, else its owner, else anonymous
    (a batch stored before clients were recorded)."""
    return batch.client or batch.owner or ANONYMOUS


def batch_key(batch_id: str) -> str:
    """The key of a batch's document."""
    return f"{BATCHES_PREFIX}{batch_id}/batch.json"


def upload_key(batch_id: str, index: int, extension: str) -> str:
    """The key of a batch's uploaded image number `index`."""
    return f"{BATCHES_PREFIX}{batch_id}/inputs/{index:04d}.{extension}"


def save_batch(storage: Storage, batch: Batch) -> None:
    """Write the batch document."""
    body = json.dumps(batch.to_dict(), indent=2, sort_keys=True).encode()
    storage.put(batch_key(batch.id), body, "application/json")


def load_batch(storage: Storage, batch_id: str) -> Batch:
    """Read a batch document, or raise `BatchNotFound`."""
    try:
        parse_job_id(batch_id)  # batch ids are made as job ids are
        data = storage.get(batch_key(batch_id))
    except (ObjectNotFound, JobNotFound):
        raise BatchNotFound(f"no batch {batch_id!r}") from None
    try:
        return Batch.from_dict(json.loads(data))
    except (ValueError, KeyError, TypeError) as exc:
        message = f"batch {batch_id}: its stored document is unreadable ({exc})"
        raise DocumentUnreadable(message) from exc


def expand(
    storage: Storage,
    notices: redis.Redis,
    batch: Batch,
    settings: Settings,
    deadline: float | None = None,
) -> list[str]:
    """Give every item a job (a new one, one reusing stored outputs, or its twin's); save all.

    Returns the ids of the jobs to enqueue. A picture that cannot be read gets an error instead.
    Past `deadline` (a `time.monotonic()` value) it stops between two items, saves what it made
    and returns with `batch.expanded_at` still None: the caller sends those jobs and expands the
    rest in a new task. An expansion cut off midway by anything else (its soft time limit, a
    storage error) saves the items it gave a job before it stops; the next attempt resumes
    after them and makes no job twice.
    """
    to_run: list[str] = []
    if batch.cancelled_at is not None:  # cancelled before (the rest of) it was expanded
        for index, item in enumerate(batch.items):
            if not item.get("job_id") and not item.get("error"):
                item.update(job_id=None, error=CANCELLED_ITEM)
                count_item(notices, batch.id, index, "cancelled")
        # Jobs an earlier part made after the client's cancel read the batch: cancelled too.
        cancel_batch_jobs(storage, notices, list(batch.made))
        batch.expanded_at = now_iso()
        save_batch(storage, batch)
        return to_run
    by_fingerprint, to_run = resumed(storage, batch)
    done_here = 0  # at least one item a part, however late it starts: every part progresses
    try:
        for index, item in enumerate(batch.items):
            if item.get("job_id") or item.get("error"):
                continue  # given its job (or its error) by an earlier, interrupted attempt
            if index % CANCEL_CHECK_ITEMS == 0 and (
                cancelled := batch_cancelled_at(notices, batch.id)
            ):
                batch.cancelled_at = cancelled
                return expand(storage, notices, batch, settings)  # the cancelled branch, above
            if done_here and deadline is not None and time.monotonic() >= deadline:
                # A cancel saved while this part ran is kept; the next part acts on it.
                batch.cancelled_at = cancelled_since(storage, notices, batch)
                save_batch(storage, batch)
                return to_run
            done_here += 1
            job = expand_item(storage, notices, batch, settings, index, by_fingerprint)
            if job is not None and not job.status.is_finished:
                to_run.append(job.id)
    except BaseException:
        save_batch(storage, batch)  # what was made so far, for the next attempt
        raise
    batch.expanded_at = now_iso()
    # Cancelled while this ran: the jobs just made go the way of the others.
    batch.cancelled_at = cancelled_since(storage, notices, batch)
    if batch.cancelled_at is not None:
        cancel_batch_jobs(storage, notices, to_run)
        to_run = []
    save_batch(storage, batch)
    return to_run


def cancelled_since(storage: Storage, notices: redis.Redis, batch: Batch) -> str | None:
    """When the batch was cancelled, as its stored document or its flag says (an expansion
    saving its own copy of the document may have written over the cancel's)."""
    return load_batch(storage, batch.id).cancelled_at or batch_cancelled_at(notices, batch.id)


def cancel_items(
    storage: Storage, notices: redis.Redis, batch: Batch, start: int, deadline: float
) -> int | None:
    """End `cancelled` the unfinished jobs of a cancelled batch's items from `start` on, until
    `deadline` (a `time.monotonic()` value); return where the next part starts, or None when
    every item is done. The batch stopped at once (`request_batch_cancel`); this only brings
    its queued jobs' documents, and so its counts, in line, however many there are."""
    seen: set[str] = set()
    for index in range(start, len(batch.items)):
        if index > start and time.monotonic() >= deadline:
            return index
        job_id = batch.items[index].get("job_id")
        if job_id and job_id not in seen:  # a twin's job once
            seen.add(job_id)
            cancel_batch_jobs(storage, notices, [job_id])
    return None


def mark_sent(storage: Storage, batch: Batch, job_ids: list[str]) -> None:
    """Record that the jobs of a part of an expansion have their messages, so that the part
    after it does not send them again."""
    for job_id in job_ids:
        if job_id in batch.made:
            batch.made[job_id]["runs"] = False
    save_batch(storage, batch)


def expand_item(
    storage: Storage,
    notices: redis.Redis,
    batch: Batch,
    settings: Settings,
    index: int,
    by_fingerprint: dict[str, int],
) -> Job | None:
    """Give item `index` its job, its twin's, or its error, counted in the batch's progress
    (`batch_counts`); return a job made for it, if any."""
    item = batch.items[index]
    try:
        data = storage.get(item["key"])
        probed = probe(data, settings)
        check_work(batch.params, probed, settings)
    except StorageUnavailable:
        raise  # the task retries; an unreadable picture is the item's error
    except KcolorsError as exc:
        item.update(job_id=None, error=exc.to_dict())
        count_item(notices, batch.id, index, "failed")
        return None
    same_work = fingerprint(image_digest(data), batch.params, batch.owner)
    first = by_fingerprint.get(same_work)
    if first is not None:  # the same picture twice in one batch: one job serves both
        twin = batch.items[first]
        item.update(job_id=twin["job_id"], error=None, duplicate_of=twin["name"])
        add_twin(notices, batch.id, index, twin["job_id"], first)
        return None
    # The id is the item's before its job is stored: cut off in between, the next attempt
    # finds the job (and sends it), or finds none and makes it; never a second one.
    item.update(job_id=new_job_id(), error=None)
    job = create_job(
        storage,
        notices,
        settings,
        batch.params,
        probed,
        data,
        source_key=item["key"],
        owner=batch.owner,
        name=item["name"],
        job_id=item["job_id"],
        batch_client=scheduling_client(batch),
        batch={"id": batch.id, "item": index},
    )
    by_fingerprint[same_work] = index
    batch.made[job.id] = {"fingerprint": same_work, "runs": not job.status.is_finished}
    return job


def resumed(storage: Storage, batch: Batch) -> tuple[dict[str, int], list[str]]:
    """What an earlier, interrupted attempt made: each item with a job of its own by its
    work's fingerprint (for twins), and the jobs it made that still wait for their message.

    Read from the batch's record of what it made, not from the job documents: an attempt that
    read every job made so far would spend its time limit on them once enough were made, and
    never get further. Only an item whose job was being made when the attempt was cut off (its
    id chosen, its record not yet kept) is looked up in storage.
    """
    by_fingerprint: dict[str, int] = {}
    waiting = []
    for index, item in enumerate(batch.items):
        if not item.get("job_id") or item.get("duplicate_of"):
            continue
        record = batch.made.get(item["job_id"])
        if record is None:
            try:
                job = load_job(storage, item["job_id"])
            except JobNotFound:
                item.update(job_id=None)  # made again, this time
                continue
            record = {
                "fingerprint": fingerprint(job.input["sha256"], batch.params, batch.owner),
                "runs": job.status is JobStatus.QUEUED,
            }
            batch.made[job.id] = record
        by_fingerprint[record["fingerprint"]] = index
        if record["runs"]:
            waiting.append(item["job_id"])
    return by_fingerprint, waiting


def item_jobs(storage: Storage, batch: Batch) -> dict[str, Job]:
    """The job of every expanded item, by job id."""
    return load_jobs(storage, batch.id, {item["job_id"] for item in batch.items if item["job_id"]})


def load_jobs(storage: Storage, batch_id: str, job_ids: set[str]) -> dict[str, Job]:
    """The jobs of a batch with these ids, by id (one missing is left out, and logged)."""
    jobs = {}
    for job_id in sorted(job_ids):
        try:
            jobs[job_id] = load_job(storage, job_id)
        except JobNotFound:
            log.warning("batch %s: job %s has no document", batch_id, job_id)
    return jobs


def batch_summary(storage: Storage, notices: redis.Redis, batch: Batch) -> dict[str, Any]:
    """Aggregate progress: items by state, the share ended, and whether all are done. One
    Redis read (`batch_counts`); counters Redis lost are made again from storage first."""
    counts = read_counts(notices, batch.id)
    if counts is None:
        log.warning("batch %s: its counts are lost; counting every item again", batch.id)
        counts = recount(storage, notices, batch)
    return summary_of(counts, batch.expanded_at is not None)


def recount(storage: Storage, notices: redis.Redis, batch: Batch) -> dict[str, int]:
    """Count every item of the batch again from the job documents, and record its total: the
    counters are complete again. Counting is idempotent (`batch_counts`), so jobs that change
    meanwhile, and count themselves, are never counted twice."""
    jobs = item_jobs(storage, batch)
    first_of: dict[str, int] = {}
    for index, item in enumerate(batch.items):
        job = jobs.get(item["job_id"] or "")
        if job is None:  # no job: not expanded yet, or an unreadable or cancelled picture
            if item.get("error"):
                count_item(notices, batch.id, index, item_state(item))
        elif item.get("duplicate_of"):
            continue  # after the item whose job it shares, below
        else:
            first_of[job.id] = index
            if job.status is not JobStatus.QUEUED:
                count_item(notices, batch.id, index, job.status.value, reused=job.reused)
    for index, item in enumerate(batch.items):
        if item.get("duplicate_of") and item["job_id"] in first_of:
            add_twin(notices, batch.id, index, item["job_id"], first_of[item["job_id"]])
    set_total(notices, batch.id, len(batch.items))
    counts = read_counts(notices, batch.id)
    assert counts is not None  # its total was just recorded
    return counts


def item_state(item: dict[str, Any]) -> str:
    """The state of an item that has no job: queued, or failed or cancelled as its error says."""
    error = item.get("error")
    if not error:
        return "queued"
    return "cancelled" if error.get("code") == CANCELLED_ITEM["code"] else "failed"


def report_pages(storage: Storage, batch: Batch) -> Iterator[list[dict[str, Any]]]:
    """The report's rows, a page of items at a time: only one page's jobs are held at once,
    whatever the batch's size (a duplicate's job is read again with its page)."""
    for start in range(0, len(batch.items), REPORT_ITEMS_PER_PAGE):
        items = batch.items[start : start + REPORT_ITEMS_PER_PAGE]
        jobs = load_jobs(storage, batch.id, {item["job_id"] for item in items if item["job_id"]})
        yield report_rows(items, jobs)


def report_rows(items: list[dict[str, Any]], jobs: dict[str, Job]) -> list[dict[str, Any]]:
    """One row per image and k (one row for an image without outputs), flat for CSV."""
    rows = []
    for item in items:
        job = jobs.get(item["job_id"] or "")
        error = item.get("error") or (job.error if job else None) or {}
        base = {
            "name": item["name"],
            "job_id": item["job_id"],
            "status": job.status.value if job else item_state(item),
            "reused": bool(job and job.reused),
            "input_width": job.input.get("width") if job else None,
            "input_height": job.input.get("height") if job else None,
            "input_bytes": job.input.get("bytes") if job else None,
            "error_code": error.get("code"),
            "error_message": error.get("message"),
        }
        results = job.results if job and job.status is JobStatus.SUCCEEDED else [{}]
        for result in results:
            rows.append({**base, **{c: result.get(c) for c in REPORT_COLUMNS if c in result}})
    return [{column: row.get(column) for column in REPORT_COLUMNS} for row in rows]


def report_csv(pages: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    """The report as CSV text, the header line first and then a page of rows at a time; no
    cell can run as a spreadsheet formula."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rows in pages:
        writer.writerows({name: inert_cell(value) for name, value in row.items()} for row in rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()  # the header alone, for a batch without items


def report_json(head: dict[str, Any], pages: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    """The report as one JSON object, `head`'s fields and then `rows`, written a page of rows
    at a time."""
    opening = json.dumps(head)[:-1]  # the head object, still open
    yield f'{opening}{", " if head else ""}"rows": ['
    separator = ""
    for rows in pages:
        if rows:
            yield separator + ", ".join(json.dumps(row) for row in rows)
            separator = ", "
    yield "]}"


def inert_cell(value: Any) -> Any:
    """Quote a text cell a spreadsheet would read as a formula (OWASP's CSV injection advice):
    one starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
