"""Hostile and odd inputs through real HTTP and a real worker: each gets a clear answer."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from kcolors.jobs.ids import new_job_id
from tests.fixtures.bad_inputs import hostile_samples, odd_samples
from tests.fixtures.jobs import submit_image, wait_for_jobs
from tests.images import gradient_png

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def post(url: str, data: bytes, filename: str = "cat.png", **fields) -> requests.Response:
    files = {"image": (filename, data)}
    return requests.post(f"{url}/api/jobs", files=files, data={"k": "2,5", **fields}, timeout=30)


def assert_json_error(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, (status, code, response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error


def test_every_image_of_the_corpus_gets_a_clear_answer_and_the_worker_survives(service):
    accepted = {}
    for sample in hostile_samples() + odd_samples():
        response = post(service.url, sample.data, sample.filename)
        if sample.refused_with is not None:
            assert_json_error(response, sample.refused_with, sample.expect)
        else:
            assert response.status_code == 202, (sample.name, response.text)
            accepted[response.json()["id"]] = sample

    documents = wait_for_jobs(service.url, list(accepted), timeout=180)
    for document, sample in zip(documents, accepted.values(), strict=True):
        if sample.expect == "ok":
            assert document["status"] == "succeeded", (sample.name, document["error"])
            assert [r["k"] for r in document["results"]] == [2, 5], sample.name
        else:
            assert document["status"] == "failed", (sample.name, document)
            assert document["error"]["code"] == sample.expect, (sample.name, document["error"])
    by_name = {
        sample.name: document for document, sample in zip(documents, accepted.values(), strict=True)
    }
    # The EXIF tag turns the 64x32 picture upright: its outputs are 32 wide and 64 high.
    rotated = by_name["exif-rotated jpeg"]["results"][0]["key"]
    assert Image.open(io.BytesIO(service.storage.get(rotated))).size == (32, 64)
    assert by_name["palette with transparency"]["input"]["has_alpha"] is True

    assert service.worker.process.poll() is None
    [good] = wait_for_jobs(service.url, [submit_image(service.url)["id"]])
    assert good["status"] == "succeeded"


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"k": "0"}, "invalid_parameter"),
        ({"k": "1"}, "invalid_parameter"),
        ({"k": "257"}, "invalid_parameter"),
        ({"k": "abc"}, "invalid_parameter"),
        ({"k": ",".join(str(k) for k in range(2, 40))}, "invalid_parameter"),
        ({"k": ["2"] * 3 + [str(k) for k in range(3, 30)]}, "invalid_parameter"),
    ],
)
def test_bad_k_values_are_refused_over_http(live_server, fields, code):
    assert_json_error(post(live_server.url, gradient_png(), **fields), 422, code)


def test_bad_requests_are_refused_with_json_errors(s3_settings, start_live_server, service):
    url = service.url
    small = start_live_server(s3_settings.replace(max_upload_bytes=100_000)).url
    big = b"\x89PNG\r\n\x1a\n" + bytes(300_000)
    assert_json_error(post(small, big), 413, "upload_too_large")

    many_parts = {f"field{i}": "x" for i in range(1500)}
    response = requests.post(
        f"{url}/api/jobs", files={"image": ("cat.png", gradient_png())}, data=many_parts, timeout=30
    )
    assert_json_error(response, 413, "upload_too_large")

    assert_json_error(requests.get(f"{url}/api/jobs/{new_job_id()}", timeout=10), 404,
                      "job_not_found")  # fmt: skip
    assert_json_error(requests.get(f"{url}/api/jobs/../../etc/passwd", timeout=10), 404,
                      "not_found")  # fmt: skip
    assert_json_error(requests.get(f"{url}/api/jobs/not-a-ulid", timeout=10), 404,
                      "job_not_found")  # fmt: skip
    for source, code in [
        ("uploads/../jobs/x/job.json", "invalid_key"),
        ("../uploads/cat.png", "invalid_key"),
        ("/etc/passwd", "invalid_key"),
        ("jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/input.png", "invalid_source"),
        ("http://127.0.0.1:1/cat.png", "invalid_key"),
    ]:
        response = requests.post(f"{url}/api/jobs", json={"source": source}, timeout=10)
        assert_json_error(response, 422, code)
    response = requests.post(
        f"{url}/api/jobs", data="{not json", headers={"Content-Type": "application/json"},
        timeout=10,
    )  # fmt: skip
    assert_json_error(response, 400, "invalid_json")
    response = requests.post(f"{url}/api/jobs", data="k=2", timeout=10)
    assert_json_error(response, 415, "unsupported_media_type")

    assert service.storage.list("uploads/") == [] and service.worker.process.poll() is None
    [good] = wait_for_jobs(url, [submit_image(url)["id"]])
    assert good["status"] == "succeeded"
