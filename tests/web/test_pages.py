"""The pages over Flask's test client: form validation, CSRF, and jobs read from storage."""

import base64
import html
import io
import json
import re

import pytest

from kcolors.engine.params import QuantizeParams
from kcolors.jobs.broker import QUEUE
from kcolors.jobs.job import Job, result_key, save_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import open_storage
from tests.images import gradient_png
from web import create_app


@pytest.fixture
def settings(tmp_path, valkey_server, broker):
    return Settings(
        storage_url=f"file://{tmp_path / 'store'}",
        broker_url=valkey_server.connection_url,
        max_upload_bytes=64 * 1024,
    )


def csrf_token(client) -> str:
    """Load the form as a browser would and return its CSRF token."""
    html = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def submit(client, data=None, filename="cat.png", token=True, **fields):
    form = {"image": (io.BytesIO(gradient_png() if data is None else data), filename)}
    form |= {"k_choice": "2,5,10,15,24", "space": "rgb", "format": "png", **fields}
    if token:
        form["csrf_token"] = csrf_token(client)
    return client.post("/", data=form, content_type="multipart/form-data")


def page_text(response) -> str:
    """Return the page's visible text, tags removed and spaces collapsed."""
    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(text).split())


def stored_jobs(settings) -> list[str]:
    return open_storage(settings).list("jobs/")


def test_form_shows_the_upload_limit_presets_and_a_csrf_token(client):
    response = client.get("/")
    assert response.status_code == 200
    text = page_text(response)
    assert "Up to 64.0 KiB and 50,000,000 pixels: PNG, JPEG, WebP, GIF, BMP, TIFF." in text
    assert "2, 5, 10, 15, 24 (the article's choice)" in text
    assert "Auto: the fewest colours for a target quality" in text
    assert re.search(r'<label for="image">', response.get_data(as_text=True))
    assert csrf_token(client)


def test_valid_submission_stores_the_job_enqueues_it_and_redirects_to_its_page(
    client, settings, broker
):
    response = submit(client, k_choice="custom", k_custom="3, 6 12", dither="y", space="lab")
    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    assert response.headers["Location"] == f"/jobs/{job_id}"
    document = json.loads(open_storage(settings).get(f"jobs/{job_id}/job.json"))
    assert document["status"] == "queued"
    assert document["params"] == {"k": [3, 6, 12], "dither": True, "space": "lab",
                                  "target_psnr": None, "seed": 0, "format": "png"}  # fmt: skip
    assert open_storage(settings).get(document["input"]["key"]) == gradient_png()
    [message] = broker.lrange(QUEUE, 0, -1)
    args, _, _ = json.loads(base64.b64decode(json.loads(message)["body"]))
    assert args == [job_id]


def test_auto_mode_sends_the_target_quality_and_no_k(client, settings):
    response = submit(client, k_choice="auto", target_psnr="32.5", format="webp")
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    document = json.loads(open_storage(settings).get(f"jobs/{job_id}/job.json"))
    assert document["params"]["k"] == []
    assert document["params"]["target_psnr"] == 32.5
    assert document["params"]["format"] == "webp"


def test_post_without_the_csrf_token_is_refused_with_a_message_and_nothing_stored(client, settings):
    response = submit(client, token=False)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "The form expired or was not sent from this site" in page_text(response)
    assert stored_jobs(settings) == []


def test_oversized_upload_gets_the_form_back_with_the_limit(client, settings):
    response = submit(client, data=b"\x89PNG" + bytes(70 * 1024))
    assert response.status_code == 413
    assert "The file is too large: uploads are limited to 64.0 KiB." in page_text(response)
    assert "Traceback" not in response.get_data(as_text=True)
    assert stored_jobs(settings) == []


def test_non_image_upload_gets_a_plain_message(client, settings):
    response = submit(client, data=b"just some text, not a picture", filename="notes.png")
    assert response.status_code == 415
    assert (
        "Not a recognised image; supported formats: PNG, JPEG, WebP, GIF, BMP, TIFF."
        in page_text(response)
    )
    assert stored_jobs(settings) == []


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"k_choice": "custom", "k_custom": ""}, 400, "Enter at least one k value"),
        ({"k_choice": "custom", "k_custom": "4, 300"}, 400,
         "k must be whole numbers, each from 2 to 256, not 300."),
        ({"k_choice": "custom", "k_custom": "4, ²"}, 400, "k must be whole numbers"),
        ({"k_choice": "custom", "k_custom": ",".join(map(str, range(2, 20)))}, 400,
         "k: at most 16 k values per job, got 18."),
        ({"k_choice": "auto", "target_psnr": "1e400"}, 400,
         "target_psnr must be a number from 10 to 80"),
        ({"k_choice": "auto", "target_psnr": ""}, 400, "Enter a target PSNR in dB"),
        ({"space": "hsv"}, 400, "Not a valid choice"),
    ],
)  # fmt: skip
def test_invalid_choices_are_explained_on_the_form(client, settings, fields, status, message):
    response = submit(client, **fields)
    assert response.status_code == status
    assert message in page_text(response)
    assert stored_jobs(settings) == []


def test_missing_file_is_explained(client):
    token = csrf_token(client)
    response = client.post("/", data={"csrf_token": token, "k_choice": "2,5,10,15,24"})
    assert response.status_code == 400
    assert "Choose an image to upload." in page_text(response)


def test_json_api_stays_usable_by_programs_without_a_csrf_token(client):
    form = {"image": (io.BytesIO(b"not an image"), "x.png")}
    response = client.post("/api/jobs", data=form, content_type="multipart/form-data")
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_format"


def test_unknown_job_page_says_so(client):
    response = client.get("/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert response.status_code == 404
    assert "No job '01ARZ3NDEKTSV4RRFFQ69G5FAV'" in page_text(response)


def stored_failed_job(settings) -> Job:
    job = Job.create(QuantizeParams(k=(2, 8)), "jobs/x/input.png", {"format": "png", "width": 4})
    job.start()
    job.fail("corrupt_image", "the image cannot be read: truncated PNG")
    save_job(open_storage(settings), job)
    return job


def test_failed_job_page_shows_its_error_plainly(client, settings):
    job = stored_failed_job(settings)
    text = page_text(client.get(f"/jobs/{job.id}"))
    assert "The job failed The image cannot be read: truncated PNG." in text
    assert "Error code: corrupt_image" in text
    panel = client.get(f"/jobs/{job.id}/panel")
    assert panel.status_code == 200
    assert "<html" not in panel.get_data(as_text=True)
    assert "truncated PNG" in page_text(panel)


def test_recent_jobs_lists_stored_jobs_newest_first(client, settings):
    first, second = stored_failed_job(settings), stored_failed_job(settings)
    html = client.get("/jobs").get_data(as_text=True)
    assert html.index(second.id) < html.index(first.id)
    assert f'src="/api/jobs/{first.id}/input"' in html  # no output to show instead
    assert "k = 2, 8" in page_text(client.get("/jobs"))


def test_recent_jobs_show_the_output_with_most_colours_as_thumbnail(client, settings):
    storage = open_storage(settings)
    job = Job.create(QuantizeParams(k=(2, 16)), "jobs/x/input.png", {"format": "png"})
    job.start()
    for k in (16, 2):
        job.record_result(k, {"bytes": 1}, result_key(job.id, k, "png"))
    save_job(storage, job)
    html = client.get("/jobs").get_data(as_text=True)
    assert f'src="/api/jobs/{job.id}/results/16"' in html


def test_empty_job_list_invites_a_first_job(client):
    assert "No jobs yet. Quantize a first image" in page_text(client.get("/jobs"))


def test_a_configured_secret_key_signs_the_session(settings):
    app = create_app({"KCOLORS_SETTINGS": settings.replace(secret_key="s3cret")})
    assert app.config["SECRET_KEY"] == "s3cret"


def sign_in(client, token: str, next_page: str = "/"):
    html = client.get(f"/signin?next={next_page}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    return client.post(f"/signin?next={next_page}", data={"csrf_token": csrf, "token": token})


def test_with_api_tokens_the_pages_ask_for_a_token_once_and_list_the_clients_jobs(settings):
    tokens = settings.replace(api_tokens=("token-a", "token-b"))
    app = create_app({"TESTING": True, "KCOLORS_SETTINGS": tokens})
    client, other = app.test_client(), app.test_client()
    someone_elses = stored_failed_job(settings)
    assert client.get("/").status_code == 303  # not signed in: to the sign-in form
    refused = sign_in(client, "not-a-token")
    assert refused.status_code == 401 and "not one of this service's tokens" in page_text(refused)
    assert client.get("/jobs").status_code == 303
    signed_in = sign_in(client, "token-a", "/jobs")
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/jobs"
    mine = submit(client).headers["Location"].rsplit("/", 1)[1]
    assert sign_in(other, "token-b").status_code == 303
    theirs = submit(other).headers["Location"].rsplit("/", 1)[1]
    response = client.get("/jobs")
    html = response.get_data(as_text=True)
    assert mine in html and theirs not in html and someone_elses.id not in html
    assert "The jobs submitted with your token." in page_text(response)
    assert theirs in other.get("/jobs").get_data(as_text=True)
    # A job's page stays readable by its id, signed in or not: the id is the capability.
    assert app.test_client().get(f"/jobs/{mine}").status_code == 200
    # The API knows the same client by its bearer token.
    listed = client.get("/api/jobs", headers={"Authorization": "Bearer token-a"}).get_json()
    assert [job["id"] for job in listed["jobs"]] == [mine]


def test_sign_in_goes_back_only_to_a_page_of_this_site(settings):
    tokens = settings.replace(api_tokens=("token-a",))
    client = create_app({"TESTING": True, "KCOLORS_SETTINGS": tokens}).test_client()
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = sign_in(client, "token-a", target)
        assert response.status_code == 303 and response.headers["Location"] == "/"
    assert sign_in(client, "token-a", "/jobs").headers["Location"] == "/jobs"


def test_without_javascript_only_an_unfinished_job_page_reloads_itself(client, settings):
    queued = submit(client).headers["Location"]
    assert 'http-equiv="refresh"' in client.get(queued).get_data(as_text=True)
    failed = stored_failed_job(settings)
    assert "refresh" not in client.get(f"/jobs/{failed.id}").get_data(as_text=True)


def test_pages_load_only_this_sites_code_and_images_from_storage(client, settings):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "img-src 'self' data: blob:;" in policy  # local storage: images come through the API
    s3 = settings.replace(storage_url="s3://bucket/p", s3_endpoint_url="http://127.0.0.1:9000/x")
    s3_client = create_app({"TESTING": True, "KCOLORS_SETTINGS": s3}).test_client()
    response = s3_client.get("/")
    assert (
        "img-src 'self' data: blob: http://127.0.0.1:9000;"
        in (response.headers["Content-Security-Policy"])
    )
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Content-Security-Policy" not in client.get("/healthz").headers


def test_storage_down_gets_a_plain_page_not_json(settings, s3_server):
    down = settings.replace(storage_url="s3://no-such-bucket/p", s3_endpoint_url=s3_server)
    client = create_app({"TESTING": True, "KCOLORS_SETTINGS": down}).test_client()
    response = client.get("/jobs")
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert page_text(response).startswith("Temporarily unavailable")
    assert "Storage error on 'jobs/': NoSuchBucket." in page_text(response)


def test_a_job_that_reuses_results_says_so_without_naming_another_job(client, settings):
    storage = open_storage(settings)
    source = Job.create(QuantizeParams(k=(2,)), "jobs/x/input.png", {"format": "png"})
    source.start()
    palette = [{"hex": "#102030", "share": 1}]
    stats = {"format": "png", "bytes": 9, "distinct_colors": 2, "compression_ratio": 3.0,
             "truecolor_png_bytes": 20, "psnr": 25.0, "palette": palette}  # fmt: skip
    source.record_result(2, stats, result_key(source.id, 2, "png"))
    source.succeed({"width": 4, "height": 3})
    again = Job.create(QuantizeParams(k=(2,)), "", {"format": "png"})
    again.reuse_results(source)
    save_job(storage, again)
    text = page_text(client.get(f"/jobs/{again.id}"))
    assert "quantized before: these results are copies of that work" in text
    assert source.id not in text
    assert "#102030 100.0%" in text
