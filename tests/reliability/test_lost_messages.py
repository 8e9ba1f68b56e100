"""A job whose message was lost while Redis kept its data (kombu pops a message before recording
it as unacknowledged; a worker killed in between loses it) is found by the workers' own sweep."""

import pytest
import redis

from tests.fixtures.jobs import wait_for_jobs
from tests.images import gradient_png
from worker.job import Job, JobParams, input_key, save_job
from worker.storage import open_storage
from worker.tasks import SWEEP_OWNER_KEY, claim_sweep

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_job_whose_message_was_lost_is_enqueued_again_by_the_sweep(
    s3_settings, start_worker, start_live_server
):
    settings = s3_settings.replace(
        soft_time_limit=2, hard_time_limit=3, visibility_timeout=10, sweep_interval=2
    )
    storage = open_storage(settings)
    # Saved and announced like any job, but its message never reaches Redis.
    job = Job.create(JobParams(k=(2, 5)), "", {"format": "png"})
    job.input["key"] = input_key(job.id, "png")
    storage.put(job.input["key"], gradient_png(), "image/png")
    save_job(storage, job)
    workers = [start_worker(settings), start_worker(settings)]
    server = start_live_server(settings)
    [document] = wait_for_jobs(server.url, [job.id], timeout=90)
    assert document["status"] == "succeeded" and document["attempts"] == 1, document
    logs = "".join(worker.log() for worker in workers)
    assert f"enqueued again 1 lost jobs/batches: ['{job.id}']" in logs
    # Two workers began a chain of sweeps each; one owns the sweep.
    assert redis.Redis.from_url(settings.broker_url).get(SWEEP_OWNER_KEY) is not None


def test_one_chain_of_sweeps_owns_the_sweep_until_its_claim_lapses(valkey_server):
    client = redis.Redis.from_url(valkey_server.connection_url)
    client.delete(SWEEP_OWNER_KEY)
    assert claim_sweep(client, "first", 60)
    assert not claim_sweep(client, "second", 60)
    assert claim_sweep(client, "first", 60)  # renewed by its owner
    client.delete(SWEEP_OWNER_KEY)  # as if the claim lapsed
    assert claim_sweep(client, "second", 60) and not claim_sweep(client, "first", 60)
