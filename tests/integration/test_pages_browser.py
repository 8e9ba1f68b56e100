"""The pages in headless Chromium against the app served over HTTP: the form's behaviour."""

import base64

import pytest
import redis

from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import open_storage
from tests.fixtures.browser import PHONE, wait_until_true
from tests.images import chelsea_png

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
