"""The JSON API over Flask's test client, with a real Valkey broker and local storage."""

import base64
import hashlib
import io
import json

import pytest
from openapi_spec_validator import validate as validate_openapi_document

from kcolors.engine.autok import MAX_FITS
from kcolors.engine.params import QuantizeParams
from kcolors.jobs.broker import PROCESS_JOB_TASK, QUEUE
from kcolors.jobs.job import Job, job_key, result_key, save_job
from kcolors.jobs.runner import run_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import open_storage
from tests.fixtures.openapi import check_response
from tests.images import encode, gradient_image, gradient_png, icc_profile, mpo_photo, noisy_photo
from web import create_app


@pytest.fixture
def settings(tmp_path, valkey_server, broker):
    return Settings(
        storage_url=f"file://{tmp_path / 'store'}", broker_url=valkey_server.connection_url
    )


def post_image(client, data=None, filename="cat.png", **fields):
    form = {"image": (io.BytesIO(gradient_png() if data is None else data), filename), **fields}
    return check_response(client.post("/api/jobs", data=form, content_type="multipart/form-data"))


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"]


def queued_messages(broker):
    return [json.loads(raw) for raw in broker.lrange(QUEUE, 0, -1)]


def test_upload_answers_202_stores_input_and_document_and_enqueues_only_the_id(
    client, settings, broker
):
    data = gradient_png()
    response = post_image(client, data, k="2,5", dither="true", space="lab")
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/api/jobs/{job['id']}"
    assert job["status"] == "queued" and job["progress"] == 0
    # Every parameter is filled in: those given, the model's defaults for the rest.
    assert job["params"] == QuantizeParams(k=(2, 5), dither=True, space="lab").to_dict()
    assert job["params"]["target_psnr"] is None and job["params"]["format"] == "png"
    assert job["input"] == {"key": f"jobs/{job['id']}/input.png", "format": "png", "width": 64,
                            "height": 48, "bytes": len(data),
                            "sha256": hashlib.sha256(data).hexdigest(),
                            "name": "cat.png"}  # fmt: skip
    storage = open_storage(settings)
    assert storage.get(job["input"]["key"]) == data
    stored = json.loads(storage.get(job_key(job["id"])))
    assert stored.pop("owner") is None and stored == job  # the owner is never shown

    [message] = queued_messages(broker)
    assert message["content-type"] == "application/json"
    assert message["headers"]["task"] == PROCESS_JOB_TASK
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert args == [job["id"]] and kwargs == {}


def test_k_repeated_and_default(client):
    assert post_image(client, k=["2", "24,10"]).get_json()["params"]["k"] == [2, 10, 24]
    assert post_image(client).get_json()["params"]["k"] == [2, 5, 10, 15, 24]


def test_target_psnr_without_k_lets_the_engine_choose(client):
    params = post_image(client, target_psnr="38.5").get_json()["params"]
    assert params["k"] == [] and params["target_psnr"] == 38.5


def test_jpeg_input_keeps_its_extension(client):
    job = post_image(client, encode(gradient_image(), "JPEG"), "cat.jpg").get_json()
    assert job["input"]["key"].endswith("/input.jpg") and job["input"]["format"] == "jpeg"


@pytest.mark.parametrize("body", ["multipart", "json"])
def test_optimize_is_taken_from_a_form_field_and_from_json(client, settings, body):
    if body == "multipart":
        job = post_image(client, k="4", optimize="on").get_json()
    else:
        open_storage(settings).put("uploads/cat.png", gradient_png())
        request = {"source": "uploads/cat.png", "k": [4], "optimize": True}
        job = client.post("/api/jobs", json=request).get_json()
    assert job["params"] == QuantizeParams(k=(4,), optimize=True).to_dict()


@pytest.mark.parametrize(
    "fields, status, code",
    [
        ({"k": "1"}, 422, "invalid_parameter"),
        ({"k": "257"}, 422, "invalid_parameter"),
        ({"k": "abc"}, 422, "invalid_parameter"),
        ({"k": ",".join(str(k) for k in range(2, 30))}, 422, "invalid_parameter"),
        ({"space": "hsv"}, 422, "invalid_parameter"),
        ({"dither": "maybe"}, 422, "invalid_parameter"),
        ({"optimize": "maybe"}, 422, "invalid_parameter"),
        ({"optimize": "true", "format": "webp"}, 422, "invalid_parameter"),
        ({"target_psnr": "loud"}, 422, "invalid_parameter"),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_stored(client, settings, broker, fields,
                                                               status, code):  # fmt: skip
    assert_error(post_image(client, **fields), status, code)
    assert open_storage(settings).list() == [] and queued_messages(broker) == []


@pytest.mark.parametrize(
    "data, status, code",
    [
        (b"", 422, "empty_image"),
        (b"hello, I am text", 415, "unsupported_format"),
        (gradient_png()[:60], 422, "corrupt_image"),
    ],
)
def test_bad_images_are_refused(client, broker, data, status, code):
    assert_error(post_image(client, data), status, code)
    assert queued_messages(broker) == []


def test_too_many_pixels_is_413(settings):
    client = create_app({"KCOLORS_SETTINGS": settings.replace(max_pixels=1000)}).test_client()
    assert_error(post_image(client), 413, "image_too_large")


def test_oversized_upload_is_413(settings):
    client = create_app({"KCOLORS_SETTINGS": settings.replace(max_upload_bytes=500)}).test_client()
    assert_error(post_image(client), 413, "upload_too_large")


def test_missing_image_and_wrong_media_type(client):
    response = client.post("/api/jobs", data={"k": "2"}, content_type="multipart/form-data")
    assert_error(check_response(response), 400, "missing_image")
    response = client.post("/api/jobs", data="k=2", content_type="text/plain")
    assert_error(check_response(response), 415, "unsupported_media_type")


def test_source_job_reads_an_image_already_in_storage(client, settings):
    open_storage(settings).put("uploads/cats/tabby.png", gradient_png(), "image/png")
    response = check_response(client.post("/api/jobs", json={"source": "uploads/cats/tabby.png",
                                                             "k": [3, 7]}))  # fmt: skip
    assert response.status_code == 202
    job = response.get_json()
    assert job["input"]["key"] == "uploads/cats/tabby.png" and job["params"]["k"] == [3, 7]


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"source": "jobs/secret.png"}, 422, "invalid_source"),
        ({"source": "uploads/../jobs/x"}, 422, "invalid_key"),
        ({"source": "uploads/missing.png"}, 404, "object_not_found"),
        ({"source": 5}, 422, "invalid_source"),
        ({"source": "uploads/a\x00.png"}, 422, "invalid_key"),
        (["not", "an", "object"], 400, "invalid_json"),
    ],
)
def test_bad_sources_are_refused(client, body, status, code):
    assert_error(check_response(client.post("/api/jobs", json=body)), status, code)


def test_body_that_is_not_json_is_400(client):
    response = client.post("/api/jobs", data="{nope", content_type="application/json")
    assert_error(check_response(response), 400, "invalid_json")


def test_get_job_and_unknown_ids(client):
    job = post_image(client).get_json()
    response = check_response(client.get(f"/api/jobs/{job['id']}"))
    assert response.status_code == 200 and response.get_json() == job
    assert_error(check_response(client.get("/api/jobs/01HZZZZZZZZZZZZZZZZZZZZZZZ")), 404,
                 "job_not_found")  # fmt: skip
    assert_error(client.get("/api/jobs/..%2F..%2Fetc"), 404, "not_found")
    assert_error(check_response(client.get("/api/jobs/nonsense")), 404, "job_not_found")


def test_input_is_streamed_and_missing_result_is_404(client):
    data = gradient_png(seed=3)
    job = post_image(client, data).get_json()
    response = check_response(client.get(f"/api/jobs/{job['id']}/input"))
    assert response.status_code == 200 and response.data == data
    assert response.mimetype == "image/png"
    response = check_response(client.get(f"/api/jobs/{job['id']}/results/2"))
    assert_error(response, 404, "result_not_found")


def test_result_is_streamed_inline_or_as_an_attachment_to_save(client, settings):
    storage, data = open_storage(settings), gradient_png(seed=4)
    job = Job.create(QuantizeParams(k=(2,)), "jobs/x/input.png", {"format": "png"})
    job.start()
    storage.put(result_key(job.id, 2, "png"), data, "image/png")
    job.record_result(2, {"bytes": len(data), "format": "png"}, result_key(job.id, 2, "png"))
    save_job(storage, job)
    inline = check_response(client.get(f"/api/jobs/{job.id}/results/2"))
    assert inline.data == data
    assert inline.headers["Content-Disposition"].startswith("inline")
    saved = check_response(client.get(f"/api/jobs/{job.id}/results/2?download=1"))
    assert saved.data == data
    assert saved.headers["Content-Disposition"] == f"attachment; filename=kcolors-{job.id}.k2.png"


@pytest.mark.parametrize(
    ("upload", "header"),
    [
        ("photo.jpg", "attachment; filename=photo.k2.png"),
        ("photos/IMG 0001.HEIC", "attachment; filename=IMG_0001.k2.png"),
        ("a;b<c>\t.png", "attachment; filename=a_b_c.k2.png"),
        ("été.png", "attachment; filename=ete.k2.png; filename*=UTF-8''%C3%A9t%C3%A9.k2.png"),
        ("...png", None),  # nothing left of the name: the job's id
    ],
)
def test_a_download_is_named_after_its_upload(client, settings, upload, header):
    job_id = post_image(client, filename=upload, k="2").get_json()["id"]
    run_job(open_storage(settings), job_id, settings)
    saved = check_response(client.get(f"/api/jobs/{job_id}/results/2?download=1"))
    assert saved.status_code == 200 and saved.data[:8] == b"\x89PNG\r\n\x1a\n"
    expected = header or f"attachment; filename=kcolors-{job_id}.k2.png"
    assert saved.headers["Content-Disposition"] == expected


def test_list_jobs_newest_first(client):
    ids = [post_image(client).get_json()["id"] for _ in range(3)]
    response = check_response(client.get("/api/jobs?limit=2"))
    assert [job["id"] for job in response.get_json()["jobs"]] == ids[::-1][:2]
    assert_error(check_response(client.get("/api/jobs?limit=abc")), 422, "invalid_parameter")
    assert_error(check_response(client.get("/api/jobs?limit=0")), 422, "invalid_parameter")


def test_unknown_route_is_a_json_404(client):
    assert_error(client.get("/api/nothing"), 404, "not_found")
    assert_error(client.delete("/api/jobs"), 405, "method_not_allowed")


def test_broker_down_answers_503_and_fails_the_stored_job(settings):
    down = settings.replace(broker_url="redis://127.0.0.1:9/0")
    client = create_app({"KCOLORS_SETTINGS": down}).test_client()
    assert_error(post_image(client), 503, "broker_unavailable")
    [key] = [key for key in open_storage(settings).list("jobs/") if key.endswith("job.json")]
    stored = json.loads(open_storage(settings).get(key))
    assert stored["status"] == "failed" and stored["error"]["code"] == "broker_unavailable"


def test_readyz_reports_each_dependency(client, settings, tmp_path):
    response = check_response(client.get("/readyz"))
    assert response.status_code == 200 and response.get_json()["broker"] == "ok"
    down = settings.replace(broker_url="redis://127.0.0.1:9/0")
    response = check_response(create_app({"KCOLORS_SETTINGS": down}).test_client().get("/readyz"))
    assert_error(response, 503, "not_ready")
    assert "broker" in response.get_json()["error"]["message"]


def test_openapi_document_is_valid_and_served(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    validate_openapi_document(response.get_json())
    assert set(response.get_json()["paths"]) >= {"/api/jobs", "/api/jobs/{job_id}", "/readyz"}


@pytest.mark.parametrize(
    ("data", "filename", "format", "extension"),
    [
        (encode(gradient_image(), "TIFF"), "scan.tif", "tiff", "tiff"),
        (mpo_photo(), "IMG_0001.JPG", "jpeg", "jpg"),
        (encode(gradient_image(), "HEIF", icc_profile=icc_profile()), "IMG_0002.HEIC", "heic",
         "heic"),
        (encode(gradient_image(), "AVIF"), "photo.avif", "avif", "avif"),
    ],
)  # fmt: skip
def test_tiff_camera_mpo_heic_and_avif_are_accepted_as_the_cli_reads_them(
    client, settings, data, filename, format, extension
):
    response = post_image(client, data, filename=filename, k="2")
    assert response.status_code == 202, response.get_data(as_text=True)
    job = response.get_json()
    assert job["input"]["format"] == format and job["input"]["width"] == 64
    assert job["input"]["key"] == f"jobs/{job['id']}/input.{extension}"
    assert open_storage(settings).get(job["input"]["key"]) == data


def test_a_damaged_heic_upload_is_refused_before_anything_is_stored(client, settings):
    data = encode(gradient_image(), "HEIF")
    response = post_image(client, data[:60], filename="IMG_0003.HEIC", k="2")
    assert_error(response, 422, "corrupt_image")
    assert open_storage(settings).list("jobs/") == []


@pytest.mark.parametrize(
    ("method", "path", "fields", "message"),
    [
        ("POST", "/api/jobs", {"k": "²"}, "k must be whole numbers, each from 2 to 256"),
        ("POST", "/api/jobs", {"seed": "1e400"}, "seed must be a whole number from 0 to"),
        ("POST", "/api/jobs", {"seed": "-1"}, "seed must be a whole number from 0 to"),
        ("POST", "/api/jobs", {"target_psnr": "1e400"}, "target_psnr must be a number from 10"),
        ("POST", "/api/batches", {"k": "²"}, "k must be whole numbers, each from 2 to 256"),
        ("JSON", "/api/jobs", {"seed": 1e400}, "seed must be a whole number from 0 to"),
        ("JSON", "/api/jobs", {"seed": -1}, "seed must be a whole number from 0 to"),
        ("JSON", "/api/jobs", {"seed": True}, "seed must be a whole number from 0 to"),
        ("JSON", "/api/jobs", {"k": [2, [3]]}, "k must be whole numbers"),
        ("JSON", "/api/jobs", {"dither": "maybe"}, "dither must be true or false"),
        ("JSON", "/api/jobs", {"optimize": True, "format": "webp"}, "applies to PNG outputs only"),
        ("JSON", "/api/batches", {"optimize": 1}, "optimize must be true or false"),
        ("JSON", "/api/jobs", {"colours": 5}, "unknown parameter 'colours'"),
        ("JSON", "/api/batches", {"seed": 1e400}, "seed must be a whole number from 0 to"),
    ],
)
def test_outside_testers_values_get_a_422_naming_the_field(
    client, settings, method, path, fields, message
):
    storage = open_storage(settings)
    storage.put("uploads/cat.png", gradient_png())
    if method == "POST":
        form = {"image": (io.BytesIO(gradient_png()), "cat.png"), **fields}
        response = client.post(path, data=form, content_type="multipart/form-data")
    else:
        where = {"source": "uploads/cat.png"} if path == "/api/jobs" else {"prefix": "uploads/"}
        # `json.dumps` writes 1e400 as `Infinity`, which Python's parser (Flask's) reads back.
        body = json.dumps({**where, **fields}).replace("Infinity", "1e400")
        response = client.post(path, data=body, content_type="application/json")
    assert_error(check_response(response), 422, "invalid_parameter")
    assert message in response.get_json()["error"]["message"]
    assert [key for key in storage.list("") if not key.startswith("uploads/")] == []


@pytest.mark.parametrize(
    ("query", "status"),
    [("?limit=%C2%B2", 422), ("?limit=0", 422), ("?limit=1e3", 422), ("?limit=101", 422),
     ("?limit=%00", 422), ("?limit=100", 200), ("", 200)],
)  # fmt: skip
def test_list_limit_is_a_plain_number_in_range(client, query, status):
    response = check_response(client.get(f"/api/jobs{query}"))
    assert response.status_code == status
    if status == 422:
        assert response.get_json()["error"]["message"] == (
            "limit must be a whole number from 1 to 100"
        )


def test_a_nul_byte_in_a_source_key_is_refused(client):
    response = client.post("/api/jobs", json={"source": "uploads/cat\x00.png", "k": [2]})
    assert_error(check_response(response), 422, "invalid_key")


def test_stored_documents_hold_keys_and_the_api_adds_the_urls(client, settings):
    info = {"format": "png", "width": 4, "height": 3, "bytes": 9}
    job = Job.create(QuantizeParams(k=(2,)), "jobs/x/input.png", info)
    job.start()
    stats = {"bytes": 1, "distinct_colors": 2, "psnr": 30.0, "palette": []}
    job.record_result(2, stats, result_key(job.id, 2, "png"))
    storage = open_storage(settings)
    save_job(storage, job)
    assert "url" not in json.loads(storage.get(job_key(job.id)))["results"][0]
    answered = check_response(client.get(f"/api/jobs/{job.id}")).get_json()
    assert answered["results"][0]["url"] == f"/api/jobs/{job.id}/results/2"


@pytest.mark.parametrize(("target", "reached"), [(20, True), (40, False), (80, False)])
def test_an_auto_k_result_says_whether_its_target_was_reached(client, settings, target, reached):
    job_id = post_image(client, encode(noisy_photo()), target_psnr=str(target)).get_json()["id"]
    run_job(open_storage(settings), job_id, settings)
    [result] = check_response(client.get(f"/api/jobs/{job_id}")).get_json()["results"]
    assert result["auto"] is True and result["target_reached"] is reached
    assert result["search_psnr"] == result["psnr"] and (result["psnr"] >= target) is reached
    assert 1 <= result["search_steps"] <= MAX_FITS
    if not reached:  # the most colours: the best PSNR there is
        assert result["k"] == 256


def test_delete_cancels_a_queued_job_and_a_finished_one_answers_409(client, settings, broker):
    job = post_image(client).get_json()
    response = check_response(client.delete(f"/api/jobs/{job['id']}"))
    assert response.status_code == 202 and response.get_json()["status"] == "cancelled"
    stored = json.loads(open_storage(settings).get(job_key(job["id"])))
    assert stored["status"] == "cancelled" and stored["finished_at"]
    assert_error(check_response(client.delete(f"/api/jobs/{job['id']}")), 409, "job_finished")
    assert_error(check_response(client.delete("/api/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV")), 404,
                 "job_not_found")  # fmt: skip


def test_with_tokens_only_the_jobs_client_may_cancel_it(settings, broker):
    tokens = create_app({"TESTING": True,
                         "KCOLORS_SETTINGS": settings.replace(api_tokens=("a", "b"))})  # fmt: skip
    client = tokens.test_client()
    form = {"image": (io.BytesIO(gradient_png()), "cat.png")}
    job = client.post("/api/jobs", data=form, headers={"Authorization": "Bearer a"}).get_json()
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 401
    other = client.delete(f"/api/jobs/{job['id']}", headers={"Authorization": "Bearer b"})
    assert_error(other, 404, "job_not_found")
    mine = client.delete(f"/api/jobs/{job['id']}", headers={"Authorization": "Bearer a"})
    assert mine.status_code == 202 and mine.get_json()["status"] == "cancelled"


def test_the_zip_of_all_outputs_names_each_after_the_upload(client, settings):
    import zipfile

    job_id = post_image(client, filename="été photo.png", k="2,5").get_json()["id"]
    assert check_response(client.get(f"/api/jobs/{job_id}/results.zip")).status_code == 404
    run_job(open_storage(settings), job_id, settings)
    response = check_response(client.get(f"/api/jobs/{job_id}/results.zip"))
    assert response.status_code == 200 and response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].endswith(
        "filename*=UTF-8''%C3%A9t%C3%A9_photo.kcolors.zip"
    )
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.namelist() == ["été_photo.k2.png", "été_photo.k5.png"]
    storage = open_storage(settings)
    for k in (2, 5):
        assert archive.read(f"été_photo.k{k}.png") == storage.get(result_key(job_id, k, "png"))
