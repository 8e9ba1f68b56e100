"""Storage lost for real: this module's own S3 server is stopped and started again mid-job."""

from __future__ import annotations

import contextlib
import itertools

import pytest
import requests
from moto.server import ThreadedMotoServer

from kcolors.jobs.storage import open_storage
from tests.fixtures.faults import slow_png, wait_for_document, wait_until
from tests.fixtures.jobs import submit_image, wait_for_jobs
from tests.fixtures.servers import create_bucket
from tests.images import gradient_png

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
bucket_numbers = itertools.count()


class RestartableS3:
    """moto's S3 server on a fixed port; its objects live in this process, so they survive."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        self.host, self.port = self._server.get_host_and_port()
        self.url = f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.stop()

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()


@pytest.fixture(scope="module")
def s3(aws_credentials):
    server = RestartableS3()
    yield server
    server.stop()


@pytest.fixture
def settings(s3_settings, s3):
    # A fresh bucket per test, or a job would reuse the stored results of the previous test's.
    bucket = f"outage-{next(bucket_numbers)}"
    create_bucket(s3.url, bucket)
    return s3_settings.replace(
        storage_url=f"s3://{bucket}/data",
        s3_endpoint_url=s3.url,
        storage_retries=2,
        soft_time_limit=20,
        hard_time_limit=25,
        visibility_timeout=30,
    )


def test_submitting_while_storage_is_down_answers_503_json(settings, start_live_server, s3):
    server = start_live_server(settings)
    s3.stop()
    try:
        files = {"image": ("cat.png", gradient_png())}
        response = requests.post(f"{server.url}/api/jobs", files=files, timeout=60)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "storage_unavailable"
        assert requests.get(f"{server.url}/readyz", timeout=30).status_code == 503
    finally:
        s3.start()
    assert requests.get(f"{server.url}/readyz", timeout=30).status_code == 200


@contextlib.contextmanager
def outage_during_a_job(settings, start_worker, start_live_server, s3):
    """Start a worker, the app and a few seconds' job; stop S3 once it runs, start it after."""
    worker = start_worker(settings)
    server = start_live_server(settings)
    storage = open_storage(settings)
    # Seconds of work even for the C engine, so that S3 goes while the job runs (1 MP: the
    # engine got faster again, and 0.64 MP had come down to 1.4 s).
    job = submit_image(server.url, slow_png(1000), k="2,64,128,256")
    wait_for_document(storage, job["id"], ["running"])
    s3.stop()
    try:
        yield worker, server, storage, job
    finally:
        s3.start()


def test_a_job_caught_by_a_short_outage_retries_and_succeeds(
    settings, start_worker, start_live_server, s3
):
    with outage_during_a_job(settings, start_worker, start_live_server, s3) as outage:
        worker, server, _, job = outage
        wait_until(lambda: "retry 1" in worker.log(), 60, "the job never retried")
    [document] = wait_for_jobs(server.url, [job["id"]], timeout=120)
    assert document["status"] == "succeeded", document
    assert document["attempts"] >= 2 and len(document["results"]) == 4


def test_a_job_outlasting_its_retries_never_stays_running(
    settings, start_worker, start_live_server, s3
):
    with outage_during_a_job(settings, start_worker, start_live_server, s3) as outage:
        worker, server, storage, job = outage
        # Two retries, then the failure cannot be recorded either: storage is still down.
        wait_until(lambda: "could not record failure" in worker.log(), 90, worker.log())
    # Nobody runs `kcolors reconcile`: the worker records the failure once storage is back.
    document = wait_for_document(storage, job["id"], ["failed"], timeout=90)
    assert document["error"]["code"] == "storage_unavailable", document
    assert "storage failed 3 times" in document["error"]["message"]
    [answer] = wait_for_jobs(server.url, [job["id"]], timeout=10)
    assert answer["status"] == "failed" and answer["error"] == document["error"]
