"""The pages in headless Chromium against the app served over HTTP: the form's behaviour."""

import base64

import pytest
import redis

from kcolors.engine.params import QuantizeParams
from kcolors.jobs.broker import redis_for
from kcolors.jobs.events import after_save
from kcolors.jobs.job import Job, load_job, result_key, save_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import open_storage
from tests.fixtures.browser import PHONE, overlapping, wait_until_true
from tests.images import chelsea_png, encode, gradient_image
from web.pages import JOBS_PER_PAGE

pytestmark = pytest.mark.browser


@pytest.fixture
def local_settings(tmp_path, valkey_server) -> Settings:
    """Local storage and a real (flushed) broker with no worker: jobs stay queued."""
    redis.Redis.from_url(valkey_server.connection_url).flushall()
    return Settings(
        storage_url=f"file://{tmp_path / 'store'}",
        broker_url=valkey_server.connection_url,
        max_upload_bytes=300 * 1024,
    )


@pytest.fixture
def server(start_live_server, local_settings):
    return start_live_server(local_settings)


def test_dropped_image_is_previewed_and_the_form_works_by_keyboard(
    server, tab, local_settings, screenshot_dir
):
    page = tab.page
    page.goto(server.url + "/")
    assert (
        page.get_by_text("Up to 300 KiB").is_visible() or page.locator("#image-help").is_visible()
    )
    # Keyboard: Tab reaches the file picker; the custom field selects its radio when focused.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "image":
            break
    assert page.evaluate("document.activeElement.id") == "image"
    page.locator("#k_custom").focus()
    assert page.locator("input[name=k_choice][value=custom]").is_checked()
    page.locator("#k_custom").fill("3, 7")

    drop_file(page, "#dropzone", chelsea_png(), "chelsea.png", "image/png")
    preview = page.locator("#preview")
    preview.wait_for(state="visible")
    wait_until_true(page, "document.getElementById('preview').naturalWidth > 0")
    assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [451, 300]
    assert preview.get_attribute("alt") == "Preview of chelsea.png"
    assert page.locator("#dropzone-text").inner_text().startswith("chelsea.png")
    drop_file(page, "h1", chelsea_png(), "cat.png", "image/png")  # anywhere on the page
    wait_until_true(page, "document.getElementById('preview').alt === 'Preview of cat.png'")
    assert page.url == server.url + "/"
    drop_file(page, "#dropzone", chelsea_png(), "chelsea.png", "image/png")
    wait_until_true(page, "document.getElementById('preview').alt === 'Preview of chelsea.png'")
    assert page.locator("#dropzone.dragging").count() == 0
    page.screenshot(path=screenshot_dir / "form.png", full_page=True)
    assert tab.accessibility_problems() == []

    page.keyboard.press("Enter")  # submits from the focused text field
    page.wait_for_url(f"{server.url}/jobs/*")
    job_id = page.url.rsplit("/", 1)[1]
    assert page.locator("#status-text").inner_text() == "Waiting for a worker…"
    assert page.locator("#job-title").inner_text() == "chelsea.png"
    # The original is there from the start, before any worker has looked at the job.
    wait_until_true(page, "document.querySelector('#original img').naturalWidth === 451")
    assert page.locator("dd", has_text="3, 7").count() == 1
    stored = open_storage(local_settings).get(f"jobs/{job_id}/input.png")
    assert stored == chelsea_png()
    assert tab.errors == []


def test_oversized_file_is_refused_before_uploading(server, tab, local_settings):
    page = tab.page
    page.goto(server.url + "/")
    big = chelsea_png() + bytes(300 * 1024)  # a PNG with trailing bytes, over the 300 KiB limit
    page.locator("#image").set_input_files(
        files=[{"name": "big.png", "mimeType": "image/png", "buffer": big}]
    )
    error = page.locator("#image-client-error")
    assert error.inner_text() == '"big.png" is too large: uploads are limited to 300.0 KiB.'
    page.locator("#submit").click()
    assert page.url == server.url + "/"  # nothing was sent
    assert open_storage(local_settings).list("jobs/") == []
    assert tab.errors == []


def test_non_image_upload_shows_the_error_on_the_form(server, open_tab, local_settings):
    tab = open_tab(PHONE)
    page = tab.page
    page.goto(server.url + "/")
    page.locator("#image").set_input_files(
        files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture at all"}]
    )
    page.locator("#submit").click()
    alert = page.get_by_role("alert").filter(has_text="could not be submitted")
    alert.wait_for()
    assert "Not a recognised image; supported formats: PNG, JPEG, WebP" in alert.inner_text()
    # upload.js moves the focus once it runs, which can be after the alert is shown.
    wait_until_true(page, "document.activeElement.id === 'form-errors'")
    assert tab.accessibility_problems() == []
    assert page.locator("#submit").is_enabled()
    assert open_storage(local_settings).list("jobs/") == []
    # The answer is a 415 page, which Chromium reports as a failed load; nothing else may fail.
    assert [e for e in tab.errors if "status of 415" not in e] == []


def drop_file(page, selector: str, data: bytes, name: str, media_type: str) -> None:
    """Drag a file onto an element the way a desktop drag-and-drop delivers it."""
    page.evaluate(
        """([selector, b64, name, type]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            const target = document.querySelector(selector);
            for (const kind of ["dragenter", "dragover", "drop"]) {
              target.dispatchEvent(new DragEvent(kind, { dataTransfer: transfer, bubbles: true,
                                                         cancelable: true }));
            }
        }""",
        [selector, base64.b64encode(data).decode(), name, media_type],
    )


# The top and bottom of an element's first line of text.
FIRST_LINE = """(el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const line = range.getClientRects()[0];
  return [line.top, line.bottom];
}"""


def test_on_a_phone_each_choice_sits_beside_its_radio_and_nothing_overlaps(
    server, open_tab, screenshot_dir
):
    tab = open_tab(PHONE)
    page = tab.page
    page.goto(server.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The radio is level with the first line of its label, however the rest of it wraps.
    for value in ("auto", "custom", "2,5,10,15,24"):
        radio = page.locator(f"input[name=k_choice][value='{value}']")
        label = page.locator(f"label[for='{radio.get_attribute('id')}']")
        box = radio.bounding_box()
        top, bottom = label.evaluate(FIRST_LINE)
        assert abs(box["y"] + box["height"] / 2 - (top + bottom) / 2) < 4, value
        assert box["x"] + box["width"] <= label.bounding_box()["x"]
    assert overlapping(page) == []
    page.screenshot(path=screenshot_dir / "form-phone.png", full_page=True)
    assert tab.accessibility_problems() == []
    assert tab.errors == []


def test_at_375_px_every_radio_and_checkbox_is_level_with_its_label(server, open_tab):
    """The narrowest common phone: the optimize checkbox's long label used to wrap under it."""
    phone = {"width": 375, "height": 812}
    tab = open_tab(phone)
    page = tab.page
    page.goto(server.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth") <= phone["width"]
    boxes = page.locator("input[type=radio], input[type=checkbox]")
    assert boxes.count() >= 8
    for index in range(boxes.count()):
        box = boxes.nth(index)
        label = page.locator(f"label[for='{box.get_attribute('id')}']")
        where = box.bounding_box()
        top, bottom = label.evaluate(FIRST_LINE)
        assert abs(where["y"] + where["height"] / 2 - (top + bottom) / 2) < 4, label.inner_text()
        assert where["x"] + where["width"] <= label.bounding_box()["x"], label.inner_text()
    assert overlapping(page) == []
    assert tab.errors == []


def store_jobs(settings, statuses: list[str]) -> list[str]:
    """Store finished or waiting jobs as the service would have left them; oldest first."""
    storage = open_storage(settings)
    picture = encode(gradient_image(90, 60))
    ids = []
    for n, status in enumerate(statuses):
        info = {"format": "png", "width": 90, "height": 60, "name": f"photo-{n}.png"}
        job = Job.create(QuantizeParams(k=(2, 8)), "", info)
        job.input["key"] = f"jobs/{job.id}/input.png"
        storage.put(job.input["key"], picture, "image/png")
        if status != "queued":
            job.start()
        if status == "failed":
            job.fail("corrupt_image", "the image could not be decoded: image file is truncated")
        elif status == "running":
            job.stage = "Fitting 8 colours"
        save_job(storage, job)
        ids.append(job.id)
    return ids


def test_the_list_of_jobs_pages_back_and_filters_by_status(
    server, tab, open_tab, local_settings, screenshot_dir
):
    statuses = ["failed" if n % 3 == 0 else "queued" for n in range(40)] + ["running"]
    ids = store_jobs(local_settings, statuses)
    page = tab.page
    page.goto(server.url + "/jobs")
    items = page.locator(".job-item")

    def shown() -> list[str]:
        return items.evaluate_all("els => els.map((el) => el.dataset.id)")

    assert shown() == ids[::-1][:JOBS_PER_PAGE]
    assert page.locator(".job-item .job-name").first.inner_text() == "photo-40.png"
    assert items.first.locator(".job-detail").inner_text() == "Fitting 8 colours"
    page.locator("#older-page").click()
    page.wait_for_url("**/jobs?before=*")
    assert shown() == ids[::-1][JOBS_PER_PAGE:]
    page.locator("#newer-page").click()
    page.wait_for_url("**/jobs?after=*")
    assert shown() == ids[::-1][:JOBS_PER_PAGE]

    failed = [job_id for job_id, status in zip(ids, statuses, strict=True) if status == "failed"]
    page.get_by_role("link", name="Failed", exact=True).click()
    page.wait_for_url("**/jobs?status=failed")
    assert shown() == failed[::-1]
    assert page.locator(".filters a[aria-current=page]").inner_text() == "Failed"
    reason = items.first.locator(".job-detail").inner_text()
    assert reason == "The image could not be decoded: image file is truncated."
    assert page.locator("#older-page").count() == 0
    assert tab.accessibility_problems() == []
    assert tab.errors == []

    phone = open_tab(PHONE)
    phone.page.goto(server.url + "/jobs")
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert overlapping(phone.page) == []
    # One line per job id: never broken in the middle.
    assert phone.page.locator(".job-item .job-id").evaluate_all(
        "els => els.every((el) => el.getClientRects().length === 1)"
    )
    phone.page.screenshot(path=screenshot_dir / "jobs-phone.png")
    assert phone.accessibility_problems() == []
    assert phone.errors == []


def test_cancelling_a_waiting_job_from_its_page(server, tab, local_settings):
    page = tab.page
    page.goto(server.url + "/")
    page.locator("#image").set_input_files(
        files=[{"name": "cat.png", "mimeType": "image/png", "buffer": chelsea_png()}]
    )
    page.locator("#submit").click()
    page.wait_for_url(f"{server.url}/jobs/*")
    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_selector("#job-panel[data-status=cancelled]")
    assert (
        page.locator("#status-text").inner_text() == "Stopped on request before making any output."
    )
    assert page.locator("#cancel-job").count() == 0
    assert tab.errors == []


SEARCH = [(37, 35.2), (19, 31.0), (28, 33.6), (32, 34.1)]  # auto-k's steps: colours, PSNR


def test_a_running_job_shows_the_original_and_each_stage_as_the_worker_saves_it(
    server, tab, open_tab, local_settings, screenshot_dir
):
    """An auto-k job, seen from its page while it runs. The worker's saves are made here,
    through the storage and the Redis notices a worker uses, so that each stage (the search
    steps among them) is seen at a known moment."""
    storage, notices = open_storage(local_settings), redis_for(local_settings)
    page = tab.page
    page.goto(server.url + "/")
    page.locator("#image").set_input_files(
        files=[{"name": "cat.png", "mimeType": "image/png", "buffer": chelsea_png()}]
    )
    page.get_by_label("Auto: the fewest colours for a target quality").check()
    page.get_by_label("Target quality (PSNR, dB)").fill("34")
    page.locator("#submit").click()
    page.wait_for_url(f"{server.url}/jobs/*")
    job_id = page.url.rsplit("/", 1)[1]
    wait_until_true(page, "document.querySelector('#original img').naturalWidth === 451")

    def save(change) -> None:
        job = load_job(storage, job_id)
        change(job)
        save_job(storage, job)
        after_save(notices, job)

    def set_stage(text: str):
        return lambda job: setattr(job, "stage", text)

    def status_text_becomes(text: str) -> None:
        wait_until_true(page, f"document.getElementById('status-text').textContent === {text!r}")

    save(lambda job: job.start())
    page.wait_for_selector("#job-panel[data-status=running]")
    status_text_becomes("0 of 1 output made.")
    assert page.locator("#announcer").text_content() == "0 of 1 output made."
    # Nothing to measure yet: the bar moves without claiming a share done.
    assert page.evaluate("document.getElementById('progress').hasAttribute('value')") is False
    page.locator("#cancel-job").focus()
    for stage in ["Decoding"] + [f"Auto-k: tried {k} colours, {db} dB" for k, db in SEARCH]:
        save(set_stage(stage))
        status_text_becomes(stage)
        assert page.locator("#outputs-made").inner_text() == ": 0 of 1 output made"
    # Written in place: neither announced one by one, nor taking the keyboard focus away.
    assert page.locator("#announcer").text_content() == "0 of 1 output made."
    assert page.evaluate("document.activeElement.id") == "cancel-job"
    page.evaluate("document.activeElement.blur()")  # no focus ring in the documentation
    page.screenshot(path=screenshot_dir / "job-running.png", full_page=True)
    assert tab.accessibility_problems() == []
    page.locator("#cancel-job").focus()

    phone = open_tab(PHONE)
    phone.page.goto(f"{server.url}/jobs/{job_id}")
    assert phone.page.locator("#status-text").inner_text() == "Auto-k: tried 32 colours, 34.1 dB"
    wait_until_true(phone.page, "document.querySelector('#original img').naturalWidth === 451")
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert overlapping(phone.page) == []
    assert phone.accessibility_problems() == []

    # The output found is stored, then recorded: the panel is drawn again around the focus.
    storage.put(result_key(job_id, 32, "png"), encode(gradient_image(451, 300)), "image/png")
    stats = {"bytes": 52_000, "psnr": 34.1, "distinct_colors": 32, "palette": [],
             "compression_ratio": 4.2, "truecolor_png_bytes": 220_000, "auto": True,
             "target_psnr": 34.0}  # fmt: skip
    save(lambda job: job.record_result(32, stats, result_key(job_id, 32, "png")))
    page.wait_for_selector("#job-panel[data-results='1']")
    wait_until_true(page, "document.querySelector('#output-k32 img.output-image') !== null")
    assert page.evaluate("document.activeElement.id") == "cancel-job"
    assert page.locator("#announcer").text_content() == "Auto-k: tried 32 colours, 34.1 dB"
    assert page.evaluate("document.getElementById('progress').value") == 1
    save(lambda job: job.succeed({"distinct_colors": 32_584}))
    page.wait_for_selector("#job-panel[data-status=succeeded]")
    status_text_becomes("Done: 1 output.")
    assert page.locator("#trade-off").inner_text() == "One output: k = 32: PSNR 34.1 dB, 50.8 KiB."
    assert page.locator("#announcer").text_content() == "Done: 1 output."
    assert tab.errors == [] and phone.errors == []
