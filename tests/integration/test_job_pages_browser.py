"""A photo from the form to its compared results, in headless Chromium against the whole service:
Valkey, moto's S3 server, a Celery worker process and the app over HTTP."""

import io
import itertools
import mimetypes

import pytest
from PIL import Image
from skimage import data as sample_images

from tests.fixtures.browser import PHONE, overlapping, wait_until_true
from tests.images import chelsea_png, encode, gradient_image

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

ARTICLE_KS = [2, 5, 10, 15, 24]
JOB_TIMEOUT_MS = 90_000
# Samples the progress bar every 50 ms from the moment the job page loads.
RECORD_PROGRESS = """() => {
  window.progressSamples = [];
  window.pageSamples = [];
  setInterval(() => {
    const bar = document.getElementById("progress");
    if (bar) window.progressSamples.push(Number(bar.value));
    const panel = document.getElementById("job-panel");
    const original = document.querySelector("#original img");
    // What is drawn: the badge and the list (the data attributes follow once they are in place).
    window.pageSamples.push({
      status: panel.querySelector(".badge").textContent,
      results: panel.querySelectorAll("ul.outputs > li").length,
      text: document.getElementById("status-text").textContent,
      value: bar.hasAttribute("value") ? bar.value : null,  // null: indeterminate
      original: original ? original.naturalWidth : null,
    });
  }, 50);
}"""

# Every answer with a job's panel arrives one second late, as over a slow link.
SLOW_PANEL = """(() => {
  const fetchNow = window.fetch.bind(window);
  window.fetch = async (url, options) => {
    const response = await fetchNow(url, options);
    if (String(url).endsWith("/panel")) await new Promise((done) => setTimeout(done, 1000));
    return response;
  };
})()"""


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
        "#job-panel[data-status=succeeded], #job-panel[data-status=failed],"
        " #job-panel[data-status=cancelled]",
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
    # 1804x1200: a couple of seconds of work even for the C engine, so the bar has time to move.
    photo = chelsea_png(scale=4)
    job_id = submit_photo(page, service.url, photo)
    page.evaluate(RECORD_PROGRESS)
    assert wait_until_finished(page) == "succeeded"
    page.wait_for_timeout(200)  # one more sample of the final state

    samples = page.evaluate("window.progressSamples")
    assert samples == sorted(samples), "the bar never moves backwards"
    assert samples[0] < 1 and samples[-1] == 1
    assert any(0 < value < 1 for value in samples), f"no intermediate progress in {samples}"
    # While it ran, the page showed the original, and where the job was at in words.
    seen = page.evaluate("window.pageSamples")
    running = [sample for sample in seen if sample["status"] == "running"]
    assert running, f"never seen running: {seen[:3]}"
    assert all(sample["original"] is not None for sample in seen)
    assert any(sample["original"] == 1804 for sample in running)
    # The worker's stage when it tells one, else the count of outputs made; never "Quantizing".
    texts = {sample["text"] for sample in running}
    assert all(text and "Quantizing" not in text for text in texts), texts
    assert any(text != "0 of 5 outputs made." for text in texts), texts
    assert page.locator("#status-text").inner_text() == "Done: 5 outputs."
    assert page.locator("#job-title").inner_text() == "chelsea.png"
    assert page.locator("#announcer").text_content() == "Done: 5 outputs."  # for screen readers

    # One output, one palette and one table row per k, and the chart's two series.
    outputs = page.locator("ul.outputs > li")
    assert outputs.count() == len(ARTICLE_KS)
    for k in ARTICLE_KS:
        output = page.locator(f"#output-k{k}")
        assert output.locator("h3").inner_text() == f"k = {k}"
        swatches = output.locator(f".palette[data-k='{k}'] li")
        row = page.locator(f"#stats-table tr[data-k='{k}']")
        assert swatches.count() == int(row.locator("td.colours").inner_text()) == k
        assert swatches.first.locator("code").inner_text().startswith("#")
        assert float(row.locator("td.psnr").inner_text()) > 15
    # The chart: PSNR against bytes, one point per k, round ticks, a caption from the numbers.
    assert page.locator("#chart circle.point").count() == len(ARTICLE_KS)
    for axis in ("x-tick", "y-tick"):
        labels = page.locator(f"#chart text.{axis}:not(.lossless-tick)").all_text_contents()
        ticks = [float(label) for label in labels]
        steps = {round(b - a, 6) for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1 and steps.pop() in (1, 2, 5, 10, 20, 50, 100), (axis, ticks)
    caption = page.locator("#chart-caption").inner_text()
    assert "From k = 2 to k = 24, PSNR rises from" in caption
    assert "Each extra colour buys less quality" not in caption
    assert overlapping(page) == []
    wait_for_images(page)
    widths = page.locator("img.output-image").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert widths == [1804] * len(ARTICLE_KS)

    # The download link saves a palette PNG with at most k colours.
    with page.expect_download() as download_info:
        page.locator("#stats-table tr[data-k='5'] a.download").click()
    download = download_info.value
    assert download.suggested_filename == "chelsea.k5.png"  # named after the upload
    downloaded = Image.open(download.path())
    assert (downloaded.format, downloaded.mode, downloaded.size) == ("PNG", "P", (1804, 1200))
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

    # The recent jobs list shows it with its name, thumbnail and status, below a newer job.
    newer_id = submit_photo(page, service.url, chelsea_png(), "cat.png", k_custom="4, 8, 16")
    page.get_by_role("link", name="Recent jobs").click()
    links = page.locator(".job-item a.job-link")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        f"/jobs/{newer_id}",
        f"/jobs/{job_id}",
    ]
    item = page.locator(f".job-item:has(a[href='/jobs/{job_id}'])")
    assert item.get_attribute("data-status") == "succeeded"
    assert page.locator(".job-item .job-name").all_inner_texts() == ["cat.png", "chelsea.png"]
    wait_for_images(page)
    assert item.locator("img.thumb").evaluate("img => img.naturalWidth") == 1804
    page.screenshot(path=screenshot_dir / "jobs.png", full_page=True)
    assert tab.accessibility_problems() == []
    assert tab.errors == []

    phone = open_tab(PHONE)
    phone.page.goto(f"{service.url}/jobs/{job_id}")
    wait_for_images(phone.page)
    check_phone_layout(phone.page)
    phone.page.screenshot(path=screenshot_dir / "job-phone.png", full_page=True)
    assert phone.accessibility_problems() == []
    assert phone.errors == []


def test_auto_mode_finds_one_k_for_the_target_quality(service, tab):
    page = tab.page
    submit_photo(page, service.url, chelsea_png(), target_psnr="28")
    page.evaluate(RECORD_PROGRESS)
    assert wait_until_finished(page) == "succeeded"
    [heading] = page.locator("ul.outputs h3").all_inner_texts()
    assert heading.endswith("(auto, target 28.0 dB)")
    k = int(heading.split()[2])
    psnr = float(page.locator(f"#stats-table tr[data-k='{k}'] td.psnr").inner_text())
    assert psnr >= 28
    # While it searched, the bar never sat at 0 %: it had nothing to measure yet, and said so.
    seen = page.evaluate("window.pageSamples")
    searching = [s for s in seen if s["status"] == "running" and s["results"] == 0]
    assert [s for s in searching if s["value"] == 0 or not s["text"]] == []
    assert page.locator("#trade-off").inner_text().startswith(f"One output: k = {k}: PSNR")
    assert page.locator("dd", has_text="auto (target 28 dB)").count() == 1
    assert tab.errors == []


def test_the_panel_says_finished_only_once_the_results_are_drawn(service, tab):
    """Scripts and tests wait on #job-panel[data-status]: over a slow link the new panel arrives
    well after the JSON that announced the change, and the attribute must wait for it."""
    page = tab.page

    # The delay is the browser's own (a Python route handler would hold up this test's waits too).
    page.add_init_script(SLOW_PANEL)
    # Big enough that the page is drawn while the job runs.
    submit_photo(page, service.url, chelsea_png(scale=4), k_custom="4")
    assert page.locator("#job-panel").get_attribute("data-status") in ("queued", "running")
    assert wait_until_finished(page) == "succeeded"
    assert page.locator("#job-panel .badge").inner_text().strip().lower() == "succeeded"
    assert page.locator("ul.outputs h3").count() == 1
    assert tab.errors == []


def test_image_that_breaks_in_the_worker_shows_its_error_plainly(service, tab):
    page = tab.page
    photo = encode(Image.fromarray(sample_images.chelsea()), "JPEG")
    truncated = photo[: len(photo) // 2]  # a valid header, so the upload is accepted
    submit_photo(page, service.url, truncated, k_custom="4", name="chelsea.jpg")
    assert wait_until_finished(page) == "failed"
    alert = page.locator("#job-error")
    status = page.locator("#status-text").inner_text()
    assert status == "It stopped with an error before making any output."
    assert alert.get_by_role("heading").inner_text() == "Why it failed"
    message = page.locator("#job-error-message").inner_text()
    assert message.startswith("The image could not be decoded: image file is truncated")
    assert "Error code: corrupt_image" in alert.inner_text()
    assert page.locator("ul.outputs").count() == 0
    assert tab.accessibility_problems() == []
    assert tab.errors == []


def check_phone_layout(page) -> None:
    """On a phone: nothing wider than the screen but the table, which scrolls in its box with
    k, PSNR and size in view; the job id on one line; nothing covering anything else."""
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    table = page.locator(".table-wrap")
    assert table.evaluate("el => el.scrollWidth > el.clientWidth")  # it scrolls, inside
    for column in ("PSNR (dB)", "Size"):
        header = page.locator("#stats-table th", has_text=column).bounding_box()
        assert header["x"] + header["width"] <= PHONE["width"], f"{column} is off-screen"
    job_id = page.locator("#job-id")
    assert job_id.evaluate("el => el.getClientRects().length") == 1
    assert job_id.bounding_box()["x"] + job_id.bounding_box()["width"] <= PHONE["width"]
    assert overlapping(page) == []
    # Scrolled to its end, k stays in view beside the last columns.
    table.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    k_cell = page.locator("#stats-table tbody th").first.bounding_box()
    assert k_cell["x"] >= table.bounding_box()["x"] - 1
    table.evaluate("el => { el.scrollLeft = 0; }")


def test_a_tall_thin_picture_stays_in_its_boxes(service, tab, open_tab, screenshot_dir):
    strip = encode(gradient_image(1, 40_000))  # 1 x 40,000 pixels
    page = tab.page
    job_id = submit_photo(page, service.url, strip, name="strip.png", k_custom="2, 4")
    assert wait_until_finished(page) == "succeeded"
    wait_for_images(page)
    # A page of a few screens, not 40,000 pixels of picture (9.5 million before).
    assert page.evaluate("document.documentElement.scrollHeight") < 3000
    frames = page.locator(".frame").evaluate_all(
        """els => els.map((frame) => {
          const box = frame.getBoundingClientRect(), img = frame.querySelector("img");
          const pic = img.getBoundingClientRect();
          return {inside: pic.left >= box.left - 0.5 && pic.right <= box.right + 0.5 &&
                          pic.top >= box.top - 0.5 && pic.bottom <= box.bottom + 0.5,
                  width: pic.width, height: box.height};
        })"""
    )
    assert len(frames) == 1 + 2 * 2  # the original, then each output beside the original
    for frame in frames:
        assert frame["inside"] and frame["width"] >= 6 and frame["height"] <= 600, frame
    note = page.locator("#original .stretched").inner_text()
    assert note == "Drawn wider than it is: at its true shape it would be a hairline."
    assert overlapping(page) == []
    page.screenshot(path=screenshot_dir / "job-tall.png", full_page=True)
    assert tab.accessibility_problems() == []

    page.locator("#output-k4 button.enlarge").click()
    page.locator("#viewer").wait_for(state="visible")
    wait_for_images(page)
    viewer = page.locator("#viewer").bounding_box()
    assert viewer["y"] >= 0 and viewer["y"] + viewer["height"] <= 900
    after = page.locator("#viewer-after").bounding_box()
    assert after["width"] >= 6 and after["y"] + after["height"] <= viewer["y"] + viewer["height"]
    page.keyboard.press("Escape")

    page.get_by_role("link", name="Recent jobs").click()
    thumb = page.locator(f".job-item[data-id='{job_id}'] .thumb").bounding_box()
    assert thumb["height"] <= 96 and thumb["width"] >= 6
    assert tab.errors == []

    phone = open_tab(PHONE)
    phone.page.goto(f"{service.url}/jobs/{job_id}")
    wait_for_images(phone.page)
    assert phone.page.evaluate("document.documentElement.scrollHeight") < 4000
    check_phone_layout(phone.page)
    assert phone.accessibility_problems() == []
    assert phone.errors == []


def in_viewport(page, locator) -> bool:
    """Whether the element is drawn inside the window (not clipped, not scrolled away)."""
    box = locator.bounding_box()
    size = page.viewport_size
    return bool(box) and box["y"] >= 0 and box["y"] + box["height"] <= size["height"]


def test_a_256_colour_palette_shows_every_swatch(service, tab):
    """64 to 256 colours: the first 32 in the grid, the rest behind "+N more"; opened, the last
    swatch is on screen (it used to be cut off in a scroll box with no hint)."""
    page = tab.page
    submit_photo(page, service.url, chelsea_png(), k_custom="256")
    assert wait_until_finished(page) == "succeeded"
    figure = page.locator("#output-k256 .palette-figure")
    total = int(figure.locator("figcaption").inner_text().split()[1])
    assert total > 200  # the cat has thousands of colours: nearly 256 used
    more = figure.locator("details.palette-more summary")
    assert more.inner_text() == f"+{total - 32} more colours"
    more.click()
    last = figure.locator("details.palette-more li").last
    last.scroll_into_view_if_needed()
    assert figure.locator("li").count() == total
    assert last.is_visible() and in_viewport(page, last)
    assert tab.errors == []


def test_a_translucent_palette_is_drawn_over_a_checkerboard_with_its_alpha(service, tab):
    """A PNG whose alpha fades out: its palette's translucent colours are drawn over a
    checkerboard, with their alpha in the title and beside the colour."""
    pixels = gradient_image(48, 32).convert("RGBA")
    pixels.putalpha(Image.linear_gradient("L").resize((48, 32)))
    page = tab.page
    submit_photo(page, service.url, encode(pixels, "PNG"), name="fade.png", k_custom="6")
    assert wait_until_finished(page) == "succeeded"
    swatches = page.locator("#output-k6 .palette li")
    titles = swatches.evaluate_all("items => items.map(li => li.title)")
    translucent = [t for t in titles if "alpha" in t]
    assert translucent, titles
    alpha = int(translucent[0].split("alpha ")[1].split()[0])
    assert 0 <= alpha < 255
    item = swatches.filter(has=page.locator("rect[fill-opacity]")).first
    opacity = float(item.locator("rect[fill-opacity]").get_attribute("fill-opacity"))
    assert item.locator("rect[fill='#bbb']").count() == 2  # the checkerboard under it
    assert 0 <= opacity < 1 and "\N{GREEK SMALL LETTER ALPHA}" in item.inner_text()
    assert tab.errors == []


def test_a_heic_photo_is_shown_by_its_preview_and_kept_for_download(service, tab):
    """No browser draws HEIC: the page shows the worker's WebP preview of the decoded photo
    (visible, the photo's size), the compare viewer's "before" is that preview, and the
    original stays the download, byte for byte."""
    import requests

    photo = encode(sample_images.chelsea(), "HEIF", quality=90)
    page = tab.page
    job_id = submit_photo(page, service.url, photo, name="IMG_0001.HEIC", k_custom="2,8")
    assert wait_until_finished(page) == "succeeded"
    page.reload()
    original = page.locator("#original img")
    assert original.get_attribute("src") == f"/api/jobs/{job_id}/preview"
    wait_until_true(page, "document.querySelector('#original img').naturalWidth > 0")
    assert original.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [451, 300]
    assert original.is_visible()
    before = page.locator("#output-k2 button.enlarge").get_attribute("data-before")
    assert before == f"/api/jobs/{job_id}/preview"
    preview = requests.get(f"{service.url}{before}", timeout=10)
    assert preview.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(preview.content)).size == (451, 300)
    download = page.locator("#original a.download")
    assert download.inner_text() == "Download the original HEIC"
    saved = requests.get(f"{service.url}{download.get_attribute('href')}", timeout=10)
    assert saved.content == photo
    assert tab.errors == []
