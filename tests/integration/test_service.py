"""End to end, for real: Valkey, moto's S3 server, a Celery worker process, the app over HTTP."""

import io

import pytest
import requests
from PIL import Image

from tests.fixtures.jobs import wait_for_job
from tests.fixtures.openapi import check_response
from tests.images import encode, gradient_image, gradient_png

pytestmark = pytest.mark.e2e

STATUS_ORDER = ["queued", "running", "succeeded", "failed"]


def submit(url, data, **fields):
    files = {"image": ("cat.png", data)}
    response = check_response(
        requests.post(f"{url}/api/jobs", data=fields, files=files, timeout=30)
    )
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/api/jobs/{response.json()['id']}"
    return response.json()


def assert_never_backwards(job):
    ranks = [min(STATUS_ORDER.index(status), 2) for status, _ in job["_seen"]]
    progress = [p for _, p in job["_seen"]]
    assert ranks == sorted(ranks) and progress == sorted(progress)


def test_jobs_submitted_over_http_produce_real_palette_pngs(service):
    data = gradient_png(80, 60)
    job = wait_for_job(service.url, submit(service.url, data, k="2,5,16")["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == 1 and job["attempts"] == 1
    assert_never_backwards(job)
    assert job["input"]["width"] == 80 and job["input"]["bytes"] == len(data)
    assert [r["k"] for r in job["results"]] == [2, 5, 16]
    for result in job["results"]:
        stored = service.storage.get(result["key"])
        assert result["key"] == f"jobs/{job['id']}/k{result['k']}.png"
        image = Image.open(io.BytesIO(stored))
        assert image.format == "PNG" and image.mode == "P" and image.size == (80, 60)
        colours = image.getcolors(256)
        assert len(colours) <= result["k"] and len(colours) == result["distinct_colors"]
        assert result["bytes"] == len(stored)
        assert result["compression_ratio"] == pytest.approx(len(data) / len(stored), rel=1e-3)
        # Over HTTP: a redirect to a presigned URL on the S3 server, which serves the same bytes.
        path = f"/api/jobs/{job['id']}/results/{result['k']}"
        redirect = requests.get(service.url + path, allow_redirects=False, timeout=10)
        assert redirect.status_code == 302
        assert redirect.headers["Location"].startswith(service.settings.s3_endpoint_url)
        assert requests.get(service.url + path, timeout=10).content == stored
    # One object per output plus the input and the document: nothing duplicated.
    assert sorted(service.storage.list(f"jobs/{job['id']}/")) == sorted(
        [
            f"jobs/{job['id']}/{name}"
            for name in ("input.png", "job.json", "k2.png", "k5.png", "k16.png")
        ]
    )


def test_bad_image_fails_the_job_with_a_code_and_the_worker_goes_on(service):
    jpeg = encode(gradient_image(), "JPEG")
    truncated_jpeg = jpeg[: len(jpeg) * 2 // 3]  # a sound header: only decoding finds the fault
    bad = wait_for_job(service.url, submit(service.url, truncated_jpeg, k="4")["id"])
    assert bad["status"] == "failed" and bad["error"]["code"] == "corrupt_image"
    assert bad["error"]["message"] and bad["finished_at"]
    good = wait_for_job(service.url, submit(service.url, gradient_png(), k="3")["id"])
    assert good["status"] == "succeeded"
    assert service.worker.process.poll() is None


def test_source_job_and_listing_over_http(service):
    service.storage.put("uploads/cats/a.png", gradient_png(seed=5), "image/png")
    response = requests.post(
        f"{service.url}/api/jobs",
        json={"source": "uploads/cats/a.png", "k": [6], "format": "webp"},
        timeout=30,
    )
    assert check_response(response).status_code == 202
    job = wait_for_job(service.url, response.json()["id"])
    assert job["status"] == "succeeded" and job["input"]["key"] == "uploads/cats/a.png"
    [result] = job["results"]
    assert result["key"] == f"jobs/{job['id']}/k6.webp"
    image = Image.open(io.BytesIO(service.storage.get(result["key"])))
    assert image.format == "WEBP" and len(image.convert("RGB").getcolors(256)) <= 6
    listed = check_response(requests.get(f"{service.url}/api/jobs?limit=5", timeout=10)).json()
    assert listed["jobs"][0]["id"] == job["id"]
    ready = check_response(requests.get(f"{service.url}/readyz", timeout=10))
    assert ready.status_code == 200


def test_job_past_the_soft_time_limit_ends_failed_not_running(
    s3_settings, start_worker, start_live_server
):
    settings = s3_settings.replace(soft_time_limit=1, hard_time_limit=5, visibility_timeout=30)
    worker = start_worker(settings)
    url = start_live_server(settings).url
    slow = submit(url, gradient_png(1600, 1200), k="64,128,200")
    job = wait_for_job(url, slow["id"], timeout=60)
    assert job["status"] == "failed" and job["error"]["code"] == "time_limit_exceeded"
    assert worker.process.poll() is None
    assert wait_for_job(url, submit(url, gradient_png(), k="2")["id"])["status"] == "succeeded"
