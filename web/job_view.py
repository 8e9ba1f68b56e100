"""What the job pages show of a job document: labels, links and the chart, ready for templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kcolors.jobs.job import result_filename
from web.chart import human_bytes, quality_size_chart
from web.documents import input_url, result_url

STATUS_TEXT = {
    "queued": "Waiting for a worker…",
    "running": "Quantizing…",
    "succeeded": "Done.",
    "failed": "Failed.",
}


def describe_job(job: dict[str, Any]) -> dict[str, Any]:
    """Return the template context for one job document (as the API answers it)."""
    job_id = job["id"]
    results = [_describe_result(job_id, r) for r in job.get("results") or []]
    return {
        "job": job,
        "results": results,
        "input_url": input_url(job_id),
        "input_summary": input_summary(job.get("input") or {}),
        "k_label": k_label(job.get("params") or {}),
        "status_text": status_text(job),
        "duration": _duration(job.get("started_at") or job.get("created_at"), job["finished_at"])
        if job.get("finished_at")
        else None,
        "chart": quality_size_chart(results),
    }


def describe_list_item(job: dict[str, Any]) -> dict[str, Any]:
    """Return a job document with what the recent jobs list shows of it."""
    results = job.get("results") or []
    # The output with the most colours looks like the original and is an indexed image, usually
    # far smaller than the upload; there are no thumbnails of their own.
    best = max(results, key=lambda r: r["k"], default=None)
    thumbnail = result_url(job["id"], best["k"]) if best else input_url(job["id"])
    return {**job, "thumbnail_url": thumbnail, "k_label": k_label(job.get("params") or {})}


def input_summary(stats: dict[str, Any]) -> str:
    """Describe the uploaded image with whatever statistics are known so far."""
    parts = []
    if stats.get("width"):
        size = f"{stats['width']}\u00d7{stats.get('height', '?')}"
        parts.append(f"{size} {stats.get('format', '').upper()}")
    if stats.get("bytes"):
        parts.append(human_bytes(stats["bytes"]))
    if stats.get("distinct_colors"):
        parts.append(f"{stats['distinct_colors']:,} distinct colours")
    return ", ".join(parts)


def k_label(params: dict[str, Any]) -> str:
    """Say which k values a job asked for, or its target quality in auto mode."""
    ks = params.get("k") or []
    if not ks and params.get("target_psnr") is not None:
        return f"auto (target {params['target_psnr']:g} dB)"
    return ", ".join(str(k) for k in ks)


def status_text(job: dict[str, Any]) -> str:
    """Say where a job is, with its count of finished outputs while it runs."""
    expected = len((job.get("params") or {}).get("k") or []) or 1
    done = len(job.get("results") or [])
    if job["status"] == "running":
        return f"Quantizing: {done} of {expected} outputs done."
    if job["status"] == "succeeded":
        return f"Done: {done} output{'s' if done != 1 else ''}."
    return STATUS_TEXT.get(job["status"], job["status"])


def _describe_result(job_id: str, result: dict[str, Any]) -> dict[str, Any]:
    path = result_url(job_id, result["k"])
    return {
        **result,
        "image_url": path,
        "download_url": f"{path}?download=1",
        "extension": result["key"].rsplit(".", 1)[-1],
        "filename": result_filename(job_id, result["k"], result["key"]),
    }


def parse_time(value: str) -> datetime:
    """Parse the job document's ISO 8601 UTC times (with a trailing `Z`)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _duration(start: str, end: str) -> str:
    seconds = (parse_time(end) - parse_time(start)).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
