"""A batch's counters against a real Valkey: exact whatever the order and the repeats, twins
follow their job, lost counters are made again from storage, and the sweep counts a job whose
worker died between its save and its count."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import pytest

from kcolors.engine.params import QuantizeParams
from kcolors.jobs.batch import Batch, batch_summary, expand, load_batch, save_batch
from kcolors.jobs.batch_counts import (
    add_twin,
    count_item,
    first_items,
    read_counts,
    set_total,
)
from kcolors.jobs.events import after_save
from kcolors.jobs.job import JobStatus, load_job, save_job
from kcolors.jobs.reconcile import reconcile
from kcolors.jobs.runner import run_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import LocalStorage
from tests.images import gradient_png

SETTINGS = Settings()
BATCH = "01JBATCH0000000000000000000"


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "store")


def counts(broker, batch_id=BATCH) -> dict[str, int]:
    found = read_counts(broker, batch_id)
    assert found is not None
    return found


def test_counting_again_or_late_changes_nothing(broker):
    set_total(broker, BATCH, 4)
    count_item(broker, BATCH, 0, "running")
    count_item(broker, BATCH, 0, "running")  # a save announced twice
    assert counts(broker)["running"] == 1 and counts(broker)["queued"] == 3
    count_item(broker, BATCH, 0, "succeeded")
    count_item(broker, BATCH, 0, "succeeded")
    count_item(broker, BATCH, 0, "running")  # a late `running` after the end
    count_item(broker, BATCH, 0, "failed")  # an end never changes
    # Item 1 ends without having started (cancelled while queued), then a stale start comes.
    count_item(broker, BATCH, 1, "cancelled")
    count_item(broker, BATCH, 1, "running")
    count_item(broker, BATCH, 2, "succeeded", reused=True)
    count_item(broker, BATCH, 2, "succeeded", reused=True)
    assert counts(broker) == {
        "total": 4, "queued": 1, "running": 0, "succeeded": 2, "failed": 0, "cancelled": 1,
        "reused": 1,
    }  # fmt: skip


def test_a_twin_follows_its_job_whether_it_comes_before_or_after_the_end(broker):
    set_total(broker, BATCH, 4)
    add_twin(broker, BATCH, 1, "job-a", 0)  # before job a starts
    count_item(broker, BATCH, 0, "running", job_id="job-a")
    assert counts(broker)["running"] == 2
    count_item(broker, BATCH, 0, "succeeded", job_id="job-a")
    add_twin(broker, BATCH, 2, "job-a", 0)  # after job a ended: counted as it ended
    count_item(broker, BATCH, 3, "failed")
    assert counts(broker) == {
        "total": 4, "queued": 0, "running": 0, "succeeded": 3, "failed": 1, "cancelled": 0,
        "reused": 2,
    }  # fmt: skip
    assert first_items(broker, BATCH, "succeeded", 2) == [0, 1]
    assert first_items(broker, BATCH, "failed", 10) == [3]
    assert first_items(broker, BATCH, "cancelled", 10) == []


def make_batch(storage, broker, pictures: dict[str, bytes]) -> Batch:
    for key, data in pictures.items():
        storage.put(key, data)
    names = [(key.rsplit("/", 1)[1], key) for key in pictures]
    batch = Batch.create(QuantizeParams(k=(2,)), {"prefix": "in/"}, names)
    save_batch(storage, batch)
    set_total(broker, batch.id, len(names))
    return batch


def run_all(storage, broker, batch: Batch) -> None:
    for job_id in expand(storage, broker, batch, SETTINGS):
        run_job(storage, job_id, SETTINGS, on_saved=functools.partial(after_save, broker))


def test_counters_redis_lost_are_made_again_from_storage_exactly(storage, broker):
    pictures = {f"in/p{n}.png": gradient_png(16, 16, seed=n) for n in range(5)}
    pictures["in/twin.png"] = pictures["in/p0.png"]
    pictures["in/bad.png"] = b"not a picture"
    batch = make_batch(storage, broker, pictures)
    run_all(storage, broker, batch)
    batch = load_batch(storage, batch.id)
    kept = batch_summary(storage, broker, batch)
    assert kept["succeeded"] == 6 and kept["failed"] == 1 and kept["reused"] == 1
    assert kept["status"] == "finished"

    broker.flushall()  # Redis lost its data
    assert read_counts(broker, batch.id) is None
    assert batch_summary(storage, broker, batch) == kept
    assert read_counts(broker, batch.id) is not None  # recorded again: the next read is one


def test_the_sweep_counts_a_job_whose_worker_died_between_save_and_count(storage, broker):
    batch = make_batch(storage, broker, {"in/a.png": gradient_png(16, 16)})
    [job_id] = expand(storage, broker, batch, SETTINGS)
    job = load_job(storage, job_id)
    job.start()
    job.succeed({})
    save_job(storage, job)  # and the worker died here, before `after_save`
    batch = load_batch(storage, batch.id)
    assert batch_summary(storage, broker, batch)["succeeded"] == 0

    reconcile(
        storage, broker, lambda task, item: None, queue="kcolors", job_task="job",
        batch_task="batch", created_after=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    assert load_job(storage, job_id).status is JobStatus.SUCCEEDED
    assert batch_summary(storage, broker, batch)["succeeded"] == 1
    assert batch_summary(storage, broker, batch)["status"] == "finished"
