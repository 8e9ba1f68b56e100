"""Security: refused pickles, unguessable ids, presigned URLs, no fetching of arbitrary URLs."""

from __future__ import annotations

import http.server
import itertools
import os
import threading
import time
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from kombu import Connection
from ulid import ULID

from kcolors.engine.params import QuantizeParams
from kcolors.jobs.broker import PROCESS_JOB_TASK, QUEUE
from kcolors.jobs.ids import new_job_id
from kcolors.jobs.job import Job, input_key, save_job
from kcolors.jobs.runner import run_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import open_storage
from tests.fixtures.faults import wait_until
from tests.fixtures.jobs import submit_image, wait_for_jobs
from tests.fixtures.s3rver import BUCKET as S3RVER_BUCKET
from tests.images import gradient_png


class CreatesAFile:
    """Unpickling this runs a shell command that creates `path`: what an attacker would send."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


@pytest.mark.e2e
def test_a_pickled_message_pushed_into_the_queue_is_refused_not_executed(service):
    marker = service.tmp_path / "pwned"
    with Connection(service.settings.broker_url) as connection:
        connection.Producer().publish(
            ((CreatesAFile(str(marker)),), {}, {}),
            routing_key=QUEUE,
            serializer="pickle",
            headers={"task": PROCESS_JOB_TASK, "id": str(uuid.uuid4())},
        )
    wait_until(lambda: "untrusted content" in service.worker.log(), 30, service.worker.log())
    assert not marker.exists()
    assert service.worker.process.poll() is None
    [good] = wait_for_jobs(service.url, [submit_image(service.url)["id"]])
    assert good["status"] == "succeeded"
    assert not marker.exists()


def test_job_ids_made_in_the_same_millisecond_give_nothing_away():
    texts = [new_job_id() for _ in range(2000)]
    assert sorted(texts) == texts  # still in creation order
    ids = [ULID.from_str(text) for text in texts]
    randomness = [int.from_bytes(i.bytes[6:], "big") for i in ids]
    assert len(set(randomness)) == len(ids)
    # Sequential ids would differ by one: none of these are neighbours of another.
    ordered = sorted(randomness)
    assert min(b - a for a, b in itertools.pairwise(ordered)) > 1_000
    assert len({i.milliseconds for i in ids}) < len(ids)  # many did share a millisecond


@pytest.mark.e2e
def test_results_are_served_by_short_lived_presigned_urls(s3_settings, start_worker,
                                                          start_live_server):  # fmt: skip
    settings = s3_settings.replace(presign_expires=60)
    start_worker(settings)
    server = start_live_server(settings)
    [job] = wait_for_jobs(server.url, [submit_image(server.url, k="2")["id"]])
    response = requests.get(f"{server.url}/api/jobs/{job['id']}/results/2",
                            allow_redirects=False, timeout=10)  # fmt: skip
    assert response.status_code == 302
    location = response.headers["Location"]
    query = parse_qs(urlparse(location).query)
    # SigV4: the lifetime is part of what is signed. moto does not enforce expiry; S3 does, and
    # so does s3rver in the test below.
    assert query["X-Amz-Expires"] == ["60"] and query["X-Amz-Signature"][0]
    assert urlparse(location).netloc == urlparse(settings.s3_endpoint_url).netloc
    image = requests.get(location, timeout=10)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


@pytest.mark.e2e
def test_presigned_urls_stop_working_when_they_expire(s3rver, start_live_server):
    settings = Settings(storage_url=f"s3://{S3RVER_BUCKET}/data", s3_endpoint_url=s3rver,
                        presign_expires=2)  # fmt: skip
    storage = open_storage(settings)
    job = Job.create(QuantizeParams(k=(2,)), "", {"format": "png"})
    job.input["key"] = input_key(job.id, "png")
    storage.put(job.input["key"], gradient_png(), "image/png")
    save_job(storage, job)
    [result] = run_job(storage, job.id, settings).results
    server = start_live_server(settings)
    urls = {}
    for path in (f"/api/jobs/{job.id}/results/2", f"/api/jobs/{job.id}/input"):
        response = requests.get(server.url + path, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        urls[path] = response.headers["Location"]
    issued = time.time()
    fresh = requests.get(urls[f"/api/jobs/{job.id}/results/2"], timeout=10)
    assert fresh.status_code == 200 and fresh.content == storage.get(result["key"])
    # X-Amz-Date has whole seconds: past issue + 2 s + 1 s, every URL has expired.
    time.sleep(max(0.0, issued + 3.2 - time.time()))
    for url in urls.values():
        expired = requests.get(url, timeout=10)
        assert expired.status_code == 403, expired.text
        assert "<Code>AccessDenied</Code>" in expired.text and "expired" in expired.text


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        RecordingHandler.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.mark.e2e
def test_the_service_never_fetches_a_url_it_is_given(live_server):
    bait = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    thread = threading.Thread(target=bait.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{bait.server_port}/cat.png"
        for body in ({"source": url}, {"source": f"uploads/{url}"}, {"image": url, "k": [2]},
                     {"source": "uploads/cat.png", "url": url}):  # fmt: skip
            response = requests.post(f"{live_server.url}/api/jobs", json=body, timeout=10)
            assert 400 <= response.status_code < 500, response.text
        response = requests.post(f"{live_server.url}/api/jobs", data={"image": url}, timeout=10)
        assert 400 <= response.status_code < 500
    finally:
        bait.shutdown()
        thread.join()
        bait.server_close()
    assert RecordingHandler.hits == []
