"""Where the web serves a job's images: URLs are the web's business, never stored by workers."""

from __future__ import annotations

from typing import Any


def result_url(job_id: str, k: int) -> str:
    """The API path that serves a job's output for `k`."""
    return f"/api/jobs/{job_id}/results/{k}"


def input_url(job_id: str) -> str:
    """The API path that serves a job's input image."""
    return f"/api/jobs/{job_id}/input"


def with_urls(document: dict[str, Any]) -> dict[str, Any]:
    """A stored job document as the API answers it: each result with its `url`."""
    results = [{**r, "url": result_url(document["id"], r["k"])} for r in document["results"]]
    return {**document, "results": results}
