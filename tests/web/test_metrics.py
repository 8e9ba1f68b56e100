"""The web server's /metrics: request latency, accepted jobs, the broker's queue."""

import io
import logging

import pytest
import redis

from cli.broker import start_valkey_server
from kcolors.jobs.broker import QUEUE
from kcolors.jobs.logs import CURRENT_JOB_ID
from tests.fixtures.prometheus import sample
from tests.images import gradient_png
from tests.web.test_pages import submit as submit_form
from web import create_app


@pytest.fixture(scope="module")
def broker_url():
    server = start_valkey_server()
    yield server.connection_url
    server.stop()


def test_metrics_count_requests_by_endpoint(client):
    before = client.get("/metrics").text
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    name = "kcolors_http_request_duration_seconds_count"
    labels = {"method": "GET", "endpoint": "/healthz", "status": "200"}
    assert sample(response.text, name, **labels) - sample(before, name, **labels) == 3


def test_unmatched_paths_share_one_label(client):
    client.get("/no/such/page/12345")
    text = client.get("/metrics").text
    assert "/no/such/page" not in text
    name = "kcolors_http_request_duration_seconds_count"
    assert sample(text, name, endpoint="unmatched", status="404") >= 1


def test_metrics_show_the_broker_queue(settings, broker_url):
    app = create_app({"TESTING": True, "KCOLORS_SETTINGS": settings.replace(broker_url=broker_url)})
    connection = redis.Redis.from_url(broker_url)
    connection.rpush(QUEUE, *["job"] * 4)
    text = app.test_client().get("/metrics").text
    assert sample(text, "kcolors_broker_up") == 1
    assert sample(text, "kcolors_queue_length", queue=QUEUE) == 4
    connection.delete(QUEUE)


def test_accepted_jobs_are_counted_and_logged_with_their_id(settings, broker_url, caplog):
    caplog.set_level(logging.INFO, logger="web.services")
    app = create_app({"TESTING": True, "KCOLORS_SETTINGS": settings.replace(broker_url=broker_url)})
    client = app.test_client()
    before = client.get("/metrics").text
    form = {"image": (io.BytesIO(gradient_png()), "cat.png"), "k": "2"}
    job = client.post("/api/jobs", data=form, content_type="multipart/form-data").get_json()
    refused = client.post("/api/jobs", data={"k": "2"}, content_type="multipart/form-data")
    assert refused.status_code == 400
    name = "kcolors_jobs_submitted_total"
    after = client.get("/metrics").text
    assert sample(after, name, kind="job") - sample(before, name, kind="job") == 1
    [record] = [r for r in caplog.records if r.getMessage() == "job queued"]
    assert record.job_id == job["id"]
    # A request about a job tags its log lines, and only while it runs.
    assert client.get(f"/api/jobs/{job['id']}").status_code == 200
    assert CURRENT_JOB_ID.get() is None


def test_jobs_submitted_with_the_web_form_are_counted_too(settings, broker_url, caplog):
    caplog.set_level(logging.INFO, logger="web.services")
    app = create_app({"TESTING": True, "KCOLORS_SETTINGS": settings.replace(broker_url=broker_url)})
    client = app.test_client()
    before = sample(client.get("/metrics").text, "kcolors_jobs_submitted_total", kind="job")
    response = submit_form(client)
    assert response.status_code == 303
    after = sample(client.get("/metrics").text, "kcolors_jobs_submitted_total", kind="job")
    assert after - before == 1
    [record] = [r for r in caplog.records if r.getMessage() == "job queued"]
    assert response.headers["Location"] == f"/jobs/{record.job_id}"
