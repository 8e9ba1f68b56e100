"""Retention on real storage (a local directory and moto's S3): old jobs and batches go with every
object they own, a bounded number per pass, and reuse never points at a deleted job."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import pytest

from kcolors.engine.params import QuantizeParams
from kcolors.errors import JobNotFound
from kcolors.jobs.batch import Batch, expand, save_batch
from kcolors.jobs.creation import create_job, probe
from kcolors.jobs.events import after_save
from kcolors.jobs.job import load_job
from kcolors.jobs.retention import delete_expired
from kcolors.jobs.reuse import find_reusable, image_digest
from kcolors.jobs.runner import run_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import LocalStorage, open_storage
from tests.images import gradient_png


@pytest.fixture(params=["local", "s3"])
def storage_and_settings(request, tmp_path):
    if request.param == "local":
        settings = Settings(storage_url=f"file://{tmp_path / 'store'}")
        return LocalStorage(tmp_path / "store"), settings
    s3_settings = request.getfixturevalue("s3_settings")
    return open_storage(s3_settings), s3_settings


def finished_job(storage, broker, settings, seed: int = 0):
    data = gradient_png(seed=seed)
    params = QuantizeParams(k=(2,))
    job = create_job(storage, broker, settings, params, probe(data, settings), data)
    return run_job(storage, job.id, settings, on_saved=functools.partial(after_save, broker))


def test_old_jobs_and_batches_go_with_all_their_objects(storage_and_settings, broker):
    storage, settings = storage_and_settings
    old = finished_job(storage, broker, settings, seed=1)
    storage.put("uploads/b/a.png", gradient_png(seed=2))
    batch = Batch.create(
        QuantizeParams(k=(2,)), {"prefix": "uploads/b/"}, [("a.png", "uploads/b/a.png")]
    )
    save_batch(storage, batch)
    expand(storage, broker, batch, settings)
    assert find_reusable(storage, broker, old.input["sha256"], old.params) is not None

    now = datetime.now(UTC)
    assert delete_expired(storage, broker, now, retention_days=30).jobs == []  # all are new
    later = now + timedelta(days=31)
    report = delete_expired(storage, broker, later, retention_days=30)
    assert old.id in report.jobs and report.batches == [batch.id] and not report.more_left
    assert storage.list("jobs/") == [] and storage.list("batches/") == []
    assert storage.list("uploads/") == ["uploads/b/a.png"]  # the client's own objects stay
    with pytest.raises(JobNotFound):
        load_job(storage, old.id)
    # Reuse never points at a deleted job: identical work is computed anew.
    assert broker.keys("kcolors:results:*") == []
    again = create_job(storage, broker, settings, old.params, probe(gradient_png(seed=1), settings),
                       gradient_png(seed=1))  # fmt: skip
    assert not again.reused and image_digest(gradient_png(seed=1)) == old.input["sha256"]


def test_zero_keeps_everything_and_a_pass_stops_at_its_bound(tmp_path, broker):
    settings = Settings(storage_url=f"file://{tmp_path / 'store'}")
    storage = LocalStorage(tmp_path / "store")
    jobs = [finished_job(storage, broker, settings, seed=n) for n in range(3)]
    later = datetime.now(UTC) + timedelta(days=400)
    assert delete_expired(storage, broker, later, retention_days=0).objects == 0
    objects_per_job = len(storage.list(f"jobs/{jobs[0].id}/"))
    first = delete_expired(storage, broker, later, 30, max_objects=objects_per_job * 2)
    assert first.jobs == [jobs[0].id, jobs[1].id] and first.more_left
    second = delete_expired(storage, broker, later, 30, max_objects=objects_per_job * 2)
    assert second.jobs == [jobs[2].id] and not second.more_left
    assert storage.list("") == []
