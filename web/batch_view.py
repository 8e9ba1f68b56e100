"""What the batch pages show of a batch: its state, counts, failed items and links."""

from __future__ import annotations

from typing import Any

from kcolors.jobs.batch import Batch, item_state
from kcolors.jobs.job import Job
from web.forms import sentence
from web.job_view import k_label

ITEMS_SHOWN = 100  # rows of the item table on the page; the report has every one
FAILURES_SHOWN = 100


def batch_state(batch: Batch, progress: dict[str, Any] | None) -> str:
    """One word for a batch: queued, running, finished; cancelling once its client cancelled it,
    until its last running job has stopped, then cancelled. Without its jobs read (`progress`
    None, as in the list), whether it has finished cannot be told."""
    if batch.cancelled_at is not None:
        ended = progress is None or progress["status"] == "finished"
        return "cancelled" if ended else "cancelling"
    if progress is not None:
        return str(progress["status"])
    return "running" if batch.expanded_at else "queued"


def source_label(batch: Batch) -> str:
    """How many pictures a batch has and where they came from, in words."""
    count = len(batch.items)
    pictures = f"{count:,} picture{'s' if count != 1 else ''}"
    if "prefix" in batch.source:
        return f"{pictures} under {batch.source['prefix']}"
    return f"{pictures}, uploaded"


def describe_batch(
    batch: Batch, progress: dict[str, Any], jobs: dict[str, Job], failed: list[int]
) -> dict[str, Any]:
    """The template context of one batch: its summary, the jobs of the items shown (the first
    `ITEMS_SHOWN`, and the indices of the first `FAILURES_SHOWN` failed items) read."""
    params = batch.params.to_dict()
    items = [
        _describe_item(item, jobs.get(item["job_id"] or "")) for item in batch.items[:ITEMS_SHOWN]
    ]
    failures = [
        _describe_item(batch.items[i], jobs.get(batch.items[i]["job_id"] or "")) for i in failed
    ]
    return {
        "batch": batch,
        "state": batch_state(batch, progress),
        "summary": progress,
        "percent": round(progress["progress"] * 100),
        "source": source_label(batch),
        "params": params,
        "k_label": k_label(params),
        "items": items,
        "items_hidden": max(0, len(batch.items) - ITEMS_SHOWN),
        "failed": failures,
        "failed_hidden": max(0, progress["failed"] - len(failures)),
        "can_cancel": batch.cancelled_at is None and progress["status"] != "finished",
    }


def describe_list_batch(batch: Batch) -> dict[str, Any]:
    """What the list of batches shows of one, from its document alone (no job is read)."""
    return {
        "batch": batch,
        "state": batch_state(batch, None),
        "source": source_label(batch),
        "k_label": k_label(batch.params.to_dict()),
    }


def _describe_item(item: dict[str, Any], job: Job | None) -> dict[str, Any]:
    error = item.get("error") or (job.error if job else None)
    state = job.status.value if job else item_state(item)
    if error and state in ("failed", "cancelled"):
        detail = sentence(str(error.get("message") or error.get("code") or "no reason given"))
    elif job and job.results:
        detail = f"{len(job.results)} output{'s' if len(job.results) != 1 else ''}"
    else:
        detail = ""
    reused = bool(job and job.reused) or bool(item.get("duplicate_of"))
    return {
        "name": item["name"],
        "job_id": item["job_id"],
        "state": state,
        "detail": detail,
        "code": (error or {}).get("code") if state == "failed" else None,
        "reused": reused,
    }
