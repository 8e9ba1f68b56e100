"""Batches on the web, in headless Chromium against the whole service (Valkey, moto's S3 server,
a Celery worker process and the app over HTTP): started from dropped pictures or a storage
prefix, followed live on their page, listed, and their report downloaded."""

from __future__ import annotations

import csv
import io

import pytest
from PIL import Image
from skimage import data as sample_images

from tests.fixtures.browser import PHONE, overlapping, wait_until_true
from tests.images import chelsea_png, encode, gradient_png

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

BATCH_TIMEOUT_MS = 120_000
# Samples what the batch page draws every 50 ms, and marks the page, so that a reload shows.
RECORD_STATES = """() => {
  window.notReloaded = true;
  window.drawn = [];
  setInterval(() => {
    const card = document.querySelector("[data-batch-status]");
    const done = document.querySelector("[data-count=succeeded] dd");
    window.drawn.push([card.dataset.batchStatus, done ? done.textContent : null]);
  }, 50);
}"""


def broken_jpeg() -> bytes:
    """A JPEG cut in half: its header is valid (the upload is accepted), its pixels are not."""
    photo = encode(Image.fromarray(sample_images.chelsea()), "JPEG")
    return photo[: len(photo) // 2]


def wait_until_ended(page) -> str:
    page.wait_for_selector(
        "#batch-panel[data-status=finished], #batch-panel[data-status=cancelled]",
        timeout=BATCH_TIMEOUT_MS,
    )
    return page.locator("#batch-panel").get_attribute("data-status")


def counts(page) -> dict[str, int]:
    cells = page.locator("#counts [data-count]")
    return {
        cells.nth(i).get_attribute("data-count"): int(cells.nth(i).locator("dd").inner_text())
        for i in range(cells.count())
    }


def test_dropped_pictures_make_a_batch_followed_live_to_its_report(service, tab, screenshot_dir):
    page = tab.page
    page.goto(service.url + "/batches")
    assert page.locator("#no-batches").inner_text().startswith("No batches yet.")
    page.locator("#new-batch").click()
    page.locator("#images").set_input_files(
        files=[
            {"name": "cat.png", "mimeType": "image/png", "buffer": chelsea_png(scale=2)},
            {"name": "ramp.png", "mimeType": "image/png", "buffer": gradient_png(300, 200)},
            {"name": "half.jpg", "mimeType": "image/jpeg", "buffer": broken_jpeg()},
        ]
    )
    assert page.locator("#images-chosen").inner_text().startswith("3 pictures chosen, ")
    page.get_by_label("2, 4, 8, 16 (1 to 4 bits per pixel)").check()
    page.screenshot(path=screenshot_dir / "batch-new.png", full_page=True)
    page.locator("#submit").click()
    page.wait_for_url(f"{service.url}/batches/*")
    batch_id = page.url.rsplit("/", 1)[1]
    page.evaluate(RECORD_STATES)
    assert page.locator("#batch-title").inner_text() == "Batch of 3 pictures"

    assert wait_until_ended(page) == "finished"
    assert page.evaluate("window.notReloaded")  # followed in place
    drawn = page.evaluate("window.drawn")
    assert drawn[-1] == ["finished", "2"]
    assert counts(page) == {
        "queued": 0, "running": 0, "succeeded": 2, "failed": 1, "cancelled": 0, "reused": 0,
    }  # fmt: skip
    assert page.locator("#status-text").inner_text() == "Done: 2 succeeded, 1 failed."
    assert page.locator("#progress").get_attribute("value") == "1.0"
    assert page.locator("#cancel-batch").count() == 0

    failed = page.locator("#failed li")
    assert failed.count() == 1
    assert failed.locator(".item-name").inner_text() == "half.jpg"
    assert "The image could not be decoded" in failed.inner_text()
    assert "corrupt_image" in failed.inner_text()
    rows = page.locator("#items-table tbody tr")
    states = {
        rows.nth(i).locator("th").inner_text(): rows.nth(i).get_attribute("data-state")
        for i in range(rows.count())
    }
    assert states == {"cat.png": "succeeded", "ramp.png": "succeeded", "half.jpg": "failed"}
    assert page.locator("#items-table tr", has_text="cat.png").locator("td").last.inner_text() == (
        "4 outputs"
    )
    page.screenshot(path=screenshot_dir / "batch.png", full_page=True)

    with page.expect_download() as download:
        page.locator("#report-csv").click()
    assert download.value.suggested_filename == f"kcolors-batch-{batch_id}.csv"
    report = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert sorted({(row["name"], row["status"]) for row in report}) == [
        ("cat.png", "succeeded"), ("half.jpg", "failed"), ("ramp.png", "succeeded"),
    ]  # fmt: skip
    assert sorted(int(row["k"]) for row in report if row["name"] == "cat.png") == [2, 4, 8, 16]

    # An item's name leads to its job's page.
    page.locator("#items-table a", has_text="ramp.png").click()
    page.wait_for_url(f"{service.url}/jobs/*")
    assert page.locator("#job-title").inner_text() == "ramp.png"

    page.goto(service.url + "/batches")
    [entry] = page.locator("#batch-list li").all()
    assert entry.get_attribute("data-id") == batch_id
    assert entry.locator(".job-name").inner_text() == "3 pictures, uploaded"
    page.screenshot(path=screenshot_dir / "batches.png", full_page=True)
    assert tab.accessibility_problems() == []
    assert tab.errors == []


def test_a_storage_prefix_makes_a_batch_and_a_wrong_one_is_named_on_the_form(service, tab):
    for number in range(4):
        key = f"uploads/web-batch/{number}.png"
        service.storage.put(key, gradient_png(120, 80, seed=number), "image/png")
    page = tab.page
    page.goto(service.url + "/batches/new")
    page.get_by_label("Storage prefix").fill("photos/elsewhere/")
    page.locator("#submit").click()
    assert page.locator("#form-errors").inner_text().count("must be a storage key under") == 1
    wait_until_true(page, "document.activeElement.id === 'form-errors'")
    page.get_by_label("Storage prefix").fill("uploads/no-such-folder/")
    page.locator("#submit").click()
    assert "No object under 'uploads/no-such-folder/'" in page.locator("#form-errors").inner_text()

    page.get_by_label("Storage prefix").fill("uploads/web-batch/")
    page.get_by_label("Custom k values").fill("3")
    page.get_by_label("Custom list").check()
    page.locator("#submit").click()
    page.wait_for_url(f"{service.url}/batches/*")
    assert wait_until_ended(page) == "finished"
    assert counts(page)["succeeded"] == 4
    assert page.locator("dd", has_text="4 pictures under uploads/web-batch/").count() == 1
    # The refused forms came back as 422 and 404 pages, which the console notes; nothing else.
    assert [e for e in tab.errors if "status of 422" not in e and "status of 404" not in e] == []


def test_a_batch_cancelled_from_its_page_says_so(service, tab):
    page = tab.page
    page.goto(service.url + "/batches/new")
    # Six different pictures (twins would share one job), a second or more of work each.
    pictures = [gradient_png(1600, 1200, seed=n) for n in range(6)]
    page.locator("#images").set_input_files(
        files=[
            {"name": f"{n}.png", "mimeType": "image/png", "buffer": p}
            for n, p in enumerate(pictures)
        ]
    )
    page.get_by_label("64, 128, 256 (near-photographic)").check()
    page.locator("#submit").click()
    page.wait_for_url(f"{service.url}/batches/*")
    page.locator("#cancel-batch").click()
    assert wait_until_ended(page) == "cancelled"
    numbers = counts(page)
    assert numbers["cancelled"] >= 1 and numbers["succeeded"] < 6
    assert page.locator("#status-text").inner_text().startswith("Cancelled:")
    assert page.locator("#cancel-batch").count() == 0


def test_on_a_phone_the_batch_pages_fit_the_screen(service, open_tab):
    phone = open_tab(viewport=PHONE)
    page = phone.page
    page.goto(service.url + "/batches/new")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    name = "a-rather-long-picture-name-from-a-camera-0001.png"
    picture = {"name": name, "mimeType": "image/png", "buffer": gradient_png(100, 60)}
    page.locator("#images").set_input_files(files=[picture])
    page.locator("#submit").click()
    page.wait_for_url(f"{service.url}/batches/*")
    assert wait_until_ended(page) == "finished"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert overlapping(page) == []
    assert phone.accessibility_problems() == []
    assert phone.errors == []
