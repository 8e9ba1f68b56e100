"""`GET /api/jobs/<id>?wait=S` with If-None-Match: one request per change of the document."""

import threading
import time

import pytest
import redis
import requests

from kcolors.jobs.events import channel
from tests.fixtures.faults import slow_png
from tests.fixtures.jobs import submit_image
from tests.fixtures.openapi import check_response
from tests.images import gradient_png

pytestmark = pytest.mark.e2e


def get_job(url, job_id, etag=None, wait=None, timeout=40):
    headers = {"If-None-Match": etag} if etag else {}
    params = {"wait": wait} if wait is not None else {}
    response = requests.get(f"{url}/api/jobs/{job_id}", headers=headers, params=params,
                            timeout=timeout)  # fmt: skip
    return check_response(response)


def test_waiting_clients_get_each_change_of_a_running_job_with_one_request_each(service):
    job = submit_image(service.url, slow_png(), k="2,4,8,16")
    first = get_job(service.url, job["id"])
    assert first.status_code == 200 and first.headers["ETag"]
    seen, etag = [first.json()], first.headers["ETag"]
    while seen[-1]["status"] not in ("succeeded", "failed"):
        response = get_job(service.url, job["id"], etag=etag, wait=20)
        if response.status_code == 304:  # nothing changed within 20 s: ask again
            assert response.headers["ETag"] == etag and not response.content
            continue
        assert response.status_code == 200 and response.headers["ETag"] != etag
        assert response.json() != seen[-1]  # woken by a real change, not by the clock
        seen.append(response.json())
        etag = response.headers["ETag"]
    assert seen[-1]["status"] == "succeeded", seen[-1]
    progress = [document["progress"] for document in seen]
    assert progress == sorted(progress) and progress[-1] == 1
    # queued, running, 1/4, 2/4, 3/4, succeeded: at most six versions, none fetched twice (a
    # change landing between two requests is skipped).
    assert len(seen) <= 6


def test_a_finished_job_is_answered_at_once_and_304_names_the_same_version(service):
    job = submit_image(service.url, gradient_png(), k="2")
    etag = None
    while True:
        response = get_job(service.url, job["id"], etag=etag, wait=10)
        etag = response.headers["ETag"]
        if response.status_code == 200 and response.json()["status"] == "succeeded":
            break
    # Finished: never held, even with the full wait (the request would time out after 5 s).
    again = get_job(service.url, job["id"], etag=etag, wait=30, timeout=5)
    assert again.status_code == 304 and again.headers["ETag"] == etag
    other = get_job(service.url, job["id"], etag='"an-older-version"', wait=30, timeout=5)
    assert other.status_code == 200 and other.json()["status"] == "succeeded"


@pytest.mark.parametrize("wait", ["abc", "-1", "31", "nan", "inf"])
def test_a_bad_wait_is_refused_with_a_json_error(live_server, wait):
    job = submit_image(live_server.url, gradient_png(), k="2")
    response = get_job(live_server.url, job["id"], wait=wait)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert "wait" in response.json()["error"]["message"]


def test_waiters_beyond_the_limit_are_answered_at_once(s3_settings, start_live_server):
    server = start_live_server(s3_settings.replace(max_waiting_requests=1))
    # No worker: the job stays queued, so a waiter waits its whole time.
    job = submit_image(server.url, gradient_png(), k="2")
    etag = get_job(server.url, job["id"]).headers["ETag"]
    answers = []
    holder = threading.Thread(
        target=lambda: answers.append(get_job(server.url, job["id"], etag=etag, wait=8))
    )
    holder.start()
    try:
        broker = redis.Redis.from_url(s3_settings.broker_url)
        [(_, listeners)] = broker.pubsub_numsub(channel(job["id"]))
        while listeners == 0 and holder.is_alive():  # until the holder has the one slot
            time.sleep(0.05)
            [(_, listeners)] = broker.pubsub_numsub(channel(job["id"]))
        assert listeners == 1
        # Not held for 30 s: the request would time out after 5.
        second = get_job(server.url, job["id"], etag=etag, wait=30, timeout=5)
        assert second.status_code == 304 and second.headers["ETag"] == etag
    finally:
        holder.join()
    [first] = answers
    assert first.status_code == 304 and first.headers["ETag"] == etag
