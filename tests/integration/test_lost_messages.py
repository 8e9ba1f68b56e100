"""A job whose message was lost while Redis kept its data (kombu pops a message before recording
it as unacknowledged; a worker killed in between loses it) is found by the workers' own sweep."""

import json

import pytest
import redis

from kcolors.engine.params import QuantizeParams
from kcolors.engine.probe import probe_image
from kcolors.jobs.broker import redis_for
from kcolors.jobs.creation import create_job
from kcolors.jobs.storage import open_storage
from tests.fixtures.jobs import wait_for_jobs
from tests.images import gradient_png
from worker.sweep import SWEEP_OWNER_KEY, claim_sweep

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_job_whose_message_was_lost_is_enqueued_again_by_the_sweep(
    s3_settings, start_worker, start_live_server
):
    settings = s3_settings.replace(
        soft_time_limit=2, hard_time_limit=3, visibility_timeout=10, sweep_interval=2
    )
    storage = open_storage(settings)
    # Saved and announced like any job, but its message never reaches Redis.
    data = gradient_png()
    probed = probe_image(data, settings.max_pixels)
    job = create_job(storage, redis_for(settings), settings, QuantizeParams(k=(2, 5)), probed, data)
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


def test_the_next_sweep_is_scheduled_even_when_a_pass_overruns_its_soft_limit(
    s3_settings, monkeypatch
):
    """A pass cut off by its soft time limit (or any exception) still schedules the next one:
    before, the chain stopped, and nothing swept until a worker restarted. The limit itself is
    the one fault provoked by hand here (a pass over a slow store takes minutes to overrun)."""
    from celery.exceptions import SoftTimeLimitExceeded

    from kcolors.jobs.broker import QUEUE, SWEEP_TASK
    from worker import sweep
    from worker.celery_app import create_celery_app

    settings = s3_settings.replace(sweep_interval=7)
    app = create_celery_app(settings)
    app.loader.import_default_modules()
    monkeypatch.setattr(sweep, "worker_settings", lambda: settings)
    monkeypatch.setattr(sweep, "worker_redis", lambda: redis_for(settings))

    def overrun(*args, **kwargs):
        raise SoftTimeLimitExceeded("soft time limit (1 s) exceeded")

    monkeypatch.setattr(sweep, "sweep_once", overrun)
    result = app.tasks[SWEEP_TASK].apply(args=["chain-1"])
    assert isinstance(result.result, SoftTimeLimitExceeded)
    queued = redis.Redis.from_url(settings.broker_url).lrange(QUEUE, 0, -1)
    assert len(queued) == 1
    headers = json.loads(queued[0])["headers"]
    assert headers["task"] == SWEEP_TASK and headers["argsrepr"] == "['chain-1']"
    assert headers["eta"] is not None  # in sweep_interval seconds
    # A chain that does not own the sweep stops, as before: one sweep per interval.
    redis.Redis.from_url(settings.broker_url).delete(QUEUE)
    assert app.tasks[SWEEP_TASK].apply(args=["chain-2"]).result is None
    assert redis.Redis.from_url(settings.broker_url).llen(QUEUE) == 0
