"""What the API shows of a stored job: the document with the URLs the web serves its images at
(URLs are the web's business, never stored by workers), less who made it."""

from __future__ import annotations

from typing import Any


def result_url(job_id: str, k: int) -> str:
    """The API path that serves a job's output for `k`."""
    return f"/api/jobs/{job_id}/results/{k}"


def results_zip_url(job_id: str) -> str:
    """The API path that serves every output of a job in one zip."""
    return f"/api/jobs/{job_id}/results.zip"


def preview_url(job_id: str) -> str:
    """The API path that serves a job's input as a browser can show it."""
    return f"/api/jobs/{job_id}/preview"


def input_url(job_id: str) -> str:
    """The API path that serves a job's input image."""
    return f"/api/jobs/{job_id}/input"


# Kept in storage, never shown: which client (a token's hash) made the job or the batch, whose
# turns a batch's jobs take in the feeder (an address, without tokens), and the bookkeeping of a
# batch's expansion and of its counts (which item a job was made for).
PRIVATE_FIELDS = ("owner", "client", "batch_client", "made", "batch")


def public_document(document: dict[str, Any]) -> dict[str, Any]:
    """A stored job document as the API answers it: each result with its `url`."""
    results = [{**r, "url": result_url(document["id"], r["k"])} for r in document["results"]]
    shown = {name: value for name, value in document.items() if name not in PRIVATE_FIELDS}
    return {**shown, "results": results}
