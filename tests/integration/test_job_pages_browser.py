"""A photo from the form to its compared results, in headless Chromium against the whole service:
Valkey, moto's S3 server, a Celery worker process and the app over HTTP."""

import mimetypes

import pytest
from PIL import Image
from skimage import data as sample_images

from tests.fixtures.browser import PHONE, wait_until_true
from tests.images import chelsea_png, encode

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

ARTICLE_KS = [2, 5, 10, 15, 24]
JOB_TIMEOUT_MS = 90_000
# Samples the progress bar every 50 ms from the moment the job page loads.
RECORD_PROGRESS = """() => {
  window.progressSamples = [];
  setInterval(() => {
    const bar = document.getElementById("progress");
    if (bar) window.progressSamples.push(Number(bar.value));
  }, 50);
}"""


def submit_photo(page, url: str, photo: bytes, name: str = "chelsea.png", **choices) -> str:
    """Fill in the form as a person would, submit it, and return the new job's id."""
    page.goto(url + "/")
    page.locator("#image").set_input_files(
        files=[{"name": name, "mimeType": mimetypes.guess_type(name)[0], "buffer": photo}]
    )
    if "k_custom" in choices:
        page.get_by_label("Custom k values").fill(choices["k_custom"])
    if "target_psnr" in choices:
        page.get_by_label("Auto: the fewest colours for a target quality").check()
        page.get_by_label("Target quality (PSNR, dB)").fill(choices["target_psnr"])
    page.locator("#submit").click()
    page.wait_for_url(f"{url}/jobs/*")
    return page.url.rsplit("/", 1)[1]


def wait_until_finished(page) -> str:
    page.wait_for_selector(
        "#job-panel[data-status=succeeded], #job-panel[data-status=failed]",
        timeout=JOB_TIMEOUT_MS,
    )
    return page.locator("#job-panel").get_attribute("data-status")


def wait_for_images(page) -> None:
    wait_until_true(
        page,
        "[...document.images].filter((img) => img.getAttribute('src'))"
        ".every((img) => img.complete && img.naturalWidth > 0)",
    )


def test_photo_goes_from_the_form_to_compared_results(service, tab, open_tab, screenshot_dir):
    page = tab.page
    photo = chelsea_png(scale=2)  # 902x600: a few seconds of work, so the bar has time to move
    job_id = submit_photo(page, service.url, photo)
    page.evaluate(RECORD_PROGRESS)
    assert wait_until_finished(page) == "succeeded"
    page.wait_for_timeout(200)  # one more sample of the final state

    samples = page.evaluate("window.progressSamples")
    assert samples == sorted(samples), "the bar never moves backwards"
    assert samples[0] < 1 and samples[-1] == 1
    assert any(0 < value < 1 for value in samples), f"no intermediate progress in {samples}"
    assert page.locator("#status-text").inner_text() == "Done: 5 outputs."
    assert page.locator("#announcer").text_content() == "Done: 5 outputs."  # for screen readers

    # One output, one palette and one table row per k, and the chart's two series.
    outputs = page.locator("ul.outputs > li")
    assert outputs.count() == len(ARTICLE_KS)
    for k in ARTICLE_KS:
        output = page.locator(f"#output-k{k}")
        assert output.locator("h3").inner_text() == f"k = {k}"
        swatches = output.locator(f".palette[data-k='{k}'] li")
        row = page.locator(f"#stats-table tr[data-k='{k}'] td")
        assert swatches.count() == int(row.nth(0).inner_text()) == k  # distinct colours
        assert swatches.first.locator("code").inner_text().startswith("#")
        assert row.nth(4).inner_text() != "∞ (lossless)"
    assert page.locator("#chart .series-psnr circle").count() == len(ARTICLE_KS)
    assert page.locator("#chart .series-size circle").count() == len(ARTICLE_KS)
    wait_for_images(page)
    widths = page.locator("img.output-image").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert widths == [902] * len(ARTICLE_KS)

    # The download link saves a palette PNG with at most k colours.
    with page.expect_download() as download_info:
        page.locator("#stats-table tr[data-k='5'] a.download").click()
    download = download_info.value
    assert download.suggested_filename == f"kcolors-{job_id}-k5.png"
    downloaded = Image.open(download.path())
    assert (downloaded.format, downloaded.mode, downloaded.size) == ("PNG", "P", (902, 600))
    assert len(downloaded.getcolors()) <= 5

    page.screenshot(path=screenshot_dir / "job.png", full_page=True)
    assert tab.accessibility_problems() == []

    # Enlarge one output: a before/after viewer driven by a keyboard-operable slider.
    page.locator("#output-k5 button.enlarge").click()
    viewer = page.locator("#viewer")
    viewer.wait_for(state="visible")
    assert page.locator("#viewer-title").inner_text() == "Original and k = 5"
    assert page.locator("#viewer-after").get_attribute("src").endswith(f"{job_id}/results/5")
    assert page.evaluate("document.activeElement.id") == "compare-range"
    for _ in range(15):
        page.keyboard.press("ArrowLeft")
    assert page.locator("#compare-value").inner_text() == "35%"
    assert page.locator("#compare").evaluate("el => el.style.getPropertyValue('--pos')") == "35%"
    wait_for_images(page)
    page.screenshot(path=screenshot_dir / "compare.png")
    assert tab.accessibility_problems() == []
    page.keyboard.press("Escape")
    viewer.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.dataset.k") == "5"  # focus is back

    # The recent jobs list shows it with its thumbnail and status, below a newer job.
    newer_id = submit_photo(page, service.url, chelsea_png(), k_custom="4, 8, 16")
    page.get_by_role("link", name="Recent jobs").click()
    links = page.locator(".job-item a.job-link")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        f"/jobs/{newer_id}",
        f"/jobs/{job_id}",
    ]
    item = page.locator(f".job-item:has(a[href='/jobs/{job_id}'])")
    assert item.get_attribute("data-status") == "succeeded"
    wait_for_images(page)
    assert item.locator("img.thumb").evaluate("img => img.naturalWidth") == 902
    page.screenshot(path=screenshot_dir / "jobs.png", full_page=True)
    assert tab.accessibility_problems() == []
    assert tab.errors == []

    phone = open_tab(PHONE)
    phone.page.goto(f"{service.url}/jobs/{job_id}")
    wait_for_images(phone.page)
    width = phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing but the stats table scrolls sideways on a phone"
    phone.page.screenshot(path=screenshot_dir / "job-phone.png", full_page=True)
    assert phone.accessibility_problems() == []
    assert phone.errors == []


def test_auto_mode_finds_one_k_for_the_target_quality(service, tab):
    page = tab.page
    submit_photo(page, service.url, chelsea_png(), target_psnr="28")
    assert wait_until_finished(page) == "succeeded"
    [heading] = page.locator("ul.outputs h3").all_inner_texts()
    assert heading.endswith("(auto, target 28.0 dB)")
    k = int(heading.split()[2])
    psnr = float(page.locator(f"#stats-table tr[data-k='{k}'] td").nth(4).inner_text())
    assert psnr >= 28
    assert page.locator("dd", has_text="auto (target 28 dB)").count() == 1
    assert tab.errors == []


def test_image_that_breaks_in_the_worker_shows_its_error_plainly(service, tab):
    page = tab.page
    photo = encode(Image.fromarray(sample_images.chelsea()), "JPEG")
    truncated = photo[: len(photo) // 2]  # a valid header, so the upload is accepted
    submit_photo(page, service.url, truncated, k_custom="4", name="chelsea.jpg")
    assert wait_until_finished(page) == "failed"
    alert = page.locator("#job-error")
    assert alert.get_by_role("heading").inner_text() == "The job failed"
    message = page.locator("#job-error-message").inner_text()
    assert message.startswith("The image could not be decoded: image file is truncated")
    assert "Error code: corrupt_image" in alert.inner_text()
    assert page.locator("ul.outputs").count() == 0
    assert tab.accessibility_problems() == []
    assert tab.errors == []
