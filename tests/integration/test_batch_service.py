"""A batch fanned out by a real worker process over Valkey and S3, followed over HTTP."""

from __future__ import annotations

import csv
import io
import time

import pytest
import requests

from tests.fixtures.openapi import check_response
from tests.images import gradient_png

pytestmark = pytest.mark.e2e


def wait_for_batch(url: str, batch_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        batch = check_response(requests.get(f"{url}/api/batches/{batch_id}", timeout=10)).json()
        if batch["summary"]["status"] == "finished":
            return batch
        assert time.monotonic() < deadline, batch["summary"]
        time.sleep(0.1)


def test_a_prefix_batch_runs_on_a_worker_and_reports(service):
    for n in range(4):
        service.storage.put(f"uploads/cats/{n}.png", gradient_png(40, 30, seed=n))
    response = requests.post(
        f"{service.url}/api/batches", json={"prefix": "uploads/cats/", "k": [2, 6]}, timeout=30
    )
    assert check_response(response).status_code == 202
    batch = wait_for_batch(service.url, response.json()["id"])
    assert batch["summary"]["succeeded"] == 4 and batch["summary"]["progress"] == 1.0
    assert len({item["job_id"] for item in batch["items"]}) == 4

    report = requests.get(f"{service.url}/api/batches/{batch['id']}/report.csv", timeout=10)
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert sorted((r["name"], r["k"]) for r in rows) == [
        (f"{n}.png", k) for n in range(4) for k in ("2", "6")
    ]
    for row in rows:  # each row's numbers are those of the stored output
        stored = service.storage.get(f"jobs/{row['job_id']}/k{row['k']}.png")
        assert int(row["bytes"]) == len(stored)
