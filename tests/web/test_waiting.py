"""The waiting room's version hints against a real Valkey: trusted when current, checked
against storage when in doubt."""

import pytest

from kcolors.engine.params import QuantizeParams
from kcolors.jobs.events import announce, document_etag
from kcolors.jobs.job import Job, save_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import open_storage
from web import create_app


@pytest.fixture
def setup(tmp_path, broker, valkey_server):
    settings = Settings(storage_url=f"file://{tmp_path / 'store'}",
                        broker_url=valkey_server.connection_url)  # fmt: skip
    client = create_app({"TESTING": True, "KCOLORS_SETTINGS": settings}).test_client()
    return client, open_storage(settings)


def saved_job(storage) -> Job:
    job = Job.create(QuantizeParams(k=(2,)), "uploads/cat.png", {"format": "png"})
    save_job(storage, job)
    return job


def wait_on(client, job, etag, seconds="1"):
    return client.get(f"/api/jobs/{job.id}?wait={seconds}", headers={"If-None-Match": f'"{etag}"'})


def test_a_save_redis_never_heard_of_is_found_in_storage_when_the_wait_ends(setup, broker):
    client, storage = setup
    job = saved_job(storage)
    announce(broker, job.to_dict())
    seen = document_etag(job.to_dict())
    job.start()
    save_job(storage, job)  # saved, but the notice was lost: Redis still names the old version
    response = wait_on(client, job, seen)
    assert response.status_code == 200 and response.get_json()["status"] == "running"
    assert response.headers["ETag"] == f'"{document_etag(job.to_dict())}"'


def test_a_hint_older_than_the_clients_version_is_checked_in_storage(setup, broker):
    client, storage = setup
    job = saved_job(storage)
    announce(broker, job.to_dict())  # the hint names `queued`
    job.start()
    save_job(storage, job)
    current = document_etag(job.to_dict())
    response = wait_on(client, job, current)  # the client has `running`, from storage
    assert response.status_code == 304 and response.headers["ETag"] == f'"{current}"'


def test_a_finished_latest_version_answers_304_without_reading_storage(setup, broker):
    client, storage = setup
    job = saved_job(storage)
    job.start()
    job.fail("corrupt_image", "not a picture")
    save_job(storage, job)
    announce(broker, job.to_dict())
    etag = document_etag(job.to_dict())
    storage.delete(f"jobs/{job.id}/job.json")  # a read of storage would now answer 404
    response = wait_on(client, job, etag, seconds="30")
    assert response.status_code == 304 and response.headers["ETag"] == f'"{etag}"'


def test_an_unknown_job_is_404_even_when_waiting(setup):
    client, _ = setup
    response = client.get("/api/jobs/01JC6Z0000000000000000000A?wait=5",
                          headers={"If-None-Match": '"x"'})  # fmt: skip
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "job_not_found"
