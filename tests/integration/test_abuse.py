"""What an outside tester tried, against the real service (the app over HTTP, Valkey, moto's S3,
a Celery worker): each gets a clear 4xx or a safe outcome, and the worker survives."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest
import requests
from PIL import Image

from tests.fixtures.jobs import submit_image, wait_for_jobs
from tests.fixtures.openapi import check_response
from tests.images import encode, gradient_image, gradient_png

pytestmark = [pytest.mark.e2e]


def tiny_jpeg_declaring(width: int, height: int) -> bytes:
    """A real 16x16 JPEG whose frame header (SOF0) is rewritten to declare width x height."""
    data = bytearray(encode(gradient_image(16, 16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def post(url: str, data: bytes, name: str = "cat.png", headers=None, **fields) -> requests.Response:
    files = {"image": (name, data)}
    return requests.post(
        f"{url}/api/jobs", files=files, data={"k": "2", **fields}, headers=headers, timeout=30
    )


def error_of(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["error"]


def test_a_tiny_file_declaring_a_huge_picture_is_refused_naming_the_limit(service):
    bomb = tiny_jpeg_declaring(7000, 7000)
    assert len(bomb) < 1000 and Image.open(io.BytesIO(bomb)).size == (7000, 7000)
    error = error_of(post(service.url, bomb, "bomb.jpg"), 413)
    assert error["code"] == "image_too_large"
    assert "7000x7000 = 49,000,000 pixels" in error["message"]
    assert "more than the limit of 1,000 pixels per byte" in error["message"]
    assert service.storage.list("jobs/") == []
    [good] = wait_for_jobs(service.url, [submit_image(service.url)["id"]])
    assert good["status"] == "succeeded" and service.worker.process.poll() is None


def test_work_over_the_budget_is_refused_and_pixel_limits_name_the_configured_one(
    s3_settings, start_live_server
):
    small = start_live_server(s3_settings.replace(max_job_work=3072 * 3, max_pixels=4000)).url
    error = error_of(post(small, gradient_png(64, 48), k="2,3,4,5"), 422)
    assert error["code"] == "work_budget_exceeded"
    assert "3,072 pixels x 4 outputs = 12,288, more than the limit of 9,216" in error["message"]
    assert post(small, gradient_png(64, 48), k="2,3,4").status_code == 202
    error = error_of(post(small, gradient_png(100, 50)), 413)
    assert error["message"].endswith("more than the limit of 4,000")


def test_uploads_over_the_limit_say_the_limit(s3_settings, start_live_server):
    url = start_live_server(s3_settings.replace(max_upload_bytes=100_000)).url
    error = error_of(post(url, b"\x89PNG\r\n\x1a\n" + bytes(300_000)), 413)
    assert (
        error["code"] == "upload_too_large" and "more than the limit of 100,000" in error["message"]
    )


def test_a_wrong_method_on_a_json_route_says_which_are_allowed(live_server):
    response = requests.delete(f"{live_server.url}/api/jobs", timeout=10)
    error = error_of(response, 405)
    assert error["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    response = requests.put(f"{live_server.url}/api/openapi.json", timeout=10)
    assert response.status_code == 405 and "GET" in response.headers["Allow"]


def test_submissions_over_the_rate_limit_get_429_with_retry_after_per_client(
    s3_settings, start_live_server
):
    limited = s3_settings.replace(rate_limit="3/minute", api_tokens=("token-a", "token-b"))
    url = start_live_server(limited).url
    a, b = {"Authorization": "Bearer token-a"}, {"Authorization": "Bearer token-b"}
    accepted = [post(url, gradient_png(), headers=a) for _ in range(3)]
    assert [response.status_code for response in accepted] == [202] * 3
    assert all("Retry-After" not in response.headers for response in accepted)
    refused = post(url, gradient_png(), headers=a)
    error = error_of(refused, 429)
    assert error["code"] == "rate_limited" and "3/minute per client" in error["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    batch = requests.post(f"{url}/api/batches", json={"prefix": "uploads/"}, headers=a, timeout=10)
    assert batch.status_code == 429  # one budget for jobs, batches and the form
    assert post(url, gradient_png(), headers=b).status_code == 202  # another client's budget
    # Reading is never limited.
    assert requests.get(f"{url}/api/jobs", headers=a, timeout=10).status_code == 200


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(service):
    names = ["=2+5*cmd|'calc'!A0.png", "+1.png", "-1.png", "@SUM(A1).png", "plain.png"]
    files = [("image", (name, gradient_png(seed=n))) for n, name in enumerate(names)]
    response = requests.post(f"{service.url}/api/batches", files=files, data={"k": "2"}, timeout=30)
    assert response.status_code == 202, response.text
    batch_url = f"{service.url}/api/batches/{response.json()['id']}"
    deadline = time.monotonic() + 120
    while requests.get(batch_url, timeout=10).json()["summary"]["status"] != "finished":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    text = requests.get(f"{batch_url}/report.csv", timeout=10).text
    cells = [row["name"] for row in csv.DictReader(io.StringIO(text))]
    assert sorted(cells) == sorted(
        ["'=2+5*cmd|'calc'!A0.png", "'+1.png", "'-1.png", "'@SUM(A1).png", "plain.png"]
    )
    # The JSON report keeps the names as they were.
    rows = requests.get(f"{batch_url}/report.json", timeout=10).json()["rows"]
    assert sorted(r["name"] for r in rows) == sorted(names)


def test_reuse_names_no_other_job_and_with_tokens_stays_within_a_client(
    s3_settings, start_worker, start_live_server
):
    settings = s3_settings.replace(api_tokens=("token-a", "token-b"))
    start_worker(settings)
    url = start_live_server(settings).url
    a, b = {"Authorization": "Bearer token-a"}, {"Authorization": "Bearer token-b"}
    data = gradient_png(seed=3)
    first = check_response(post(url, data, headers=a)).json()
    [done] = wait_for_jobs(url, [first["id"]])
    assert done["status"] == "succeeded"
    again = check_response(post(url, data, headers=a)).json()
    assert again["status"] == "succeeded" and again["reused"] is True
    assert first["id"] not in json.dumps(again)
    image = requests.get(f"{url}{again['results'][0]['url']}", timeout=10)
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).mode == "P"
    theirs = check_response(post(url, data, headers=b)).json()
    assert theirs["status"] == "queued" and theirs["reused"] is False
    listed = requests.get(f"{url}/api/jobs", headers=b, timeout=10).json()["jobs"]
    assert [job["id"] for job in listed] == [theirs["id"]]


def test_with_tokens_the_form_asks_for_a_token_before_taking_a_job(s3_settings, start_live_server):
    url = start_live_server(s3_settings.replace(api_tokens=("token-a",))).url
    browser = requests.Session()
    page = browser.get(f"{url}/", timeout=10)
    assert page.url.startswith(f"{url}/signin") and "API token" in page.text
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    form = {"csrf_token": csrf, "k_choice": "2,5,10,15,24", "space": "rgb", "format": "png"}
    anonymous = requests.post(f"{url}/", data=form, files={"image": ("c.png", gradient_png())},
                              timeout=10, allow_redirects=False)  # fmt: skip
    assert anonymous.status_code in (303, 400)  # sent to sign in (or refused): never a job
    signed = browser.post(page.url, data={"csrf_token": csrf, "token": "token-a"}, timeout=10)
    assert signed.url == f"{url}/"
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', signed.text).group(1)
    made = browser.post(f"{url}/", data={**form, "csrf_token": csrf},
                        files={"image": ("c.png", gradient_png())}, timeout=10)  # fmt: skip
    assert "/jobs/" in made.url
    listed = requests.get(f"{url}/api/jobs", headers={"Authorization": "Bearer token-a"},
                          timeout=10).json()["jobs"]  # fmt: skip
    assert [job["id"] for job in listed] == [made.url.rsplit("/", 1)[1]]
