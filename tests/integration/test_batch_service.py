"""A batch fanned out by a real worker process over Valkey and S3, followed over HTTP."""

from __future__ import annotations

import csv
import io
import time

import pytest
import requests

from kcolors.jobs.storage import open_storage
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


@pytest.mark.slow
def test_an_expansion_cut_off_by_its_time_limit_resumes_and_makes_no_job_twice(
    s3_settings, start_worker, start_live_server
):
    """A worker whose soft time limit (1 s) is shorter than the expansion of 160 pictures: each
    attempt saves the items it gave a job, the next resumes after them. Every picture ends with
    exactly one job (twins across attempts included), and no job is left over."""
    settings = s3_settings.replace(soft_time_limit=1, hard_time_limit=5, visibility_timeout=10)
    storage = open_storage(settings)
    pictures = [gradient_png(48, 36, seed=n) for n in range(159)] + [gradient_png(48, 36, seed=0)]
    for n, picture in enumerate(pictures):
        storage.put(f"uploads/many/{n:03d}.png", picture)
    worker = start_worker(settings)
    server = start_live_server(settings)
    response = requests.post(
        f"{server.url}/api/batches", json={"prefix": "uploads/many/", "k": [2]}, timeout=30
    )
    assert check_response(response).status_code == 202
    batch = wait_for_batch(server.url, response.json()["id"], timeout=240)
    assert "expansion cut off at its time limit; resuming" in worker.log()  # it was cut off
    assert batch["summary"]["succeeded"] == 160 and batch["summary"]["failed"] == 0
    items = {item["name"]: item for item in batch["items"]}
    # The first picture again, last: its twin's job, though made by another attempt.
    assert items["159.png"]["job_id"] == items["000.png"]["job_id"]
    assert items["159.png"]["duplicate_of"] == "000.png"
    job_ids = {item["job_id"] for item in batch["items"]}
    stored = {key.split("/")[1] for key in storage.list("jobs/") if key.endswith("/job.json")}
    assert len(job_ids) == 159 and stored == job_ids  # no job made twice, none orphaned
