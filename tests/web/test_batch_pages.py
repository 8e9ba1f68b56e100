"""The batch pages over Flask's test client: the form's refusals, the list of one's batches, and
a batch's page and report, read from real storage (local) with a real Valkey queue."""

from __future__ import annotations

import io
import json
import re

import pytest
import redis

from kcolors.engine.params import QuantizeParams
from kcolors.jobs.batch import Batch, load_batch, save_batch
from kcolors.jobs.broker import BATCH_QUEUE
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import open_storage
from tests.images import gradient_png
from tests.web.test_pages import page_text, sign_in
from web import create_app
from web.batch_pages import BATCHES_PER_PAGE


@pytest.fixture
def settings(tmp_path, valkey_server, broker):
    return Settings(
        storage_url=f"file://{tmp_path / 'store'}",
        broker_url=valkey_server.connection_url,
        max_upload_bytes=256 * 1024,
    )


@pytest.fixture
def storage(settings):
    return open_storage(settings)


def csrf_token(client) -> str:
    html = client.get("/batches/new").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def start(client, files=(), prefix="", **fields):
    form = {"images": [(io.BytesIO(data), name) for name, data in files], "prefix": prefix}
    form |= {"k_choice": "2,4,8,16", "space": "rgb", "format": "png", **fields}
    form["csrf_token"] = csrf_token(client)
    return client.post("/batches", data=form, content_type="multipart/form-data")


def stored_batches(storage) -> list[str]:
    return [key for key in storage.list("batches/") if key.endswith("batch.json")]


def test_pictures_from_the_form_make_one_batch_with_its_fan_out_queued(client, storage, settings):
    files = [("cat.png", gradient_png(seed=1)), ("dog.png", gradient_png(seed=2))]
    response = start(client, files, k_choice="custom", k_custom="3, 12")
    assert response.status_code == 303
    batch_id = response.headers["Location"].rsplit("/", 1)[1]
    batch = load_batch(storage, batch_id)
    assert [item["name"] for item in batch.items] == ["cat.png", "dog.png"]
    assert batch.params.k == (3, 12)
    assert storage.get(batch.items[1]["key"]) == gradient_png(seed=2)
    [message] = redis.Redis.from_url(settings.broker_url).lrange(BATCH_QUEUE, 0, -1)
    assert json.loads(message)["headers"]["task"] == "kcolors.expand_batch"
    page = page_text(client.get(f"/batches/{batch_id}"))
    assert "Batch of 2 pictures" in page and "Reading the pictures…" in page
    assert "2 pictures, uploaded" in page and "k 3, 12" in page


@pytest.mark.parametrize(
    ("files", "prefix", "fields", "status", "message"),
    [
        (
            [],
            "",
            {},
            400,
            "Storage prefix : Choose some pictures or enter a storage prefix, one of the two.",
        ),
        ([("a.png", gradient_png())], "uploads/x/", {}, 400, "one of the two"),
        ([], "photos/", {}, 422, "`prefix` must be a storage key under 'uploads/'"),
        ([], "uploads/none/", {}, 422, "No object under 'uploads/none/'"),
        ([], "uploads/\x00/", {}, 422, "prefix"),
        (
            [("a.png", gradient_png()), ("b.png", b"not a picture")],
            "",
            {},
            415,
            "Picture 'b.png': not a recognised image",
        ),
        (
            [("a.png", gradient_png())],
            "",
            {"k_choice": "custom", "k_custom": "1, ٣, 1e400, 300"},
            400,
            "k must be",
        ),
    ],
)
def test_a_refused_batch_form_says_why_and_stores_nothing(
    client, storage, files, prefix, fields, status, message
):
    response = start(client, files, prefix, **fields)
    assert response.status_code == status, page_text(response)
    text = page_text(response)
    assert "The batch could not be started" in text
    assert message in text
    assert ("Choose the pictures again" in text) == bool(files)
    assert stored_batches(storage) == []
    assert storage.list("batches/") == []


def test_a_bad_k_list_names_every_bad_value(client):
    text = page_text(
        start(client, [("a.png", gradient_png())], k_choice="custom", k_custom="1, 300, x")
    )
    assert "not 1, 300, x" in text


def test_the_list_shows_the_newest_batches_a_page_at_a_time(client, storage):
    params = QuantizeParams.parse({"k": "4"}, 8)
    made = []
    for number in range(BATCHES_PER_PAGE + 3):
        batch = Batch.create(params, {"prefix": "uploads/p/"}, [(f"{number}.png", "uploads/p/x")])
        save_batch(storage, batch)
        made.append(batch.id)
    first = client.get("/batches").get_data(as_text=True)
    shown = re.findall(r'class="card batch-item" data-id="([0-9A-Z]{26})"', first)
    assert shown == made[::-1][:BATCHES_PER_PAGE]
    older = re.search(r'href="/batches\?before=([0-9A-Z]{26})"', first).group(1)
    second = client.get(f"/batches?before={older}").get_data(as_text=True)
    assert re.findall(r'data-id="([0-9A-Z]{26})"', second) == made[::-1][BATCHES_PER_PAGE:]
    assert "?before=" not in second
    for cursor in ("x", "1e400", "٣" * 26, "0" * 27):
        response = client.get("/batches", query_string={"before": cursor})
        assert response.status_code == 422, cursor
        assert "Before must be a batch id" in page_text(response)


def test_an_unknown_batch_is_a_404_page(client):
    for batch_id in ("01M9809FJ3ZTB0C7NNX9SMTH2V", "nope", "%00"):
        response = client.get(f"/batches/{batch_id}")
        assert response.status_code == 404
        assert "No batch" in page_text(response)


def test_the_page_report_is_the_api_report(client, storage):
    response = start(client, [("cat.png", gradient_png())])
    batch_id = response.headers["Location"].rsplit("/", 1)[1]
    page_csv = client.get(f"/batches/{batch_id}/report.csv")
    api_csv = client.get(f"/api/batches/{batch_id}/report.csv")
    assert page_csv.data == api_csv.data
    assert page_csv.data.decode().splitlines()[1].startswith("cat.png,,queued")
    assert page_csv.headers["Content-Disposition"] == api_csv.headers["Content-Disposition"]
    assert client.get(f"/batches/{batch_id}/report.json").get_json() == (
        client.get(f"/api/batches/{batch_id}/report.json").get_json()
    )


def test_with_tokens_the_batch_pages_ask_to_sign_in_and_show_ones_own_batches(settings):
    app = create_app({"TESTING": True, "KCOLORS_SETTINGS": settings.replace(api_tokens=("a", "b"))})
    alice, bob = app.test_client(), app.test_client()
    for path in ("/batches", "/batches/new", "/batches/01M9809FJ3ZTB0C7NNX9SMTH2V"):
        response = alice.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == f"/signin?next={path}"
    sign_in(alice, "a", "/batches")
    sign_in(bob, "b", "/batches")
    batch_id = start(alice, [("cat.png", gradient_png())]).headers["Location"].rsplit("/", 1)[1]
    assert batch_id in alice.get("/batches").get_data(as_text=True)
    assert alice.get(f"/batches/{batch_id}/report.csv").status_code == 200
    assert batch_id not in bob.get("/batches").get_data(as_text=True)
    for path in ("", "/panel", "/report.csv", "/report.json"):
        assert bob.get(f"/batches/{batch_id}{path}").status_code == 404, path
    assert (
        bob.post(f"/batches/{batch_id}/cancel", data={"csrf_token": csrf_token(bob)}).status_code
        == 404
    )


def test_the_batch_form_shares_the_submission_rate_limit(settings):
    limited = settings.replace(rate_limit="2/minute")
    client = create_app({"TESTING": True, "KCOLORS_SETTINGS": limited}).test_client()
    assert start(client, [("a.png", gradient_png(seed=1))]).status_code == 303
    assert start(client, [("b.png", gradient_png(seed=2))]).status_code == 303
    refused = start(client, [("c.png", gradient_png(seed=3))])
    assert refused.status_code == 429
    assert "too many submissions: the limit is 2/minute" in refused.get_data(as_text=True)
    assert 0 < int(refused.headers["Retry-After"]) <= 60
