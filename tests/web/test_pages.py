"""The pages over Flask's test client: form validation, CSRF, and jobs read from storage."""

import base64
import html
import io
import json
import re

import pytest

from kcolors.engine.formats import INPUT_FORMATS
from kcolors.engine.params import QuantizeParams
from kcolors.jobs.batch import expand, load_batch
from kcolors.jobs.broker import QUEUE, redis_for
from kcolors.jobs.job import Job, result_key, save_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import open_storage
from tests.images import encode, gradient_image, gradient_png, icc_profile
from web import create_app
from web.auth import owner_id
from web.pages import JOBS_PER_PAGE
from web.services import upload_name


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
    assert (
        "Up to 64.0 KiB and 50,000,000 pixels: PNG, JPEG, WebP, GIF, BMP, TIFF, HEIC, AVIF." in text
    )
    assert "2, 5, 10, 15, 24 (the article's choice)" in text
    assert "Auto: the fewest colours for a target quality" in text
    assert re.search(r'<label for="image">', response.get_data(as_text=True))
    assert csrf_token(client)


def test_the_file_picker_offers_every_format_of_the_table(client):
    [accept] = re.findall(r'<input[^>]* accept="([^"]+)"', client.get("/").get_data(as_text=True))
    for row in INPUT_FORMATS.values():
        assert {row.media_type, f".{row.extension}"} <= set(accept.split(","))


def test_a_heic_photo_from_a_phone_is_taken_by_the_form(client, settings):
    data = encode(gradient_image(), "HEIF", icc_profile=icc_profile())
    response = submit(client, data=data, filename="IMG_0001.HEIC")
    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    document = json.loads(open_storage(settings).get(f"jobs/{job_id}/job.json"))
    assert document["input"]["format"] == "heic"
    assert document["input"]["key"] == f"jobs/{job_id}/input.heic"
    assert open_storage(settings).get(document["input"]["key"]) == data


def test_valid_submission_stores_the_job_enqueues_it_and_redirects_to_its_page(
    client, settings, broker
):
    response = submit(client, k_choice="custom", k_custom="3, 6 12", dither="y", space="lab")
    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    assert response.headers["Location"] == f"/jobs/{job_id}"
    document = json.loads(open_storage(settings).get(f"jobs/{job_id}/job.json"))
    assert document["status"] == "queued"
    assert document["params"] == QuantizeParams(k=(3, 6, 12), dither=True, space="lab").to_dict()
    assert open_storage(settings).get(document["input"]["key"]) == gradient_png()
    [message] = broker.lrange(QUEUE, 0, -1)
    args, _, _ = json.loads(base64.b64decode(json.loads(message)["body"]))
    assert args == [job_id]


def test_the_optimize_checkbox_reaches_the_job(client, settings):
    assert 'name="optimize" type="checkbox"' in client.get("/").get_data(as_text=True)
    response = submit(client, optimize="y")
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    document = json.loads(open_storage(settings).get(f"jobs/{job_id}/job.json"))
    assert document["params"]["optimize"] is True
    assert "<dt>Optimized</dt>" in client.get(f"/jobs/{job_id}").get_data(as_text=True)


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
        "Not a recognised image; supported formats: PNG, JPEG, WebP, GIF, BMP, TIFF, HEIC, AVIF."
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
        ({"format": "webp", "optimize": "y"}, 400,
         "optimize: applies to PNG outputs only, not to format webp."),
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


def test_failed_job_page_shows_its_error_plainly_and_says_failed_once(client, settings):
    job = stored_failed_job(settings)
    text = page_text(client.get(f"/jobs/{job.id}"))
    # The badge says "failed" (capitalised by CSS); the sentence beside it does not repeat it.
    assert "failed It stopped with an error before making any output." in text
    assert "Why it failed The image cannot be read: truncated PNG." in text
    assert "Error code: corrupt_image" in text
    assert "Failed." not in text
    panel = client.get(f"/jobs/{job.id}/panel")
    assert panel.status_code == 200
    assert "<html" not in panel.get_data(as_text=True)
    assert "truncated PNG" in page_text(panel)


def test_recent_jobs_lists_stored_jobs_newest_first(client, settings):
    first, second = stored_failed_job(settings), stored_failed_job(settings)
    html = client.get("/jobs").get_data(as_text=True)
    assert html.index(second.id) < html.index(first.id)
    assert f'src="/api/jobs/{first.id}/preview"' in html  # no output to show instead
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
    # Every response carries them, not only pages (web/security.py).
    assert "frame-ancestors 'none'" in client.get("/healthz").headers["Content-Security-Policy"]


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


# --- Names, stages, shapes and the list of jobs (issue 14) ---------------------------------


def stored_job(settings, status="queued", *, ks=(2, 8), target=None, name=None, owner=None,
               width=64, height=48, stage=None, results=0, error=None) -> Job:  # fmt: skip
    """Store a job document as the service would have left it, without running anything."""
    info = {"format": "png", "width": width, "height": height, "bytes": 999}
    job = Job.create(QuantizeParams(k=ks, target_psnr=target), "", info, owner)
    job.input["key"] = f"jobs/{job.id}/input.png"
    if name:
        job.input["name"] = name
    if status != "queued":
        job.start()
    for k in ks[:results]:
        stats = {"bytes": 100 * k, "psnr": 20.0 + k, "distinct_colors": k, "palette": [],
                 "compression_ratio": 2.0, "truecolor_png_bytes": 900}  # fmt: skip
        job.record_result(k, stats, result_key(job.id, k, "png"))
    job.stage = stage
    if status == "failed":
        job.fail(*(error or ("corrupt_image", "the image cannot be read")))
    elif status == "succeeded":
        job.succeed({})
    elif status == "cancelled":
        job.cancel()
    save_job(open_storage(settings), job)
    return job


@pytest.mark.parametrize(
    ("reached", "note"),
    [
        (True, "The fewest colours reaching the target, 60 dB."),
        (
            False,
            "Target 60 dB out of reach: no number of colours up to 256 gets there. These 256 "
            "give 35.8 dB, the closest there is.",
        ),
    ],
)
def test_an_auto_k_output_says_whether_it_reached_its_target(client, settings, reached, note):
    job = stored_job(settings, "running", ks=(), target=60)
    stats = {"bytes": 100, "psnr": 35.7513, "distinct_colors": 256, "palette": [], "auto": True,
             "target_psnr": 60.0, "target_reached": reached, "search_psnr": 35.7513}  # fmt: skip
    job.record_result(256, stats, result_key(job.id, 256, "png"))
    job.succeed({})
    save_job(open_storage(settings), job)
    html = client.get(f"/jobs/{job.id}").text
    assert note in page_text(client.get(f"/jobs/{job.id}"))
    assert ("256 <small>(auto, target not reached)</small>" in html) is not reached


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("cat.png", "cat.png"),
        ("C:\\Users\\me\\Pictures\\cat.png", "cat.png"),  # old browsers send the whole path
        ("../../etc/passwd", "passwd"),
        ("ca\x00t\x07\n.png", "cat.png"),
        ("gnp.\u202etac.exe", "gnp.tac.exe"),  # no right-to-left override to disguise a name
        ("  spaced out.png  ", "spaced out.png"),
        ("x" * 300 + ".png", "x" * 200),
        ("", None),
        ("\x1b\x7f", None),
        (None, None),
    ],
)
def test_upload_names_are_cleaned(sent, kept):
    assert upload_name(sent) == kept


def test_the_form_keeps_the_uploads_name_and_the_pages_show_it(client, settings):
    response = submit(client, filename="photos/2026/holi\x07day\u202e.png")
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    document = json.loads(open_storage(settings).get(f"jobs/{job_id}/job.json"))
    assert document["input"]["name"] == "holiday.png"
    page = client.get(f"/jobs/{job_id}")
    assert re.search(r'<h1 id="job-title">holiday.png</h1>', page.get_data(as_text=True))
    assert page_text(page).startswith("holiday.png · Job")  # the window title
    assert "holiday.png" in page_text(client.get("/jobs"))


def test_a_job_without_a_name_says_so_and_a_source_job_uses_its_key(client, settings):
    unnamed = stored_job(settings)
    assert '<h1 id="job-title">Untitled image</h1>' in client.get(f"/jobs/{unnamed.id}").text
    source = Job.create(QuantizeParams(k=(2,)), "uploads/2026/beach.jpg", {"format": "jpeg"})
    save_job(open_storage(settings), source)
    assert '<h1 id="job-title">beach.jpg</h1>' in client.get(f"/jobs/{source.id}").text


def test_batch_jobs_are_listed_under_their_pictures_names(client, settings):
    pictures = [("first.png", gradient_png(seed=1)), ("second.png", gradient_png(seed=2))]
    form = {"image": [(io.BytesIO(data), name) for name, data in pictures], "k": "2"}
    batch = client.post("/api/batches", data=form, content_type="multipart/form-data").get_json()
    storage = open_storage(settings)
    expand(storage, redis_for(settings), load_batch(storage, batch["id"]), settings)
    names = re.findall(r'<span class="job-name">([^<]+)</span>', client.get("/jobs").text)
    assert names == ["second.png", "first.png"]


def test_the_original_is_shown_from_the_moment_the_page_opens(client, settings):
    job = stored_job(settings, name="cat.png", width=451, height=300)
    html = client.get(f"/jobs/{job.id}").text
    original = re.search(r'<figure class="original" id="original">.*?</figure>', html, re.S)[0]
    assert f'src="/api/jobs/{job.id}/preview" alt="The original: cat.png"' in original
    assert 'width="451" height="300"' in original
    assert "The original: 451\u00d7300 PNG, 999 B" in page_text_of(original)
    assert "Waiting for a worker…" in page_text(client.get(f"/jobs/{job.id}"))


def test_a_running_job_shows_its_stage_else_how_many_outputs_it_made(client, settings):
    auto = stored_job(settings, "running", ks=(), target=35.0,
                      stage="Auto-k: tried 37 colours, 32.1 dB")  # fmt: skip
    html = client.get(f"/jobs/{auto.id}").text
    assert '<span id="status-text">Auto-k: tried 37 colours, 32.1 dB</span>' in html
    assert 'data-stage="Auto-k: tried 37 colours, 32.1 dB"' in html
    # Nothing to measure yet: the bar is indeterminate (no value) rather than stuck at 0 %.
    assert re.search(r'<progress id="progress" max="1">', html)
    assert re.search(r'<span id="outputs-made">: 0 of 1 output made</span>', html)
    counted = stored_job(settings, "running", ks=(2, 5, 10, 15, 24), results=2)
    html = client.get(f"/jobs/{counted.id}/panel").text
    assert '<span id="status-text">2 of 5 outputs made.</span>' in html
    assert '<progress id="progress" max="1" value="0.4">' in html
    both = stored_job(settings, "running", ks=(4, 8), target=30.0, results=1)
    assert "1 of 3 outputs made." in page_text(client.get(f"/jobs/{both.id}/panel"))
    assert "k 4, 8 + auto (target 30 dB)" in page_text(client.get(f"/jobs/{both.id}/panel"))


def test_a_cancelled_job_says_what_it_kept(client, settings):
    kept = stored_job(settings, "cancelled", ks=(2, 4, 8), results=2)
    text = page_text(client.get(f"/jobs/{kept.id}"))
    assert "cancelled Stopped on request after 2 of 3 outputs; they are kept below." in text
    assert "Cancel job" not in text
    none = stored_job(settings, "cancelled")
    assert "Stopped on request before making any output." in page_text(
        client.get(f"/jobs/{none.id}")
    )


def test_pictures_are_framed_by_shape_and_a_hairline_strip_is_drawn_stretched(client, settings):
    def frames(job):
        return set(re.findall(r'<span class="frame ([^"]+)">', client.get(f"/jobs/{job.id}").text))

    tall = stored_job(settings, "succeeded", ks=(2, 4), results=2, width=1, height=40_000)
    assert frames(tall) == {"frame-portrait frame-strip-tall"}
    html = client.get(f"/jobs/{tall.id}").text
    assert "Drawn wider than it is: at its true shape it would be a hairline." in html
    assert 'data-frame="frame-portrait frame-strip-tall"' in html  # for the viewer
    assert 'class="thumb-frame frame-portrait frame-strip-tall"' in client.get("/jobs").text
    wide = stored_job(settings, width=40_000, height=2)
    assert frames(wide) == {"frame-landscape frame-strip-wide"}
    assert frames(stored_job(settings, width=3000, height=2000)) == {"frame-landscape"}
    assert frames(stored_job(settings, width=2000, height=2900)) == {"frame-portrait"}
    assert frames(stored_job(settings, width=1000, height=1000)) == {"frame-square"}
    assert frames(stored_job(settings, width=30, height=24)) == {"frame-landscape frame-pixels"}
    assert "Drawn" not in client.get(f"/jobs/{wide.id}").text.replace("Drawn taller", "")


def test_the_chart_caption_comes_from_the_data(client, settings):
    job = stored_job(settings, "succeeded", ks=(2, 4, 8), results=3)
    html = client.get(f"/jobs/{job.id}").text
    assert html.count('class="point"') == 3
    caption = page_text_of(
        re.search(r'<figcaption id="chart-caption">.*?</figcaption>', html, re.S)[0]
    )
    assert "From k = 2 to k = 8, PSNR rises from 22.0 to 28.0 dB" in caption
    assert "Each extra colour buys less quality" not in html
    single = stored_job(settings, "succeeded", ks=(4,), results=1)
    html = client.get(f"/jobs/{single.id}").text
    assert 'id="chart"' not in html
    assert "One output: k = 4: PSNR 24.0 dB, 400 B." in page_text(client.get(f"/jobs/{single.id}"))


def test_the_stats_table_puts_psnr_and_size_beside_k(client, settings):
    job = stored_job(settings, "succeeded", ks=(2,), results=1)
    heads = re.findall(r'<th scope="col">([^<]+)</th>', client.get(f"/jobs/{job.id}").text)
    assert heads[:3] == ["k", "PSNR (dB)", "Size"]


def listed(client, url: str) -> tuple[list[str], str]:
    """The job ids a /jobs page lists, in order, and its HTML."""
    html = client.get(url).text
    return re.findall(r'<li class="card job-item" data-status="\w+" data-id="(\w+)">', html), html


def link(html: str, element_id: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)"[^>]*id="{element_id}"', html)
    return html_unescape(found[1]) if found else None


def test_the_list_of_jobs_goes_back_a_page_at_a_time_and_forward_again(client, settings):
    ids = [stored_job(settings, name=f"picture-{n}.png").id for n in range(30)]
    newest_first = ids[::-1]
    first, html = listed(client, "/jobs")
    assert first == newest_first[:JOBS_PER_PAGE]
    assert link(html, "newer-page") is None and link(html, "newest-page") is None
    older = link(html, "older-page")
    assert older == f"/jobs?before={first[-1]}"
    second, html = listed(client, older)
    assert second == newest_first[JOBS_PER_PAGE:]
    assert link(html, "older-page") is None
    assert link(html, "newest-page") == "/jobs"
    back, html = listed(client, link(html, "newer-page"))
    assert back == first
    assert link(html, "older-page") == older and link(html, "newer-page") is None
    # A job made meanwhile neither shifts nor repeats the pages already counted from the cursor.
    newest = stored_job(settings).id
    assert listed(client, older)[0] == second
    assert listed(client, "/jobs")[0][0] == newest


def test_the_list_of_jobs_filters_by_status_across_pages(client, settings):
    failed = [stored_job(settings, "failed", name=f"bad-{n}.png").id for n in range(26)]
    done = stored_job(settings, "succeeded", ks=(2,), results=1).id
    running = stored_job(settings, "running", stage="Fitting 8 colours").id
    ids, html = listed(client, "/jobs?status=failed")
    assert ids == failed[::-1][:JOBS_PER_PAGE]
    assert re.search(r'aria-current="page"\s+data-status="failed"', html)
    assert link(html, "older-page") == f"/jobs?status=failed&before={ids[-1]}"
    assert listed(client, link(html, "older-page"))[0] == failed[::-1][JOBS_PER_PAGE:]
    assert listed(client, "/jobs?status=succeeded")[0] == [done]
    ids, html = listed(client, "/jobs?status=running")
    assert ids == [running] and "Fitting 8 colours" in page_text_of(html)
    ids, html = listed(client, "/jobs?status=cancelled")
    assert ids == [] and "No cancelled jobs." in page_text_of(html)
    assert listed(client, "/jobs")[0][:2] == [running, done]


def test_a_failed_job_in_the_list_says_why_once(client, settings):
    long = "the image cannot be read: " + "truncated " * 30
    job = stored_job(settings, "failed", name="broken.png", error=("corrupt_image", long))
    html = listed(client, "/jobs")[1]
    item = re.search(rf'data-id="{job.id}">(.*?)</li>', html, re.S)[1]
    text = page_text_of(item)
    assert text.startswith("broken.png failed The image cannot be read: truncated truncated")
    assert "…" in text and len(re.search(r'class="job-detail">([^<]*)<', item)[1]) == 120
    assert "Failed." not in text


@pytest.mark.parametrize(
    "query", ["status=lost", "before=not-an-id", "after=01ARZ3NDEKTSV4RRFFQ69G5FA"]
)
def test_a_bad_list_address_gets_a_plain_page(client, query):
    response = client.get(f"/jobs?{query}")
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    assert page_text(response).startswith("Not a valid address")


def test_with_tokens_the_filtered_pages_hold_only_the_clients_jobs(settings):
    tokens = settings.replace(api_tokens=("token-a", "token-b"))
    client = create_app({"TESTING": True, "KCOLORS_SETTINGS": tokens}).test_client()
    mine = [stored_job(settings, "failed", owner=owner_id("token-a")).id for _ in range(3)]
    theirs = stored_job(settings, "failed", owner=owner_id("token-b")).id
    sign_in(client, "token-a")
    assert listed(client, "/jobs?status=failed")[0] == mine[::-1]
    assert theirs not in client.get(f"/jobs?status=failed&after={mine[0]}").text


def page_text_of(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def html_unescape(value: str) -> str:
    return html.unescape(value)


def test_a_filtered_page_reads_a_bounded_number_of_jobs_then_goes_on_from_there(
    client, settings, monkeypatch
):
    monkeypatch.setattr("kcolors.jobs.job.MAX_LIST_SCAN", 5)
    failed = stored_job(settings, "failed").id
    for _ in range(11):
        stored_job(settings)
    ids, html = listed(client, "/jobs?status=failed")
    assert ids == [] and "None among the jobs looked through here" in page_text_of(html)
    ids, html = listed(client, link(html, "older-page"))
    assert ids == []
    ids, html = listed(client, link(html, "older-page"))
    assert ids == [failed] and link(html, "older-page") is None


def test_an_output_larger_than_the_original_says_so_with_its_ratio(client, settings):
    """A small, heavily compressed JPEG of a noisy photo: its 24-colour PNG is larger."""
    from kcolors.jobs.runner import run_job
    from tests.images import noisy_photo

    photo = encode(noisy_photo(120, 160), "JPEG", quality=20)
    response = submit(client, photo, filename="noisy.jpg", k_choice="custom", k_custom="24")
    assert response.status_code == 303, page_text(response)
    job_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    run_job(open_storage(settings), job_id, settings)
    stored = json.loads(open_storage(settings).get(f"jobs/{job_id}/job.json"))
    [result] = stored["results"]
    assert result["bytes"] > len(photo)  # the case the note is for
    text = page_text(client.get(f"/jobs/{job_id}"))
    expected = f"{result['bytes'] / len(photo):.1f}"
    assert f"{expected} times the original's size: try WebP or optimize" in text
    smaller = submit(client, gradient_png(), k_choice="custom", k_custom="2")
    smaller_id = smaller.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    run_job(open_storage(settings), smaller_id, settings)
    assert "the original's size" not in page_text(client.get(f"/jobs/{smaller_id}"))


def test_every_bad_k_value_is_named_at_once_beside_the_field(client, settings):
    response = submit(client, k_choice="custom", k_custom="4, x, 300, 1e400, 8")
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    expected = "k must be whole numbers, each from 2 to 256, not x, 300, 1e400."
    assert f'<p class="field-error" id="k_custom-error">{expected}</p>' in body
    assert expected in page_text(response).split("Image", 1)[0]  # and in the list at the top
    assert "Choose the image again" in page_text(response)
    assert stored_jobs(settings) == []
