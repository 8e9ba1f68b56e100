"""`Idempotency-Key` on the submitting routes: a retried request makes one job, not two, with
a real Valkey and real (local) storage."""

from __future__ import annotations

import io
import threading

import pytest
import redis

from kcolors.jobs.job import JOBS_PREFIX
from kcolors.jobs.storage import open_storage
from tests.fixtures.openapi import check_response
from tests.images import gradient_png
from web import idempotency


@pytest.fixture
def settings(broker_settings):
    return broker_settings


def stored_jobs(settings) -> set[str]:
    keys = open_storage(settings).list(JOBS_PREFIX)
    return {key.split("/")[1] for key in keys if key.endswith("/job.json")}


def upload(client, key: str | None, seed: int = 1, k: str = "4"):
    form = {"image": (io.BytesIO(gradient_png(seed=seed)), "cat.png"), "k": k}
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/api/jobs", data=form, headers=headers, content_type="multipart/form-data")


def test_a_retried_upload_answers_the_first_job_again(client, settings):
    first = check_response(upload(client, "retry-1"))
    again = check_response(upload(client, "retry-1"))  # a new multipart boundary, same request
    assert first.status_code == again.status_code == 202
    assert again.json["id"] == first.json["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert stored_jobs(settings) == {first.json["id"]}
    # Without a key, or with another one, the same picture is a new submission.
    other = upload(client, "retry-2")
    plain = upload(client, None)
    assert len({first.json["id"], other.json["id"], plain.json["id"]}) == 3


def test_the_same_key_with_another_request_is_refused(client, settings):
    first = upload(client, "mine")
    for changed in (upload(client, "mine", seed=2), upload(client, "mine", k="8")):
        assert changed.status_code == 422
        assert changed.json["error"]["code"] == "idempotency_key_reused"
    source = client.post("/api/jobs", json={"source": "uploads/x.png"},
                         headers={"Idempotency-Key": "mine"})  # fmt: skip
    assert source.status_code == 422
    assert stored_jobs(settings) == {first.json["id"]}


def test_a_failed_first_request_frees_its_key(client, settings):
    refused = upload(client, "fix-and-retry", k="1")  # k must be 2 or more
    assert refused.status_code == 422 and refused.json["error"]["code"] == "invalid_parameter"
    fixed = upload(client, "fix-and-retry", k="4")
    assert fixed.status_code == 202 and "Idempotent-Replayed" not in fixed.headers


def test_a_key_in_flight_answers_409_and_concurrent_requests_make_one_job(app, settings):
    barrier = threading.Barrier(6)
    answers = []

    def submit() -> None:
        client = app.test_client()
        barrier.wait()
        answers.append(upload(client, "together"))

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(answer.status_code for answer in answers)
    assert len(answers) == 6 and set(statuses) <= {202, 409}, statuses
    made = {answer.json["id"] for answer in answers if answer.status_code == 202}
    assert len(made) == 1 and stored_jobs(settings) == made
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json["error"]["code"] == "idempotency_key_in_flight"
            assert answer.headers["Retry-After"] == "1"


def test_odd_keys_are_refused_with_a_clear_error(client, settings):
    for key in ("", "x" * 256, "caf\u00e9", "tab\there", "\u0663\u0664"):
        answer = upload(client, key)
        assert answer.status_code == 400, key
        assert answer.json["error"]["code"] == "invalid_idempotency_key"
    assert stored_jobs(settings) == set()
    assert upload(client, "x" * 255).status_code == 202


def test_a_retried_batch_answers_the_first_batch_again(client, settings):
    storage = open_storage(settings)
    for n in range(3):
        storage.put(f"uploads/idem/p{n}.png", gradient_png(8, 8, seed=n))
    body = {"prefix": "uploads/idem/", "k": [2]}
    headers = {"Idempotency-Key": "batch-1"}
    first = check_response(client.post("/api/batches", json=body, headers=headers))
    again = check_response(client.post("/api/batches", json=body, headers=headers))
    assert first.status_code == again.status_code == 202
    assert again.json["id"] == first.json["id"] and again.headers["Idempotent-Replayed"] == "true"
    batches = {key.split("/")[1] for key in storage.list("batches/") if key.endswith("batch.json")}
    assert batches == {first.json["id"]}
    # The same JSON spaced and ordered otherwise is the same request; another value is not.
    respaced = b'{ "k": [2],\n  "prefix": "uploads/idem/" }'
    same = client.post("/api/batches", data=respaced, headers=headers,
                       content_type="application/json")  # fmt: skip
    assert same.status_code == 202 and same.json["id"] == first.json["id"]
    other = client.post("/api/batches", json={**body, "k": [3]}, headers=headers)
    assert other.status_code == 422 and other.json["error"]["code"] == "idempotency_key_reused"
    deep = client.post("/api/batches", data=b"[" * 10000, headers=headers,
                       content_type="application/json")  # fmt: skip
    assert deep.status_code == 400 and deep.json["error"]["code"] == "invalid_json"


def test_a_key_whose_first_request_still_runs_answers_409_with_retry_after(
    client, settings, monkeypatch
):
    # Another web host has claimed the key for the same request and not answered yet.
    monkeypatch.setattr(idempotency, "request_fingerprint", lambda req: "same-request")
    notices = redis.Redis.from_url(settings.broker_url)
    slot = idempotency.slot_of("address:127.0.0.1", "slow")
    assert idempotency.claim(notices, slot, "same-request", "other-host") is None
    answer = upload(client, "slow")
    assert answer.status_code == 409 and answer.headers["Retry-After"] == "1"
    assert answer.json["error"]["code"] == "idempotency_key_in_flight"
    assert stored_jobs(settings) == set()
    idempotency.free(notices, slot, "other-host")  # its request failed: the retry runs
    assert upload(client, "slow").status_code == 202
