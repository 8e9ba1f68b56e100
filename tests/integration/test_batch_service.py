"""A batch fanned out by a real worker process over Valkey and S3, followed over HTTP."""

from __future__ import annotations

import csv
import io
import time
from urllib.parse import urlsplit

import pytest
import requests

from kcolors.jobs.job import load_job
from kcolors.jobs.storage import open_storage
from tests.fixtures.jobs import wait_for_job
from tests.fixtures.openapi import check_response
from tests.fixtures.slow_link import SlowLink
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
def test_a_long_expansion_goes_in_parts_within_its_time_limit_and_makes_no_job_twice(
    s3_settings, start_worker, start_live_server, request
):
    """A worker whose soft time limit (1 s) is shorter than the expansion of 80 pictures: it
    expands them in parts of half a second, each saving the items it gave a job and sending
    their jobs, the next resuming after them. Every picture ends with exactly one job (twins
    across parts included), and no job is left over.

    The worker reaches storage over a slow link (20 ms a request), so that the expansion takes
    more than 3 s on any machine (80 pictures, 2 requests each): on a fast one it used to end
    within its limit."""
    storage = open_storage(s3_settings)
    endpoint = urlsplit(s3_settings.s3_endpoint_url)
    link = SlowLink((endpoint.hostname, endpoint.port), delay=0.02)
    request.addfinalizer(link.stop)
    settings = s3_settings.replace(
        soft_time_limit=1, hard_time_limit=5, visibility_timeout=10, s3_endpoint_url=link.url
    )
    pictures = [gradient_png(48, 36, seed=n) for n in range(79)] + [gradient_png(48, 36, seed=0)]
    for n, picture in enumerate(pictures):
        storage.put(f"uploads/many/{n:03d}.png", picture)
    worker = start_worker(settings)
    server = start_live_server(settings.replace(s3_endpoint_url=s3_settings.s3_endpoint_url))
    response = requests.post(
        f"{server.url}/api/batches", json={"prefix": "uploads/many/", "k": [2]}, timeout=30
    )
    assert check_response(response).status_code == 202
    batch = wait_for_batch(server.url, response.json()["id"], timeout=240)
    assert worker.log().count("expansion continues") >= 3  # it went in parts
    assert batch["summary"]["succeeded"] == 80 and batch["summary"]["failed"] == 0
    items = {item["name"]: item for item in batch["items"]}
    # The first picture again, last: its twin's job, though made by another attempt.
    assert items["079.png"]["job_id"] == items["000.png"]["job_id"]
    assert items["079.png"]["duplicate_of"] == "000.png"
    job_ids = {item["job_id"] for item in batch["items"]}
    stored = {key.split("/")[1] for key in storage.list("jobs/") if key.endswith("/job.json")}
    assert len(job_ids) == 79 and stored == job_ids  # no job made twice, none orphaned


def test_a_single_job_goes_ahead_of_a_running_batch(service):
    """One worker process, a batch of 30 pictures queued before it: a single job submitted while
    the batch runs starts after at most two more of the batch's jobs, not after all of them."""
    pictures = [("image", (f"{n}.png", gradient_png(320, 240, seed=n))) for n in range(30)]
    response = requests.post(
        f"{service.url}/api/batches", files=pictures, data={"k": "8,64"}, timeout=60
    )
    assert check_response(response).status_code == 202
    batch_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while (
        summary := requests.get(f"{service.url}/api/batches/{batch_id}", timeout=10).json()[
            "summary"
        ]
    )["succeeded"] < 1:
        assert time.monotonic() < deadline, summary
        time.sleep(0.05)
    assert summary["queued"] >= 10, f"the batch ran too fast to be passed: {summary}"

    single = requests.post(
        f"{service.url}/api/jobs",
        files={"image": ("single.png", gradient_png(320, 240, seed=999))},
        data={"k": "8,64"},
        timeout=30,
    ).json()
    done = wait_for_job(service.url, single["id"])
    batch = wait_for_batch(service.url, batch_id, timeout=300)
    starts = sorted(load_job(service.storage, item["job_id"]).started_at for item in batch["items"])
    # Batch jobs that began after the single one was made and before it began.
    passed_it = [t for t in starts if single["created_at"] <= t < done["started_at"]]
    assert len(passed_it) <= 2, (len(passed_it), summary)
    assert any(t > done["started_at"] for t in starts)  # the batch still had work waiting


@pytest.mark.slow
def test_two_clients_batches_take_turns_on_the_workers(
    s3_settings, start_worker, start_live_server
):
    """Alice's batch of 24 runs when Bob sends his batch of 8: from Bob's first job to his
    last, the one worker process takes Alice's and Bob's jobs in turns, not Alice's first."""
    settings = s3_settings.replace(api_tokens=("token-alice", "token-bob"), batch_window=2)
    start_worker(settings)
    url = start_live_server(settings).url
    storage = open_storage(settings)

    def send_batch(token: str, count: int, seed: int) -> str:
        pictures = [
            ("image", (f"{n}.png", gradient_png(200, 150, seed=seed + n))) for n in range(count)
        ]
        response = requests.post(
            f"{url}/api/batches",
            files=pictures,
            data={"k": "8,32"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert check_response(response).status_code == 202, response.text
        return response.json()["id"]

    def batch(token: str, batch_id: str) -> dict:
        headers = {"Authorization": f"Bearer {token}"}
        return requests.get(f"{url}/api/batches/{batch_id}", headers=headers, timeout=10).json()

    alice = send_batch("token-alice", 24, seed=0)
    deadline = time.monotonic() + 60
    while batch("token-alice", alice)["summary"]["succeeded"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    bob = send_batch("token-bob", 8, seed=100)
    deadline = time.monotonic() + 300
    finished = {}
    while len(finished) < 2:
        assert time.monotonic() < deadline, "the batches never finished"
        for token, batch_id in (("token-alice", alice), ("token-bob", bob)):
            if (document := batch(token, batch_id))["summary"]["status"] == "finished":
                finished[batch_id] = document
        time.sleep(0.2)

    def starts(batch_id: str) -> list[str]:
        items = finished[batch_id]["items"]
        return sorted(load_job(storage, item["job_id"]).started_at for item in items)

    alice_starts, bob_starts = starts(alice), starts(bob)
    between = [t for t in alice_starts if bob_starts[0] <= t <= bob_starts[-1]]
    # In turns: about one of Alice's between two of Bob's (seven gaps), give or take the
    # window of jobs already sent when Bob's came; first in, first out, it would be none.
    assert abs(len(between) - (len(bob_starts) - 1)) <= 3, (len(between), bob_starts)
    assert alice_starts[-1] > bob_starts[-1], "Alice's batch had no work left to share"
