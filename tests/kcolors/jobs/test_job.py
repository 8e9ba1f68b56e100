import json

import pytest
from ulid import ULID

from kcolors.engine.params import QuantizeParams
from kcolors.errors import JobNotFound
from kcolors.jobs.job import (
    InvalidTransition,
    Job,
    JobStatus,
    job_key,
    list_jobs,
    load_job,
    new_job_id,
    parse_job_id,
    result_key,
    save_job,
)
from kcolors.jobs.storage import LocalStorage


def make_job(ks=(2, 5)) -> Job:
    return Job.create(QuantizeParams(k=ks), "jobs/x/input.png", {"format": "png", "width": 4})


def test_new_job_is_queued_with_a_ulid_and_no_times():
    job = make_job()
    assert job.status is JobStatus.QUEUED and job.status == "queued"
    assert str(ULID.from_str(job.id)) == job.id
    assert job.progress == 0 and job.started_at is None and job.finished_at is None


def test_ids_are_unique_and_sort_by_creation_time():
    ids = [new_job_id() for _ in range(50)]
    assert len(set(ids)) == 50
    assert ULID.from_str(ids[-1]).timestamp >= ULID.from_str(ids[0]).timestamp


def test_progress_advances_per_k_and_success_finishes():
    job = make_job((2, 5))
    job.start()
    job.record_result(5, {"bytes": 10}, result_key(job.id, 5, "png"))
    assert job.progress == 0.5
    job.record_result(2, {"bytes": 9}, result_key(job.id, 2, "png"))
    assert job.progress == 1.0 and [r["k"] for r in job.results] == [2, 5]
    job.succeed({"width": 4, "height": 3, "distinct_colors": 7})
    assert job.status is JobStatus.SUCCEEDED and job.finished_at >= job.started_at
    assert job.input == {"key": "jobs/x/input.png", "format": "png", "width": 4, "height": 3,
                         "distinct_colors": 7}  # fmt: skip


def test_rerun_replaces_results_instead_of_duplicating_and_keeps_progress():
    job = make_job((2, 5))
    job.start()
    job.record_result(2, {"bytes": 1}, "jobs/x/k2.png")
    started = job.started_at
    job.start()  # redelivered after a lost worker
    job.record_result(2, {"bytes": 1}, "jobs/x/k2.png")
    assert job.attempts == 2 and job.started_at == started
    assert len(job.results) == 1 and job.progress == 0.5


@pytest.mark.parametrize("finish", ["succeed", "fail"])
def test_finished_jobs_never_move_again(finish):
    job = make_job()
    job.start()
    job.succeed({}) if finish == "succeed" else job.fail("corrupt_image", "bad")
    with pytest.raises(InvalidTransition):
        job.start()
    with pytest.raises(InvalidTransition):
        job.fail("x", "y")
    with pytest.raises(InvalidTransition):
        job.succeed({})
    with pytest.raises(InvalidTransition):
        job.record_result(2, {}, "k")


def test_queued_job_cannot_succeed_without_running_but_can_fail():
    job = make_job()
    with pytest.raises(InvalidTransition):
        job.succeed({})
    job.fail("broker_unavailable", "queue down")
    assert job.error == {"code": "broker_unavailable", "message": "queue down"}


def test_document_round_trips_through_storage(tmp_path):
    storage = LocalStorage(tmp_path)
    job = make_job((24, 2, 2))
    job.start()
    save_job(storage, job)
    stored = json.loads(storage.get(job_key(job.id)))
    assert stored["status"] == "running" and stored["params"]["k"] == [2, 24]
    assert load_job(storage, job.id).to_dict() == job.to_dict()


def test_unknown_or_malformed_ids_are_not_found(tmp_path):
    storage = LocalStorage(tmp_path)
    for job_id in [new_job_id(), "../../etc/passwd", "x", new_job_id().lower()]:
        with pytest.raises(JobNotFound):
            load_job(storage, job_id)
    with pytest.raises(JobNotFound):
        parse_job_id("0" * 27)


def test_list_jobs_newest_first_with_limit(tmp_path):
    storage = LocalStorage(tmp_path)
    jobs = []
    for _ in range(5):
        jobs.append(make_job())
        save_job(storage, jobs[-1])
        storage.put(f"jobs/{jobs[-1].id}/k2.png", b"x")  # outputs are not jobs
    listed = [job.id for job in list_jobs(storage, 3)]
    assert listed == sorted((job.id for job in jobs), reverse=True)[:3]


def test_target_psnr_alone_is_enough():
    params = QuantizeParams(k=(), target_psnr=35.0)
    assert params.k == () and Job.create(params, "k", {}).expected_outputs == 1
