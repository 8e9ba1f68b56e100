"""Running jobs with the real engine and local storage, without a broker."""

import io
import json
import time

import pytest
from PIL import Image

from kcolors.engine.params import QuantizeParams
from kcolors.errors import StorageUnavailable
from kcolors.jobs.job import Job, JobStatus, input_key, job_key, load_job, save_job
from kcolors.jobs.runner import fail_job, run_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import LocalStorage
from tests.images import gradient_png


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "store")


@pytest.fixture
def settings(tmp_path):
    return Settings(storage_url=f"file://{tmp_path / 'store'}")


def queue_job(storage, data, ks=(2, 6)):
    job = Job.create(QuantizeParams(k=ks), "", {"format": "png"})
    job.input["key"] = input_key(job.id, "png")
    storage.put(job.input["key"], data)
    save_job(storage, job)
    return job


def test_run_job_stores_each_output_and_finishes(storage, settings):
    job = queue_job(storage, gradient_png(50, 40))
    done = run_job(storage, job.id, settings)
    assert done.status is JobStatus.SUCCEEDED and done.progress == 1
    stored = load_job(storage, job.id)
    assert stored.to_dict() == done.to_dict()
    assert stored.input["width"] == 50 and stored.input["distinct_colors"] > 6
    assert stored.timings["engine"] > 0 and stored.timings["storage"] > 0
    for result in stored.results:
        image = Image.open(io.BytesIO(storage.get(result["key"])))
        assert image.mode == "P" and len(image.getcolors(256)) <= result["k"]


def test_rerun_after_a_lost_worker_rewrites_the_same_objects(storage, settings):
    job = queue_job(storage, gradient_png(30, 30))
    first = run_job(storage, job.id, settings)
    keys = storage.list(f"jobs/{job.id}/")
    outputs = {r["key"]: storage.get(r["key"]) for r in first.results}
    # The worker died after storing outputs but before acknowledging: the job is redelivered.
    document = json.loads(storage.get(job_key(job.id)))
    document.update(status="running", finished_at=None)
    storage.put(job_key(job.id), json.dumps(document).encode())
    again = run_job(storage, job.id, settings)
    assert again.status is JobStatus.SUCCEEDED and again.attempts == 2
    assert storage.list(f"jobs/{job.id}/") == keys
    assert {r["key"]: storage.get(r["key"]) for r in again.results} == outputs  # deterministic


def test_finished_job_is_skipped(storage, settings):
    job = queue_job(storage, gradient_png())
    run_job(storage, job.id, settings)
    before = storage.get(job_key(job.id))
    assert run_job(storage, job.id, settings).status is JobStatus.SUCCEEDED
    assert storage.get(job_key(job.id)) == before


def test_undecodable_input_fails_with_the_engine_code(storage, settings):
    job = queue_job(storage, b"definitely not a picture")
    failed = run_job(storage, job.id, settings)
    assert failed.status is JobStatus.FAILED and failed.error["code"] == "unsupported_format"
    assert load_job(storage, job.id).error == failed.error


def test_missing_input_fails_with_object_not_found(storage, settings):
    job = queue_job(storage, gradient_png())
    storage.delete(job.input["key"])
    assert run_job(storage, job.id, settings).error["code"] == "object_not_found"


class OutputsUnwritable(LocalStorage):
    """A storage whose output writes fail, as when the S3 server goes away mid-job."""

    def put(self, key, data, content_type="application/octet-stream"):
        if "/k" in key:
            raise StorageUnavailable("connection refused")
        super().put(key, data, content_type)


def test_storage_failure_propagates_for_retry_and_leaves_the_job_running(tmp_path, settings):
    storage = OutputsUnwritable(tmp_path / "store")
    job = queue_job(storage, gradient_png())
    with pytest.raises(StorageUnavailable):
        run_job(storage, job.id, settings)
    assert load_job(storage, job.id).status is JobStatus.RUNNING
    failed = fail_job(storage, job.id, "storage_unavailable", "gave up")
    assert failed.status is JobStatus.FAILED
    assert fail_job(storage, job.id, "other", "x").error["code"] == "storage_unavailable"


def test_task_retries_storage_errors_then_ends_failed(tmp_path, settings, monkeypatch):
    """The Celery task, run eagerly in-process: retries with backoff, then records a failure."""
    from worker import tasks

    storage = OutputsUnwritable(tmp_path / "store")
    job = queue_job(storage, gradient_png())
    monkeypatch.setattr(tasks, "worker_storage", lambda: storage)
    monkeypatch.setattr(tasks, "worker_settings", lambda: settings)
    result = tasks.process_job.apply(args=[job.id])
    assert result.get() == "failed"
    stored = load_job(storage, job.id)
    assert stored.status is JobStatus.FAILED and stored.error["code"] == "storage_unavailable"
    assert stored.attempts == settings.storage_retries + 1


def test_retry_delay_backs_off_and_is_capped_at_any_retry_count():
    """Celery's backoff in integer arithmetic: past retry 1,024 a float would overflow."""
    from worker.tasks import retry_delay

    delays = {retries: [retry_delay(retries) for _ in range(50)] for retries in (0, 3, 1024, 20160)}
    assert all(0 <= d <= 1 for d in delays[0]) and all(0 <= d <= 8 for d in delays[3])
    assert all(0 <= d <= 30 for d in delays[1024] + delays[20160])
    assert len(set(delays[1024])) > 5  # jittered, not one fixed wait


class DocumentsUnwritable(LocalStorage):
    """A storage that reads, but cannot store a job document while `down` (S3 half away)."""

    down = True

    def put(self, key, data, content_type="application/octet-stream"):
        if self.down and key.endswith("/job.json"):
            raise StorageUnavailable("connection refused")
        super().put(key, data, content_type)


def test_a_failure_is_recorded_past_retry_1024_and_retried_up_to_its_limit(tmp_path, monkeypatch):
    """`record_failure_later` keeps trying for days: at retry 1,500 it still backs off (it
    raised `OverflowError` from retry 1,024 before) and records the failure once storage is
    back; at its last retries it gives up with the storage's error."""
    from worker import tasks

    storage = DocumentsUnwritable(tmp_path / "store")
    storage.down = False
    job = queue_job(storage, gradient_png())
    storage.down = True
    monkeypatch.setattr(tasks, "worker_storage", lambda: storage)
    last = tasks.record_failure_later.max_retries
    assert last * tasks.defaults.STORAGE_RETRY_MAX_SECONDS / 2 >= 7 * 24 * 3600
    given_up = tasks.record_failure_later.apply(args=[job.id, "x_failed", "why"], retries=last - 2)
    assert isinstance(given_up.result, StorageUnavailable), given_up.result
    assert load_job(storage, job.id).status is JobStatus.QUEUED
    storage.down = False
    recorded = tasks.record_failure_later.apply(args=[job.id, "x_failed", "why"], retries=1500)
    assert recorded.get() == "failed"
    assert load_job(storage, job.id).error["code"] == "x_failed"


def mark_interrupted(storage, job_id, results, attempts=1):
    """Rewrite the document as a worker lost mid-job leaves it: running, some results stored."""
    document = json.loads(storage.get(job_key(job_id)))
    document.update(status="running", finished_at=None, attempts=attempts, results=results)
    storage.put(job_key(job_id), json.dumps(document).encode())


def test_rerun_after_a_lost_worker_keeps_the_outputs_it_stored(storage, settings):
    job = queue_job(storage, gradient_png(30, 30), ks=(2, 6))
    first = run_job(storage, job.id, settings)
    [kept, _] = first.results
    storage.put(kept["key"], b"stored by the lost worker")  # to tell whether it is rewritten
    mark_interrupted(storage, job.id, [kept])
    again = run_job(storage, job.id, settings)
    assert again.status is JobStatus.SUCCEEDED and [r["k"] for r in again.results] == [2, 6]
    assert storage.get(kept["key"]) == b"stored by the lost worker"
    assert again.results[1]["key"] == first.results[1]["key"]


def test_a_job_started_too_often_fails_instead_of_looping(storage, settings):
    job = queue_job(storage, gradient_png(30, 30))
    mark_interrupted(storage, job.id, [], attempts=10)
    failed = run_job(storage, job.id, settings)
    assert failed.status is JobStatus.FAILED and failed.error["code"] == "too_many_attempts"
    assert storage.list(f"jobs/{job.id}/") == sorted([job.input["key"], job_key(job.id)])


class RecordingStorage(LocalStorage):
    """Local storage that remembers every key written, in order."""

    def __init__(self, root):
        super().__init__(root)
        self.written = []

    def put(self, key, data, content_type="application/octet-stream"):
        self.written.append(key)
        super().put(key, data, content_type)


def test_outputs_stored_but_not_recorded_before_a_kill_are_not_written_again(tmp_path, settings):
    storage = RecordingStorage(tmp_path / "store")
    job = queue_job(storage, gradient_png(30, 30), ks=(2, 6))
    first = run_job(storage, job.id, settings)
    # Killed after storing both outputs, before the document recorded them.
    mark_interrupted(storage, job.id, [])
    storage.written.clear()
    again = run_job(storage, job.id, settings)
    assert again.status is JobStatus.SUCCEEDED and again.attempts == 2
    assert set(storage.written) == {job_key(job.id)}  # only the document: no output again
    untimed = [[{**r, "timings": None} for r in job.results] for job in (first, again)]
    assert untimed[0] == untimed[1]  # the same outputs, recorded from the rerun's engine


def test_each_output_lands_before_the_document_that_names_it(tmp_path, settings):
    storage = RecordingStorage(tmp_path / "store")
    job = queue_job(storage, gradient_png(30, 30), ks=(2, 4, 6))
    storage.written.clear()
    done = run_job(storage, job.id, settings)
    outputs = [r["key"] for r in done.results]
    assert [key for key in storage.written if key in outputs] == outputs  # in k order
    document_writes = [i for i, key in enumerate(storage.written) if key == job_key(job.id)]
    # `running` before any output, `succeeded` after all, progress saves in between
    assert document_writes[0] < storage.written.index(outputs[0])
    assert document_writes[-1] > storage.written.index(outputs[-1])
    assert 2 <= len(document_writes) <= 4
    for index in document_writes[1:-1]:  # each progress save names only outputs stored before it
        saved_before = [key for key in storage.written[:index] if key in outputs]
        assert saved_before, "a progress save with no output before it"


class SlowOutputStorage(RecordingStorage):
    """Output writes that take longer than the engine: the outputs queue up behind them."""

    def put(self, key, data, content_type="application/octet-stream"):
        if "/k" in key:
            time.sleep(0.3)
        super().put(key, data, content_type)


def test_progress_saves_are_coalesced_when_the_engine_outpaces_storage(tmp_path, settings):
    storage = SlowOutputStorage(tmp_path / "store")
    job = queue_job(storage, gradient_png(30, 30), ks=(2, 4, 6, 8))
    storage.written.clear()
    done = run_job(storage, job.id, settings)
    assert done.status is JobStatus.SUCCEEDED and [r["k"] for r in done.results] == [2, 4, 6, 8]
    # running, succeeded, and fewer than the three progress saves of one per output
    assert storage.written.count(job_key(job.id)) < 5
    assert load_job(storage, job.id).to_dict() == done.to_dict()


def test_the_stage_says_in_words_where_a_running_job_is_and_goes_when_it_ends(storage, settings):
    from kcolors.jobs.runner import first_stage, stage_after

    job = queue_job(storage, gradient_png(50, 40), ks=(2, 6))
    assert first_stage(job) == "Decoding and counting colours, then k = 2"
    job.start()
    job.record_result(2, {"bytes": 1}, "jobs/x/k2.png")
    assert stage_after(job) == "1 of 2 outputs made; now k = 6"
    auto = Job.create(QuantizeParams(k=(), target_psnr=30), "", {"format": "png"})
    assert first_stage(auto).endswith("the fewest colours reaching 30 dB")
    seen = []
    done = run_job(storage, job.id, settings, on_saved=lambda saved: seen.append(saved.stage))
    assert done.stage is None and "stage" not in load_job(storage, job.id).to_dict()
    assert seen[-1] is None  # the finished document carries no stage
