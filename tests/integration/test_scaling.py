"""Horizontal scaling: several worker processes on one broker and one storage share the work."""

from __future__ import annotations

import collections
import json

import pytest

from tests.fixtures.jobs import submit_image, wait_for_jobs
from tests.images import gradient_png

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
JOBS = 12


def started_jobs(log: str) -> list[str]:
    """Job ids of the `job started` lines in a worker's JSON log."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line["job_id"] for line in lines if line["message"] == "job started"]


@pytest.mark.parametrize("worker_count", [2, 3])
def test_every_job_runs_exactly_once_spread_over_the_workers(
    s3_settings, start_worker, start_live_server, worker_count
):
    settings = s3_settings.replace(log_format="json")
    workers = [start_worker(settings) for _ in range(worker_count)]
    server = start_live_server(settings)
    # Different pictures, big enough that one worker cannot drain the queue alone.
    images = [gradient_png(96, 72, seed=n) for n in range(JOBS)]
    job_ids = [submit_image(server.url, data, k="2,8")["id"] for data in images]

    documents = wait_for_jobs(server.url, job_ids)
    assert [d["status"] for d in documents] == ["succeeded"] * JOBS
    assert [d["attempts"] for d in documents] == [1] * JOBS
    assert all(len(d["results"]) == 2 for d in documents)

    runs = [started_jobs(worker.log()) for worker in workers]
    started = collections.Counter(job_id for run in runs for job_id in run)
    assert started == dict.fromkeys(job_ids, 1)  # each job started once, on one worker only
    per_worker = [len(run) for run in runs]
    print("jobs per worker:", per_worker)
    assert sum(per_worker) == JOBS and min(per_worker) >= 1, per_worker
