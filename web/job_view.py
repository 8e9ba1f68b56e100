"""What the job pages show of a job document: labels, links and the chart, ready for templates."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from kcolors.jobs.job import JOBS_PREFIX, result_filename
from kcolors.jobs.times import parse_iso
from web.chart import human_bytes, quality_size_chart, trade_off
from web.documents import input_url, preview_url, result_url, results_zip_url
from web.forms import sentence

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
WAITING = "Waiting for a worker…"
REASON_CHARS = 120  # of a failure's message in the list of jobs
# Beyond these width/height ratios, a picture fitted in its box would be a hairline (3:4 and
# 3:2 boxes, a tenth of the box at most): it is drawn stretched instead.
STRIP_RATIO_TALL, STRIP_RATIO_WIDE = 1 / 13, 15
SMALL_PICTURE_PX = 256  # up to this size, pictures are enlarged with square pixels


def describe_job(job: dict[str, Any]) -> dict[str, Any]:
    """Return the template context for one job document (as the API answers it)."""
    job_id = job["id"]
    results = [_describe_result(job, r) for r in job.get("results") or []]
    info = job.get("input") or {}
    return {
        "job": job,
        "name": display_name(job),
        "results": results,
        "input_url": preview_url(job_id),  # what the pages draw
        "original_url": input_url(job_id),
        "zip_url": results_zip_url(job_id),
        "input_summary": input_summary(info),
        "frame": frame_shape(info),
        "stretched": stretch_note(info),
        "k_label": k_label(job.get("params") or {}),
        "status_text": status_text(job),
        "outputs_made": outputs_made(job),
        "expected_outputs": expected_outputs(job),
        "duration": _duration(job.get("started_at") or job.get("created_at"), job["finished_at"])
        if job.get("finished_at")
        else None,
        "chart": quality_size_chart(results),
        "trade_off": trade_off(results) if len(results) == 1 else None,
    }


def describe_list_item(job: dict[str, Any]) -> dict[str, Any]:
    """Return a job document with what the list of jobs shows of it."""
    results = job.get("results") or []
    # The output with the most colours looks like the original and is an indexed image, usually
    # far smaller than the upload; there are no thumbnails of their own.
    best = max(results, key=lambda r: r["k"], default=None)
    thumbnail = result_url(job["id"], best["k"]) if best else preview_url(job["id"])
    return {
        **job,
        "name": display_name(job),
        "thumbnail_url": thumbnail,
        "frame": frame_shape(job.get("input") or {}),
        "k_label": k_label(job.get("params") or {}),
        "detail": list_detail(job),
    }


def display_name(job: dict[str, Any]) -> str | None:
    """The picture's name: the uploaded file's, else a source key's last part; None if neither
    (an upload through the API with no name: its stored key says nothing)."""
    info = job.get("input") or {}
    if info.get("name"):
        return str(info["name"])
    key = str(info.get("key") or "")
    if key and not key.startswith(f"{JOBS_PREFIX}{job['id']}/"):
        return PurePosixPath(key).name
    return None


def list_detail(job: dict[str, Any]) -> str:
    """One line under a job in the list: where it is, or why it failed."""
    status = job["status"]
    if status == "failed":
        error = job.get("error") or {}
        reason = sentence(error.get("message") or "no reason was recorded")
        return reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 1] + "…"
    if status == "running":
        return job.get("stage") or outputs_made(job)
    if status == "queued":
        return WAITING
    done = len(job.get("results") or [])
    return f"{done} output{'s' if done != 1 else ''}"


def input_summary(stats: dict[str, Any]) -> str:
    """Describe the uploaded image with whatever statistics are known so far."""
    parts = []
    if stats.get("width"):
        size = f"{stats['width']:,}\u00d7{stats.get('height', 0):,}"
        parts.append(f"{size} {stats.get('format', '').upper()}".strip())
    if stats.get("bytes"):
        parts.append(human_bytes(stats["bytes"]))
    if stats.get("distinct_colors"):
        parts.append(f"{stats['distinct_colors']:,} distinct colours")
    return ", ".join(parts)


def frame_shape(stats: dict[str, Any]) -> str:
    """The CSS classes of the box a picture is shown in, by the input's shape and size.

    The picture is fitted inside a box of its rough shape (landscape, square or portrait), so a
    1 x 40,000 strip never makes 40,000 pixels of page. A strip that fitting would shrink to a
    hairline is drawn stretched across a tenth of its box instead (`frame-strip-*`, and the
    page says so); a small picture is enlarged with square pixels, inventing no colours.
    """
    width, height = stats.get("width") or 0, stats.get("height") or 0
    if not width or not height:
        return "frame-landscape"
    ratio = width / height
    if ratio < STRIP_RATIO_TALL:
        shape = "frame-portrait frame-strip-tall"
    elif ratio > STRIP_RATIO_WIDE:
        shape = "frame-landscape frame-strip-wide"
    elif ratio >= 1.2:
        shape = "frame-landscape"
    else:
        shape = "frame-portrait" if ratio <= 1 / 1.2 else "frame-square"
    return f"{shape} frame-pixels" if max(width, height) <= SMALL_PICTURE_PX else shape


def stretch_note(stats: dict[str, Any]) -> str | None:
    """Say that a strip is drawn stretched, when it is."""
    shape = frame_shape(stats)
    if "frame-strip-tall" in shape:
        return "Drawn wider than it is: at its true shape it would be a hairline."
    if "frame-strip-wide" in shape:
        return "Drawn taller than it is: at its true shape it would be a hairline."
    return None


def k_label(params: dict[str, Any]) -> str:
    """Say which k values a job asked for, or its target quality in auto mode."""
    ks = ", ".join(str(k) for k in params.get("k") or [])
    target = params.get("target_psnr")
    if target is None:
        return ks
    auto = f"auto (target {target:g} dB)"
    return f"{ks} + {auto}" if ks else auto


def expected_outputs(job: dict[str, Any]) -> int:
    """How many outputs the job makes: one per k, and one more for a target quality."""
    params = job.get("params") or {}
    return len(params.get("k") or []) + (params.get("target_psnr") is not None) or 1


def outputs_made(job: dict[str, Any]) -> str:
    """Say how many of its outputs the job has made, e.g. "2 of 5 outputs made"."""
    done, expected = len(job.get("results") or []), expected_outputs(job)
    return f"{done} of {expected} output{'s' if expected != 1 else ''} made"


def status_text(job: dict[str, Any]) -> str:
    """The sentence beside the status badge: what is going on, never the badge again."""
    status = job["status"]
    done, expected = len(job.get("results") or []), expected_outputs(job)
    count = f"{done} of {expected} output{'s' if expected != 1 else ''}"
    kept = "it is kept below" if done == 1 else "they are kept below"
    if status == "queued":
        return WAITING
    if status == "running":
        return job.get("stage") or f"{outputs_made(job)}."
    if status == "succeeded":
        return f"Done: {done} output{'s' if done != 1 else ''}."
    if status == "failed":
        if done:
            return f"It stopped with an error after {count}; {kept}."
        return "It stopped with an error before making any output."
    if status == "cancelled":
        if done:
            return f"Stopped on request after {count}; {kept}."
        return "Stopped on request before making any output."
    return str(status)


def auto_note(result: dict[str, Any]) -> str | None:
    """Say how an auto-k output met its target: the fewest colours reaching it, or, when no k up
    to 256 does, that it is out of reach and this output is the closest."""
    if not result.get("auto"):
        return None
    target = f"{float(result['target_psnr']):g} dB"
    if result.get("target_reached") is not False:  # absent in results made before it existed
        return f"The fewest colours reaching the target, {target}."
    best = result.get("search_psnr", result.get("psnr"))
    return (
        f"Target {target} out of reach: no number of colours up to 256 gets there. "
        f"These {result['k']} give {best:.1f} dB, the closest there is."
    )


def _describe_result(job: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    path = result_url(job["id"], result["k"])
    return {
        **result,
        "auto_note": auto_note(result),
        "image_url": path,
        "download_url": f"{path}?download=1",
        "extension": result["key"].rsplit(".", 1)[-1],
        "filename": result_filename(job, result["k"], result["key"]),
        "larger_note": larger_note(result),
    }


def larger_note(result: dict[str, Any]) -> str | None:
    """A word when an output is larger than the original (a 12-MP JPEG often becomes a PNG
    1.4 to 2 times its size), with the ratio and what makes it smaller; None otherwise."""
    ratio = result.get("compression_ratio")
    if not ratio or ratio >= 1:
        return None
    advice = [] if result.get("format") == "webp" else ["WebP"]
    optimized = "bytes_before_optimize" in result
    advice += [] if optimized or result.get("format") == "webp" else ["optimize"]
    hint = f": try {' or '.join(advice)}" if advice else ""
    return f"{1 / ratio:.1f} times the original's size{hint}"


def _duration(start: str, end: str) -> str:
    seconds = (parse_iso(end) - parse_iso(start)).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
