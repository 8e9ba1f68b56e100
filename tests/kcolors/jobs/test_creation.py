"""The one job-creation path (API, form and batches): stored, announced, reused, failed."""

import pytest

from kcolors.engine.params import QuantizeParams
from kcolors.engine.probe import probe_image
from kcolors.errors import BrokerUnavailable
from kcolors.jobs.batch import Batch, expand, save_batch
from kcolors.jobs.creation import create_job, enqueue_job
from kcolors.jobs.events import latest_version
from kcolors.jobs.job import JobStatus, load_job, save_job
from kcolors.jobs.runner import after_save
from kcolors.jobs.storage import LocalStorage
from tests.images import encode, gradient_image, gradient_png


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "store")


def test_a_new_job_is_stored_with_its_upload_and_announced(storage, broker):
    data = gradient_png()
    job = create_job(storage, broker, QuantizeParams(k=(2,)), probe_image(data, 10**6), data)
    assert job.status is JobStatus.QUEUED and storage.get(job.input["key"]) == data
    assert load_job(storage, job.id).to_dict() == job.to_dict()
    assert latest_version(broker, job.id)[1] == "queued"


def test_identical_work_is_reused_and_announced_finished(storage, broker):
    data, params = gradient_png(), QuantizeParams(k=(2,))
    first = create_job(storage, broker, params, probe_image(data, 10**6), data)
    first.start()
    storage.put(f"jobs/{first.id}/k2.png", b"output")
    first.record_result(2, {"bytes": 6}, f"jobs/{first.id}/k2.png")
    first.succeed({})
    save_job(storage, first)
    after_save(broker, first)  # indexes the success for reuse
    again = create_job(storage, broker, params, probe_image(data, 10**6), data)
    assert again.status is JobStatus.SUCCEEDED and again.reused_from == first.id
    assert latest_version(broker, again.id)[1] == "succeeded"


def test_a_job_the_broker_cannot_take_ends_failed_never_queued(storage, broker):
    data = gradient_png()
    job = create_job(storage, broker, QuantizeParams(k=(2,)), probe_image(data, 10**6), data)

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
    to_run = expand(storage, broker, batch, 10**6)
    assert len(to_run) == 3
    for job_id in to_run:
        job = load_job(storage, job_id)
        assert job.input["key"].startswith("uploads/b/") and job.input["sha256"]
        assert latest_version(broker, job_id)[1] == "queued"
    [unreadable] = [item for item in batch.items if item["error"]]
    assert unreadable["name"] == "notes.txt"
    assert unreadable["error"]["code"] == "unsupported_format"
