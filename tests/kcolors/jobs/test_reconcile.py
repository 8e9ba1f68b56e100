"""`reconcile` against a real Valkey: which unfinished jobs have a message behind them."""

from datetime import UTC, datetime, timedelta

import pytest
import redis
from ulid import ULID

from kcolors.engine.params import QuantizeParams
from kcolors.errors import DocumentUnreadable
from kcolors.jobs.broker import EXPAND_BATCH_TASK, PROCESS_JOB_TASK, QUEUE, RECORD_FAILURE_TASK
from kcolors.jobs.feeder import add_to_backlog, backlog_lengths
from kcolors.jobs.job import Job, job_key, load_job, save_job
from kcolors.jobs.reconcile import reconcile
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import LocalStorage
from worker.celery_app import create_celery_app


def running_job(storage) -> Job:
    job = Job.create(QuantizeParams(k=(2,)), "uploads/cat.png", {"format": "png"})
    job.start()
    save_job(storage, job)
    return job


def reconcile_now(storage, broker, enqueued: list, **options):
    """reconcile with this service's queue and task names, recording what it would enqueue."""
    return reconcile(
        storage,
        broker,
        lambda task, item_id: enqueued.append((task, item_id)),
        queue=QUEUE,
        job_task=PROCESS_JOB_TASK,
        batch_task=EXPAND_BATCH_TASK,
        min_age_seconds=0,
        **options,
    )


def test_a_job_whose_failure_waits_to_be_recorded_is_not_enqueued_again(tmp_path, valkey_server):
    broker = redis.Redis.from_url(valkey_server.connection_url)
    broker.flushall()
    settings = Settings(broker_url=valkey_server.connection_url)
    storage = LocalStorage(tmp_path)
    waiting, lost = running_job(storage), running_job(storage)
    # Storage was down when the first job failed: its failure waits in the queue to be recorded.
    create_celery_app(settings).send_task(
        RECORD_FAILURE_TASK, args=[waiting.id, "storage_unavailable", "storage failed 3 times"]
    )
    enqueued = []
    report = reconcile_now(storage, broker, enqueued, failure_task=RECORD_FAILURE_TASK)
    assert report.unfinished == 2 and report.requeued == [lost.id]
    assert enqueued == [(PROCESS_JOB_TASK, lost.id)]


def test_created_after_leaves_older_jobs_unread(tmp_path, valkey_server):
    broker = redis.Redis.from_url(valkey_server.connection_url)
    broker.flushall()
    storage = LocalStorage(tmp_path)
    recent = running_job(storage)
    old = Job(
        id=str(ULID.from_datetime(datetime.now(UTC) - timedelta(days=2))),
        params=QuantizeParams(k=(2,)),
        input={"key": "uploads/cat.png"},
    )
    old.start()
    save_job(storage, old)
    enqueued = []
    report = reconcile_now(
        storage, broker, enqueued, created_after=datetime.now(UTC) - timedelta(days=1)
    )
    assert report.checked == 1 and enqueued == [(PROCESS_JOB_TASK, recent.id)]


def test_a_damaged_document_is_skipped_and_the_others_still_requeued(tmp_path, valkey_server):
    broker = redis.Redis.from_url(valkey_server.connection_url)
    broker.flushall()
    storage = LocalStorage(tmp_path)
    damaged, lost = running_job(storage), running_job(storage)
    # What an S3 stand-in left of a PUT cut off by a killed worker: half a document.
    body = storage.get(job_key(damaged.id))
    storage.put(job_key(damaged.id), body[: len(body) // 2], "application/json")
    with pytest.raises(DocumentUnreadable, match=damaged.id):
        load_job(storage, damaged.id)
    enqueued = []
    report = reconcile_now(storage, broker, enqueued)
    assert enqueued == [(PROCESS_JOB_TASK, lost.id)] and report.requeued == [lost.id]


def test_a_batch_job_waiting_in_its_clients_backlog_is_not_enqueued_again(tmp_path, broker):
    storage = LocalStorage(tmp_path)
    waiting, lost = (Job.create(QuantizeParams(k=(2,)), "uploads/cat.png", {}) for _ in range(2))
    save_job(storage, waiting)
    save_job(storage, lost)
    add_to_backlog(broker, "owner:alice", [waiting.id])
    enqueued = []
    report = reconcile_now(storage, broker, enqueued)
    assert report.unfinished == 2 and enqueued == [(PROCESS_JOB_TASK, lost.id)]


def test_a_lost_batch_job_goes_back_to_its_clients_backlog_not_the_single_jobs_queue(
    tmp_path, broker
):
    storage = LocalStorage(tmp_path)
    single = Job.create(QuantizeParams(k=(2,)), "uploads/cat.png", {})
    batch_job = Job.create(QuantizeParams(k=(2,)), "uploads/b/1.png", {}, batch_client="owner:bo")
    save_job(storage, single)
    save_job(storage, batch_job)
    assert load_job(storage, batch_job.id).batch_client == "owner:bo"
    enqueued = []
    report = reconcile_now(storage, broker, enqueued)
    assert enqueued == [(PROCESS_JOB_TASK, single.id)]
    assert sorted(report.requeued) == sorted([single.id, batch_job.id])
    assert backlog_lengths(broker) == {"owner:bo": 1}
    # Once back in the backlog it has its message to come: the next pass leaves it be.
    assert reconcile_now(storage, broker, []).requeued == [single.id]
