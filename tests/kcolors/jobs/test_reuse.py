"""Identical bytes with identical parameters reuse the stored outputs instead of running again."""

from __future__ import annotations

import functools
import io
import json

import pytest
import redis
from PIL import Image

from kcolors.engine.params import QuantizeParams
from kcolors.jobs.broker import QUEUE, redis_for
from kcolors.jobs.events import after_save
from kcolors.jobs.job import load_job
from kcolors.jobs.reuse import find_reusable, fingerprint, image_digest
from kcolors.jobs.runner import run_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import open_storage
from tests.images import encode, gradient_image, gradient_png
from web import create_app


@pytest.fixture
def settings(tmp_path, valkey_server):
    redis.Redis.from_url(valkey_server.connection_url).flushall()
    return Settings(
        storage_url=f"file://{tmp_path / 'store'}", broker_url=valkey_server.connection_url
    )


def post(client, data: bytes, **fields) -> dict:
    form = {"image": (io.BytesIO(data), "cat.png"), **fields}
    response = client.post("/api/jobs", data=form, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()


def test_fingerprint_covers_the_bytes_and_every_parameter():
    digest = image_digest(b"picture")
    base = fingerprint(digest, QuantizeParams(k=(2, 5)))
    assert base == fingerprint(digest, QuantizeParams(k=(5, 2)))  # k order does not matter
    assert base != fingerprint(image_digest(b"picturf"), QuantizeParams(k=(2, 5)))
    for changed in (
        QuantizeParams(k=(2, 6)),
        QuantizeParams(k=(2, 5), dither=True),
        QuantizeParams(k=(2, 5), space="lab"),
        QuantizeParams(k=(2, 5), seed=1),
        QuantizeParams(k=(2, 5), format="webp"),
    ):
        assert fingerprint(digest, changed) != base


def test_a_second_identical_job_reuses_the_first_ones_outputs(settings):
    client = create_app({"TESTING": True, "KCOLORS_SETTINGS": settings}).test_client()
    storage, broker = open_storage(settings), redis.Redis.from_url(settings.broker_url)
    index = redis_for(settings)
    data = gradient_png(seed=7)
    first = post(client, data, k="2,5")
    run_job(storage, first["id"], settings, on_saved=functools.partial(after_save, index))
    computed = load_job(storage, first["id"]).to_dict()
    assert computed["status"] == "succeeded" and computed["reused"] is False

    again = post(client, data, k="5,2")
    assert again["status"] == "succeeded" and again["reused"] is True
    assert again["attempts"] == 0 and again["progress"] == 1
    # Copies under the new job's own keys: nothing in the answer names the first job.
    assert first["id"] not in json.dumps(again)
    assert [r["key"] for r in again["results"]] == [f"jobs/{again['id']}/k{k}.png" for k in (2, 5)]
    assert [r["url"] for r in again["results"]] == [
        f"/api/jobs/{again['id']}/results/{k}" for k in (2, 5)
    ]
    assert broker.llen(QUEUE) == 1  # only the first job was ever enqueued
    image = client.get(f"/api/jobs/{again['id']}/results/5")
    assert image.status_code == 200 and image.data == storage.get(computed["results"][1]["key"])

    other = post(client, data, k="2,5", dither="true")  # other parameters: computed anew
    assert other["status"] == "queued" and other["reused"] is False
    assert broker.llen(QUEUE) == 2


def test_deleted_outputs_are_not_reused(settings):
    client = create_app({"TESTING": True, "KCOLORS_SETTINGS": settings}).test_client()
    storage = open_storage(settings)
    data = gradient_png(seed=8)
    first = post(client, data, k="3")
    index = redis_for(settings)
    job = run_job(storage, first["id"], settings, on_saved=functools.partial(after_save, index))
    assert find_reusable(storage, index, image_digest(data), job.params).id == first["id"]
    storage.delete(job.results[0]["key"])
    assert find_reusable(storage, index, image_digest(data), job.params) is None
    assert post(client, data, k="3")["status"] == "queued"


def test_a_reused_tiff_job_has_its_own_preview(settings):
    """A TIFF (or HEIC, BMP) job's browser preview is copied with its outputs, under the new
    job's own key: the page of the reused job shows the picture, and names no other job."""
    client = create_app({"TESTING": True, "KCOLORS_SETTINGS": settings}).test_client()
    storage, index = open_storage(settings), redis_for(settings)
    data = encode(gradient_image(seed=9), "TIFF")
    first = post(client, data, k="4")
    run_job(storage, first["id"], settings, on_saved=functools.partial(after_save, index))
    computed = load_job(storage, first["id"])
    assert computed.input["preview_key"] == f"jobs/{first['id']}/preview.webp"

    again = post(client, data, k="4")
    assert again["reused"] is True
    assert again["input"]["preview_key"] == f"jobs/{again['id']}/preview.webp"
    assert first["id"] not in json.dumps(again)
    own = storage.get(again["input"]["preview_key"])
    assert own == storage.get(computed.input["preview_key"])
    assert Image.open(io.BytesIO(own)).format == "WEBP"
    storage.delete(computed.input["preview_key"])  # the first job's preview may go (retention)
    preview = client.get(f"/api/jobs/{again['id']}/preview")
    assert preview.status_code == 200  # local storage: served by the app
    assert preview.data == own
