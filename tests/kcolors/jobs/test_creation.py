"""The one job-creation path (API, form and batches): stored, announced, reused, failed."""

import json

import pytest

import kcolors.jobs.batch as batch_module
from kcolors.engine.params import QuantizeParams
from kcolors.errors import BrokerUnavailable, WorkBudgetExceeded
from kcolors.jobs.batch import (
    CANCEL_CHECK_ITEMS,
    Batch,
    expand,
    load_batch,
    mark_sent,
    save_batch,
)
from kcolors.jobs.cancel import request_batch_cancel
from kcolors.jobs.creation import create_job, enqueue_job, probe
from kcolors.jobs.events import after_save, latest_version
from kcolors.jobs.job import JobStatus, load_job, save_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import LocalStorage
from tests.images import encode, gradient_image, gradient_png

SETTINGS = Settings()


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "store")


def test_a_new_job_is_stored_with_its_upload_and_announced(storage, broker):
    data = gradient_png()
    job = create_job(storage, broker, SETTINGS, QuantizeParams(k=(2,)), probe(data, SETTINGS), data)
    assert job.status is JobStatus.QUEUED and storage.get(job.input["key"]) == data
    assert load_job(storage, job.id).to_dict() == job.to_dict()
    assert latest_version(broker, job.id)[1] == "queued"


def test_identical_work_is_reused_and_announced_finished(storage, broker):
    data, params = gradient_png(), QuantizeParams(k=(2,))
    first = create_job(storage, broker, SETTINGS, params, probe(data, SETTINGS), data)
    first.start()
    storage.put(f"jobs/{first.id}/k2.png", b"output")
    first.record_result(2, {"bytes": 6}, f"jobs/{first.id}/k2.png")
    first.succeed({})
    save_job(storage, first)
    after_save(broker, first)  # indexes the success for reuse
    again = create_job(storage, broker, SETTINGS, params, probe(data, SETTINGS), data)
    assert again.status is JobStatus.SUCCEEDED and again.reused
    # Copies under the new job's own keys: the document names no other job.
    assert again.results[0]["key"] == f"jobs/{again.id}/k2.png"
    assert storage.get(again.results[0]["key"]) == b"output"
    assert first.id not in json.dumps(again.to_dict())
    assert latest_version(broker, again.id)[1] == "succeeded"
    # Counted as finished, as the computed job was: submitted = finished + in flight.
    assert broker.hget("kcolors:metrics:jobs_finished", "succeeded") == b"2"


def test_with_tokens_reuse_stays_within_one_clients_jobs(storage, broker):
    data, params = gradient_png(), QuantizeParams(k=(2,))
    first = create_job(storage, broker, SETTINGS, params, probe(data, SETTINGS), data, owner="a")
    first.start()
    storage.put(f"jobs/{first.id}/k2.png", b"output")
    first.record_result(2, {"bytes": 6}, f"jobs/{first.id}/k2.png")
    first.succeed({})
    save_job(storage, first)
    after_save(broker, first)
    other = create_job(storage, broker, SETTINGS, params, probe(data, SETTINGS), data, owner="b")
    assert other.status is JobStatus.QUEUED and not other.reused
    same = create_job(storage, broker, SETTINGS, params, probe(data, SETTINGS), data, owner="a")
    assert same.status is JobStatus.SUCCEEDED and same.reused


def test_a_job_the_broker_cannot_take_ends_failed_never_queued(storage, broker):
    data = gradient_png()
    job = create_job(storage, broker, SETTINGS, QuantizeParams(k=(2,)), probe(data, SETTINGS), data)

    def broker_down(job_id: str) -> None:
        raise BrokerUnavailable("the job queue is unreachable")

    with pytest.raises(BrokerUnavailable):
        enqueue_job(storage, broker, job, broker_down)
    assert load_job(storage, job.id).status is JobStatus.FAILED
    assert latest_version(broker, job.id)[1] == "failed"


def test_batch_jobs_come_from_the_same_path_and_are_announced(storage, broker):
    pictures = [encode(gradient_image(seed=n)) for n in range(3)]
    for number, data in enumerate(pictures):
        storage.put(f"uploads/b/{number}.png", data)
    storage.put("uploads/b/notes.txt", b"not a picture")
    names = [(key.rsplit("/", 1)[1], key) for key in storage.list("uploads/b/")]
    batch = Batch.create(QuantizeParams(k=(2,)), {"prefix": "uploads/b/"}, names)
    save_batch(storage, batch)
    to_run = expand(storage, broker, batch, SETTINGS)
    assert len(to_run) == 3
    for job_id in to_run:
        job = load_job(storage, job_id)
        assert job.input["key"].startswith("uploads/b/") and job.input["sha256"]
        assert latest_version(broker, job_id)[1] == "queued"
    [unreadable] = [item for item in batch.items if item["error"]]
    assert unreadable["name"] == "notes.txt"
    assert unreadable["error"]["code"] == "unsupported_format"


def stored_batch(storage, count: int) -> Batch:
    for number in range(count):
        storage.put(f"uploads/p/{number}.png", gradient_png(16, 12, seed=number))
    names = [(key.rsplit("/", 1)[1], key) for key in storage.list("uploads/p/")]
    batch = Batch.create(QuantizeParams(k=(2,)), {"prefix": "uploads/p/"}, names)
    save_batch(storage, batch)
    return batch


def test_an_expansion_past_its_deadline_goes_on_one_item_a_part_and_sends_each_job_once(
    storage, broker
):
    """A deadline already past: every part still makes one job (it never stalls), and each
    job is sent by exactly one part."""
    batch_id = stored_batch(storage, 4).id
    sent: list[str] = []
    for _ in range(10):
        batch = load_batch(storage, batch_id)
        if batch.expanded_at is not None:
            break
        to_run = expand(storage, broker, batch, SETTINGS, deadline=0.0)
        sent += to_run
        if batch.expanded_at is None:
            mark_sent(storage, batch, to_run)
    batch = load_batch(storage, batch_id)
    assert batch.expanded_at is not None
    assert sorted(sent) == sorted(item["job_id"] for item in batch.items)
    assert len(set(sent)) == 4


def test_a_cancel_between_two_parts_stops_the_rest_and_cancels_what_was_made(storage, broker):
    batch = stored_batch(storage, 3)
    mark_sent(storage, batch, expand(storage, broker, batch, SETTINGS, deadline=0.0))
    first = next(item for item in batch.items if item["job_id"])
    cancelled = load_batch(storage, batch.id)
    cancelled.cancelled_at = "2026-12-07T00:00:00Z"
    save_batch(storage, cancelled)  # as the web's cancel does, between two parts

    assert expand(storage, broker, load_batch(storage, batch.id), SETTINGS) == []
    batch = load_batch(storage, batch.id)
    assert batch.expanded_at is not None
    assert load_job(storage, first["job_id"]).status is JobStatus.CANCELLED
    rest = [item for item in batch.items if item["name"] != first["name"]]
    assert [item["job_id"] for item in rest] == [None, None]
    assert {item["error"]["code"] for item in rest} == {"cancelled"}


def test_an_expansion_stops_within_a_few_items_of_the_cancel_flag(storage, broker, monkeypatch):
    """The flag alone stops it (the document's cancel may have been written over by the
    expansion's own save): no more jobs are made, and those made are cancelled."""
    batch = stored_batch(storage, 2 * CANCEL_CHECK_ITEMS + 5)
    made: list[str] = []
    real_expand_item = batch_module.expand_item

    def expand_item_then_cancel(*args, **kwargs):
        job = real_expand_item(*args, **kwargs)
        made.append(job.id)
        if len(made) == 3:  # the client cancels while the expansion runs
            request_batch_cancel(broker, batch.id, "2026-12-07T00:00:00Z")
        return job

    monkeypatch.setattr(batch_module, "expand_item", expand_item_then_cancel)
    assert expand(storage, broker, batch, SETTINGS) == []
    assert len(made) == CANCEL_CHECK_ITEMS  # up to the next look at the flag, no further
    batch = load_batch(storage, batch.id)
    assert batch.expanded_at is not None and batch.cancelled_at == "2026-12-07T00:00:00Z"
    assert {load_job(storage, job_id).status for job_id in made} == {JobStatus.CANCELLED}
    left = [item for item in batch.items if item["job_id"] is None]
    assert len(left) == CANCEL_CHECK_ITEMS + 5
    assert {item["error"]["code"] for item in left} == {"cancelled"}


@pytest.mark.parametrize(
    ("params", "work"),
    [
        (QuantizeParams(k=tuple(range(2, 12))), 10),
        (QuantizeParams(k=(2,), target_psnr=30), 9),
        (QuantizeParams(k=(2, 3), optimize=True), 12),  # oxipng: 5 more a PNG
        (QuantizeParams(k=(2,), target_psnr=30, optimize=True), 19),
    ],
)
def test_a_job_over_the_work_budget_is_refused_before_anything_is_stored(
    storage, broker, params, work
):
    data = gradient_png(64, 48)  # 3,072 pixels
    settings = Settings(max_job_work=3072 * work - 1)
    with pytest.raises(WorkBudgetExceeded) as caught:
        create_job(storage, broker, settings, params, probe(data, settings), data)
    assert caught.value.http_status == 422
    assert f"3,072 pixels x {work} outputs" in caught.value.message
    assert f"more than the limit of {3072 * work - 1:,} per job" in caught.value.message
    assert storage.list("") == []
    loose = Settings(max_job_work=3072 * work)
    assert create_job(storage, broker, loose, params, probe(data, loose), data).id
