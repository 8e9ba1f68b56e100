"""Poll jobs over HTTP until they finish."""

from __future__ import annotations

import time
from typing import Any

import requests

from tests.fixtures.openapi import check_response

FINISHED = ("succeeded", "failed")


def wait_for_job(base_url: str, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll `GET /api/jobs/<id>` until the job finishes; check each answer against OpenAPI."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        job = check_response(requests.get(f"{base_url}/api/jobs/{job_id}", timeout=10)).json()
        seen.append((job["status"], job["progress"]))
        if job["status"] in FINISHED:
            job["_seen"] = seen
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not finished after {timeout} s; seen {seen[-5:]}")
