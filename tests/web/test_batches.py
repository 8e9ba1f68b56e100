"""The batch API: a prefix or several uploads, one job per image, progress and a report."""

from __future__ import annotations

import csv
import functools
import io
import json

import pytest
import redis
from werkzeug.datastructures import MultiDict

import kcolors.jobs.batch as batch_module
from kcolors.jobs.batch import (
    MAX_BATCH_IMAGES,
    cancel_items,
    expand,
    load_batch,
    save_batch,
    scheduling_client,
)
from kcolors.jobs.broker import CANCEL_BATCH_TASK, EXPAND_BATCH_TASK, QUEUES, redis_for
from kcolors.jobs.cancel import batch_of, cancel_requested
from kcolors.jobs.events import after_save
from kcolors.jobs.feeder import add_to_backlog, backlog_job_ids, feed
from kcolors.jobs.job import load_job
from kcolors.jobs.runner import run_job
from kcolors.jobs.status import JobStatus
from kcolors.jobs.storage import open_storage
from tests.fixtures.openapi import check_response
from tests.fixtures.prometheus import sample
from tests.images import encode, gradient_image, gradient_png, icc_profile
from web import create_app


@pytest.fixture
def settings(broker_settings):
    return broker_settings


@pytest.fixture
def client(settings):
    return create_app({"TESTING": True, "KCOLORS_SETTINGS": settings}).test_client()


@pytest.fixture
def storage(settings):
    return open_storage(settings)


def run_batch_like_a_worker(storage, settings, batch_id: str) -> list[str]:
    """Do what the Celery tasks do, in this process: expand, then run every job."""
    index = redis_for(settings)
    to_run = expand(storage, index, load_batch(storage, batch_id), settings)
    for job_id in to_run:
        run_job(storage, job_id, settings, on_saved=functools.partial(after_save, index))
    return to_run


def queued_tasks(settings) -> list[str]:
    """The names of the tasks waiting in the queues, the single jobs' queue first."""
    broker = redis.Redis.from_url(settings.broker_url)
    messages = [raw for queue in QUEUES for raw in broker.lrange(queue, 0, -1)]
    return [json.loads(message)["headers"]["task"] for message in messages]


def reads_of(storage, monkeypatch) -> list[str]:
    """The keys `storage` reads from now on, in order (the list grows as it reads)."""
    read: list[str] = []
    real_get = storage.get

    def counted_get(key: str) -> bytes:
        read.append(key)
        return real_get(key)

    monkeypatch.setattr(storage, "get", counted_get)
    return read


def put_pictures(storage, prefix: str, count: int) -> None:
    """Store `count` small distinct pictures under `prefix`, named p000.png and on."""
    for n in range(count):
        storage.put(f"{prefix}p{n:03d}.png", gradient_png(8, 8, seed=n))


def summary_of(status: str, total: int = 5, progress: float = 0.0, **counts: int) -> dict:
    """The summary expected for `total` items with these counts (others zero)."""
    zero = dict.fromkeys(("queued", "running", "succeeded", "failed", "cancelled", "reused"), 0)
    return {"status": status, "total": total, **zero, **counts, "progress": progress}


def test_a_prefix_batch_fans_out_reports_and_reuses(client, storage, settings):
    cats = {f"uploads/cats/cat{n}.png": gradient_png(48, 32, seed=n) for n in range(3)}
    cats["uploads/cats/copy-of-cat0.png"] = cats["uploads/cats/cat0.png"]
    cats["uploads/cats/notes.txt"] = b"not a picture"
    for key, data in cats.items():
        storage.put(key, data)
    storage.put("uploads/dogs/dog.png", gradient_png(seed=9))

    before = client.get("/metrics").text
    response = check_response(
        client.post("/api/batches", json={"prefix": "uploads/cats/", "k": [2, 4]})
    )
    assert response.status_code == 202
    submitted = "kcolors_jobs_submitted_total"
    after = client.get("/metrics").text
    assert sample(after, submitted, kind="batch") - sample(before, submitted, kind="batch") == 5
    batch = response.get_json()
    assert response.headers["Location"] == f"/api/batches/{batch['id']}"
    assert sorted(item["name"] for item in batch["items"]) == sorted(
        key.removeprefix("uploads/cats/") for key in cats
    )
    assert batch["summary"] == summary_of("queued", queued=5)
    assert queued_tasks(settings) == [EXPAND_BATCH_TASK]  # the fan-out happens on a worker

    ran = run_batch_like_a_worker(storage, settings, batch["id"])
    assert len(ran) == 3  # three different pictures; the copy shares cat0's job
    view = check_response(client.get(f"/api/batches/{batch['id']}")).get_json()
    items = {item["name"]: item for item in view["items"]}
    assert items["copy-of-cat0.png"]["job_id"] == items["cat0.png"]["job_id"]
    assert items["copy-of-cat0.png"]["duplicate_of"] == "cat0.png"
    assert items["notes.txt"]["job_id"] is None
    assert items["notes.txt"]["error"]["code"] == "unsupported_format"
    assert view["summary"] == summary_of("finished", succeeded=4, failed=1, reused=1, progress=1.0)

    report = check_response(client.get(f"/api/batches/{batch['id']}/report.json")).get_json()
    rows = report["rows"]
    assert len(rows) == 4 * 2 + 1  # four pictures with k=2 and k=4, one unreadable file
    cat1 = [r for r in rows if r["name"] == "cat1.png"]
    assert [r["k"] for r in cat1] == [2, 4]
    stored = client.get(f"/api/jobs/{cat1[0]['job_id']}").get_json()["results"]
    assert [r["bytes"] for r in cat1] == [r["bytes"] for r in stored]
    assert cat1[0]["input_width"] == 48 and cat1[0]["status"] == "succeeded"

    as_csv = client.get(f"/api/batches/{batch['id']}/report.csv")
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    csv_rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert [(r["name"], r["k"], r["bytes"]) for r in csv_rows] == [
        (r["name"], str(r["k"] or ""), str(r["bytes"] or "")) for r in rows
    ]
    assert next(r for r in csv_rows if r["name"] == "notes.txt")["error_code"] == (
        "unsupported_format"
    )

    # The same prefix again: every picture's outputs exist, nothing runs.
    again = client.post("/api/batches", json={"prefix": "uploads/cats/", "k": [4, 2]}).get_json()
    assert run_batch_like_a_worker(storage, settings, again["id"]) == []
    summary = client.get(f"/api/batches/{again['id']}").get_json()["summary"]
    assert summary["succeeded"] == 4 and summary["reused"] == 4
    reused_rows = client.get(f"/api/batches/{again['id']}/report.json").get_json()["rows"]
    again_cat1 = [r for r in reused_rows if r["name"] == "cat1.png"]
    assert {r["reused"] for r in again_cat1} == {True}
    assert [r["bytes"] for r in again_cat1] == [r["bytes"] for r in cat1]
    assert cat1[0]["job_id"] not in json.dumps(reused_rows)  # no other job is named


def test_an_upload_batch_stores_each_picture_once_checked(client, storage, settings):
    pictures = [("a.png", gradient_png(seed=1)), ("b.jpg", encode(gradient_image(seed=2), "JPEG"))]
    form = {"image": [(io.BytesIO(data), name) for name, data in pictures], "k": "3"}
    response = check_response(
        client.post("/api/batches", data=form, content_type="multipart/form-data")
    )
    assert response.status_code == 202
    batch = response.get_json()
    assert batch["source"] == {"uploads": 2}
    assert [storage.get(item["key"]) for item in batch["items"]] == [d for _, d in pictures]
    run_batch_like_a_worker(storage, settings, batch["id"])
    report = client.get(f"/api/batches/{batch['id']}/report.json").get_json()
    assert [(r["name"], r["k"], r["status"]) for r in report["rows"]] == [
        ("a.png", 3, "succeeded"),
        ("b.jpg", 3, "succeeded"),
    ]


def test_a_batch_records_whose_turns_it_takes_and_the_api_does_not_show_it(
    client, storage, settings
):
    form = {"image": [(io.BytesIO(gradient_png(seed=1)), "a.png")], "k": "3"}
    response = check_response(
        client.post("/api/batches", data=form, content_type="multipart/form-data")
    )
    batch_id = response.get_json()["id"]
    # Without tokens a client is its address (the test client's), as for rate limits.
    assert load_batch(storage, batch_id).client == "address:127.0.0.1"
    for shown in (response.get_json(), client.get(f"/api/batches/{batch_id}").get_json()):
        assert "client" not in shown and "owner" not in shown and "made" not in shown
    # Its job waits in that client's backlog, and goes back there if enqueued again.
    [job_id] = run_batch_like_a_worker(storage, settings, batch_id)
    assert load_job(storage, job_id).batch_client == "address:127.0.0.1"
    assert "batch_client" not in client.get(f"/api/jobs/{job_id}").get_json()


def test_a_batch_passes_optimize_to_every_job(client, storage, settings):
    pictures = [("a.png", gradient_png(seed=1)), ("b.png", gradient_png(seed=2))]
    form = {"image": [(io.BytesIO(data), name) for name, data in pictures], "k": "5",
            "optimize": "true"}  # fmt: skip
    batch = client.post("/api/batches", data=form, content_type="multipart/form-data").get_json()
    assert batch["params"]["optimize"] is True
    for job_id in run_batch_like_a_worker(storage, settings, batch["id"]):
        job = check_response(client.get(f"/api/jobs/{job_id}")).get_json()
        [result] = job["results"]
        assert job["params"]["optimize"] is True
        assert result["bytes_before_optimize"] >= result["bytes"] > 0


def test_heic_and_avif_uploads_make_a_batch_whose_jobs_succeed(client, storage, settings):
    heic = encode(gradient_image(seed=1), "HEIF", icc_profile=icc_profile())
    pictures = [("IMG_0001.HEIC", heic), ("photo.avif", encode(gradient_image(seed=2), "AVIF"))]
    form = {"image": [(io.BytesIO(data), name) for name, data in pictures], "k": "3"}
    response = check_response(
        client.post("/api/batches", data=form, content_type="multipart/form-data")
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    batch = response.get_json()
    assert [item["key"].rsplit(".", 1)[1] for item in batch["items"]] == ["heic", "avif"]
    assert [storage.get(item["key"]) for item in batch["items"]] == [d for _, d in pictures]
    run_batch_like_a_worker(storage, settings, batch["id"])
    report = client.get(f"/api/batches/{batch['id']}/report.json").get_json()
    assert [(r["name"], r["k"], r["status"]) for r in report["rows"]] == [
        ("IMG_0001.HEIC", 3, "succeeded"),
        ("photo.avif", 3, "succeeded"),
    ]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"json": {"prefix": "jobs/", "k": [2]}}, 422, "invalid_source"),
        ({"json": {"prefix": "uploads/nothing-here/", "k": [2]}}, 422, "empty_batch"),
        ({"json": {"prefix": "uploads/", "k": [1]}}, 422, "invalid_parameter"),
        ({"json": ["uploads/"]}, 400, "invalid_json"),
        ({"data": "prefix=uploads/", "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"data": {"k": "2"}, "content_type": "multipart/form-data"}, 400, "missing_image"),
    ],
)
def test_bad_batches_are_refused_before_anything_is_queued(
    client, storage, settings, request_kwargs, status, code
):
    storage.put("uploads/cat.png", gradient_png())
    response = check_response(client.post("/api/batches", **request_kwargs))
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert queued_tasks(settings) == []


def test_one_bad_upload_refuses_the_batch_and_names_the_file(client, settings):
    form = {"image": [(io.BytesIO(gradient_png()), "ok.png"), (io.BytesIO(b"junk"), "bad.png")]}
    response = check_response(
        client.post("/api/batches", data=form, content_type="multipart/form-data")
    )
    assert response.status_code == 415
    assert response.get_json()["error"]["message"].startswith("picture 'bad.png': ")
    assert queued_tasks(settings) == []


def test_unknown_batch_is_404(client):
    for path in ("", "/report.json", "/report.csv"):
        response = check_response(client.get(f"/api/batches/01ARZ3NDEKTSV4RRFFQ69G5FAV{path}"))
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "batch_not_found"


def test_the_largest_batch_of_uploads_is_accepted_and_one_more_is_named(client, storage):
    """1,000 pictures and the parameters are more than werkzeug's default of 1,000 form parts:
    the largest batch must not be refused as an oversized request."""
    picture = gradient_png(4, 4)

    def post(count: int):
        files = [("image", (io.BytesIO(picture), f"{n}.png")) for n in range(count)]
        form = MultiDict([*files, ("k", "2"), ("k", "4")])
        return client.post("/api/batches", data=form, content_type="multipart/form-data")

    response = post(MAX_BATCH_IMAGES)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert len(response.get_json()["items"]) == MAX_BATCH_IMAGES
    response = post(MAX_BATCH_IMAGES + 1)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "batch_too_large"


def test_the_summary_reads_one_document_whatever_the_batch_size(
    client, storage, settings, monkeypatch
):
    put_pictures(storage, "uploads/many/", 120)
    batch = client.post("/api/batches", json={"prefix": "uploads/many/", "k": [2]}).get_json()
    run_batch_like_a_worker(storage, settings, batch["id"])
    read = reads_of(storage, monkeypatch)
    view = check_response(client.get(f"/api/batches/{batch['id']}")).get_json()
    assert read == [f"batches/{batch['id']}/batch.json"]  # no job document is read
    assert view["summary"] == summary_of("finished", total=120, succeeded=120, progress=1.0)
    # ... and it is what counting every job from storage says.
    redis.Redis.from_url(settings.broker_url).flushall()
    again = client.get(f"/api/batches/{batch['id']}").get_json()["summary"]
    assert again == view["summary"] and len(read) > 100


def test_the_report_is_streamed_a_page_of_jobs_at_a_time(client, storage, settings, monkeypatch):
    put_pictures(storage, "uploads/many/", 120)
    storage.put("uploads/many/p999.png", gradient_png(8, 8, seed=3))  # a twin of p003
    batch = client.post("/api/batches", json={"prefix": "uploads/many/", "k": [2]}).get_json()
    run_batch_like_a_worker(storage, settings, batch["id"])
    monkeypatch.setattr(batch_module, "REPORT_ITEMS_PER_PAGE", 50)
    read = reads_of(storage, monkeypatch)
    for suffix in ("json", "csv"):
        response = client.get(f"/api/batches/{batch['id']}/report.{suffix}")
        assert response.status_code == 200 and response.is_streamed
        read.clear()
        chunks, jobs_read_between = [], []
        for chunk in response.response:  # the body as the server sends it, chunk by chunk
            chunks.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
            jobs_read_between.append(sum(key.startswith("jobs/") for key in read))
            read.clear()
        # The first page was read before the response began; no later chunk needed more than
        # one page of job documents (50 items; the twin's job is read again with its page).
        assert max(jobs_read_between) <= 50 and sum(jobs_read_between) >= 70
        body = "".join(chunks)
        if suffix == "json":
            report = json.loads(body)
            assert report["batch"] == batch["id"] and report["summary"]["succeeded"] == 121
            names = [row["name"] for row in report["rows"]]
            assert sorted(names) == sorted(f"p{n:03d}.png" for n in [*range(120), 999])
            twin = next(r for r in report["rows"] if r["name"] == "p999.png")
            original = next(r for r in report["rows"] if r["name"] == "p003.png")
            assert twin["job_id"] == original["job_id"] and twin["bytes"] == original["bytes"]
        else:
            rows = list(csv.DictReader(io.StringIO(body)))
            assert [row["name"] for row in rows] == names  # the same rows, in the same order
            assert body.count("name,job_id,status") == 1  # one header line


def test_cancel_stops_a_batch_at_once_and_its_jobs_end_in_the_background(
    client, storage, settings, monkeypatch
):
    put_pictures(storage, "uploads/big/", 60)
    batch = client.post("/api/batches", json={"prefix": "uploads/big/", "k": [2]}).get_json()
    notices = redis_for(settings)
    made = load_batch(storage, batch["id"])
    waiting = expand(storage, notices, made, settings)
    add_to_backlog(notices, scheduling_client(made), waiting, batch_id=batch["id"])
    [first, *rest] = waiting
    run_job(storage, first, settings, on_saved=functools.partial(after_save, notices))

    read = reads_of(storage, monkeypatch)
    cancelled = client.delete(f"/api/batches/{batch['id']}")
    assert cancelled.status_code == 202 and cancelled.json["cancelled_at"]
    assert not [key for key in read if key.startswith("jobs/")]  # no job read: O(1) at any size
    assert CANCEL_BATCH_TASK in queued_tasks(settings)
    # An expansion's save of its own copy writes over the document's cancel: the flag keeps it.
    made.cancelled_at = None
    save_batch(storage, made)
    shown = client.get(f"/api/batches/{batch['id']}").json
    assert shown["cancelled_at"] == cancelled.json["cancelled_at"]

    # Stopped at once: the feeder sends none of its jobs, and a worker given one starts none.
    sent: list[str] = []
    asked = lambda job_id, batch_id: cancel_requested(notices, job_id, batch_id)  # noqa: E731
    feed(notices, sent.append, queue="unused", window=100, cancelled=asked)
    assert sent == [] and backlog_job_ids(notices) == set()

    def cancel_asked(job) -> bool:
        return cancel_requested(notices, job.id, batch_of(job))

    counted = functools.partial(after_save, notices)
    stopped = run_job(storage, rest[0], settings, on_saved=counted, cancelled=cancel_asked)
    assert stopped.status is JobStatus.CANCELLED and stopped.results == []
    # The cancel task ends the others' documents, a part at a time; the summary adds up.
    start: int | None = 0
    parts = 0
    while start is not None:
        start = cancel_items(storage, notices, load_batch(storage, batch["id"]), start, 0.0)
        parts += 1
    assert parts == 60  # a deadline already past: one item a part, each part progresses
    statuses = [load_job(storage, job_id).status for job_id in rest]
    assert set(statuses) == {JobStatus.CANCELLED}
    summary = client.get(f"/api/batches/{batch['id']}").json["summary"]
    assert summary == summary_of("finished", total=60, succeeded=1, cancelled=59, progress=1.0)
    assert load_job(storage, first).status is JobStatus.SUCCEEDED  # what ran stays done
