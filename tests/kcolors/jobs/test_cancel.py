"""Cancelling: a queued job ends at once, a running one at its next output with the outputs made
so far, a finished one is left as it is; the request survives a worker that saved over it."""

from __future__ import annotations

import pytest

from kcolors.engine.params import QuantizeParams
from kcolors.errors import JobFinished
from kcolors.jobs.cancel import cancel_key, cancel_requested, request_cancel
from kcolors.jobs.creation import create_job, probe
from kcolors.jobs.events import latest_version
from kcolors.jobs.job import Job, JobStatus, load_job, save_job
from kcolors.jobs.runner import run_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import LocalStorage
from tests.images import gradient_png


@pytest.fixture
def settings(tmp_path):
    return Settings(storage_url=f"file://{tmp_path / 'store'}")


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "store")


def new_job(storage, broker, settings, ks=(2, 4, 8)) -> Job:
    data = gradient_png(80, 60)
    return create_job(storage, broker, settings, QuantizeParams(k=ks), probe(data, settings), data)


def test_a_queued_job_ends_cancelled_at_once_and_never_runs(storage, broker, settings):
    job = request_cancel(storage, broker, new_job(storage, broker, settings))
    assert job.status is JobStatus.CANCELLED and job.finished_at
    assert load_job(storage, job.id).status is JobStatus.CANCELLED
    assert latest_version(broker, job.id)[1] == "cancelled"
    assert broker.hget("kcolors:metrics:jobs_finished", "cancelled") == b"1"
    # Its message reaches a worker later: the job is finished, it does not run.
    assert run_job(storage, job.id, settings).results == []
    with pytest.raises(JobFinished) as caught:
        request_cancel(storage, broker, load_job(storage, job.id))
    assert caught.value.http_status == 409


def test_a_running_job_stops_at_its_next_output_and_keeps_what_it_made(storage, broker, settings):
    job = new_job(storage, broker, settings)
    asked = iter([False, False, True])  # before starting, after k=2, after k=4

    done = run_job(storage, job.id, settings, cancelled=lambda _job: next(asked, True))
    assert done.status is JobStatus.CANCELLED
    assert [r["k"] for r in done.results] == [2, 4]
    stored = load_job(storage, job.id)
    assert stored.status is JobStatus.CANCELLED and len(stored.results) == 2
    for result in stored.results:
        assert storage.get(result["key"]).startswith(b"\x89PNG")
    assert storage.list(f"jobs/{job.id}/") == sorted(
        [f"jobs/{job.id}/job.json", job.input["key"], *(r["key"] for r in stored.results)]
    )


def test_a_worker_that_saved_running_over_the_cancellation_still_ends_it(storage, broker, settings):
    job = new_job(storage, broker, settings)
    stale = load_job(storage, job.id)  # a worker read the queued document...
    request_cancel(storage, broker, job)  # ...then the client cancelled...
    stale.start()
    save_job(storage, stale)  # ...and the worker saved `running` over it
    assert cancel_requested(broker, job.id) and broker.exists(cancel_key(job.id))
    done = run_job(
        storage, job.id, settings, cancelled=lambda _job: cancel_requested(broker, job.id)
    )
    assert done.status is JobStatus.CANCELLED and done.results == []
