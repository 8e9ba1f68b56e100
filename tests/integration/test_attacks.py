"""What an outside tester got through, tried again against a real stack: gunicorn (`kcolors
web`), Valkey, a Celery worker and storage. Each test is one class of defence (issue 24)."""

from __future__ import annotations

import io
import re
import socket
import time
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from PIL import Image

from kcolors.jobs.storage import open_storage
from tests.fixtures.bad_inputs import photo_like
from tests.fixtures.jobs import wait_for_jobs
from tests.fixtures.processes import WebProcess
from tests.images import gradient_png

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TOKENS = ("token-alice-0123456789", "token-bob-9876543210")
SECRET = "a-fixed-secret-key-as-replicas-use-0123456789"
SCRIPT_RAN = "kcolors-pwned"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def web(s3_settings, tmp_path):
    """`kcolors web` on local storage, with tokens and a fixed secret key (`web(**changes)`
    starts another replica with those settings changed)."""
    settings = s3_settings.replace(
        storage_url=f"file://{tmp_path / 'store'}", api_tokens=TOKENS, secret_key=SECRET
    )
    started = []

    def start(**changes) -> WebProcess:
        process = WebProcess(settings.replace(**changes), tmp_path / f"web-{len(started)}.log")
        started.append(process.wait_ready())
        return started[-1]

    start.settings = settings
    yield start
    for process in started:
        process.stop()


def polyglot_png() -> bytes:
    """A real PNG that is also an HTML page: a text chunk carries a script."""
    png = gradient_png(32, 24)
    script = f"<html><script>document.title='{SCRIPT_RAN}'</script></html>".encode()
    chunk = b"tEXt" + b"Comment\x00" + script
    text = len(script + b"Comment\x00").to_bytes(4, "big") + chunk
    text += zlib.crc32(chunk).to_bytes(4, "big")
    return png[:33] + text + png[33:]


def test_an_uploaded_polyglot_is_served_as_a_picture_that_no_browser_runs(web, tab):
    server = web()
    storage = open_storage(web.settings)
    # Named .html, as the tester named it: the name chooses nothing.
    storage.put("uploads/evil.html", polyglot_png(), "text/html")
    made = requests.post(f"{server.url}/api/jobs", json={"source": "uploads/evil.html", "k": [2]},
                         headers=bearer(TOKENS[0]), timeout=30)  # fmt: skip
    assert made.status_code == 202, made.text
    source = requests.get(f"{server.url}/api/jobs/{made.json()['id']}/input", timeout=10)
    assert source.status_code == 200 and source.content == polyglot_png()
    assert source.headers["Content-Type"] == "image/png"
    assert source.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in source.headers["Content-Security-Policy"]
    # In a real browser: drawn as a picture, its script never runs.
    tab.page.goto(f"{server.url}/api/jobs/{made.json()['id']}/input")
    assert tab.page.evaluate("document.contentType") == "image/png"
    assert tab.page.title() != SCRIPT_RAN


def test_a_picture_no_browser_shows_is_an_attachment_of_opaque_bytes(web):
    server = web()
    buffer = io.BytesIO()
    Image.fromarray(photo_like((32, 24))).save(buffer, "TIFF")
    files = {"image": ("photo.tiff", buffer.getvalue())}
    made = requests.post(f"{server.url}/api/jobs", files=files, data={"k": "2"},
                         headers=bearer(TOKENS[0]), timeout=30)  # fmt: skip
    assert made.status_code == 202, made.text
    source = requests.get(f"{server.url}/api/jobs/{made.json()['id']}/input", timeout=10)
    assert source.headers["Content-Type"] == "application/octet-stream"
    assert source.headers["Content-Disposition"].startswith("attachment")


def test_batch_upload_names_are_cleaned_as_single_uploads_are(web):
    server = web()
    files = [("image", ("/home/x/\u202egnp.exe\x07.png", gradient_png())),
             ("image", ("../../etc/passwd.png", gradient_png(seed=1)))]  # fmt: skip
    made = requests.post(f"{server.url}/api/batches", files=files, data={"k": "2"},
                         headers=bearer(TOKENS[0]), timeout=30)  # fmt: skip
    assert made.status_code == 202, made.text
    names = [item["name"] for item in made.json()["items"]]
    assert names == ["gnp.exe.png", "passwd.png"]


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/signin", {}), ("/api/jobs", {}), ("/no/such/page", {}), ("/api/openapi.json", {}),
     ("/static/app.css", {}), ("/healthz", {}), ("/api/jobs", {"Authorization": "Bearer x"})],
)  # fmt: skip
def test_every_response_carries_the_security_headers(web, path, headers):
    response = requests.get(f"{web().url}{path}", headers=headers, timeout=10)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def post_raw(server: WebProcess, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are to gunicorn; return the status and the body it answers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        # a key part longer than any file system's name (was `File name too long`, a 500)
        ({"source": "uploads/" + "a" * 300 + ".png", "k": [2]}, {}, 422, "invalid_key"),
        ("[" * 100_000, {"Content-Type": "application/json"}, 400, "invalid_json"),
        ("[" * 2_000 + "]" * 2_000, {"Content-Type": "application/json"}, 400, "invalid_json"),
        ({"source": "uploads/x.png", "k": [2], "pad": "x" * 100_000}, {}, 400, "invalid_json"),
    ],
)
def test_bad_bodies_get_a_4xx_naming_the_problem(web, body, headers, status, code):
    server = web()
    keyword = {"json": body} if isinstance(body, dict) else {"data": body}
    response = requests.post(f"{server.url}/api/jobs", **keyword, timeout=30,
                             headers={**bearer(TOKENS[0]), **headers})  # fmt: skip
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_a_malformed_chunked_body_is_a_400_not_a_500(web):
    server = web()
    status, body = post_raw(
        server,
        b"POST /api/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Authorization: Bearer " + TOKENS[0].encode() + b"\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n{}\r\n0\r\n\r\n",
    )
    assert status == 400, body
    assert b"Internal Server Error" not in body


@pytest.mark.parametrize(
    "target", ["/jobs\r\nSet-Cookie: x=1", "/jobs\nLocation: //evil", "//evil"]
)
def test_sign_in_never_redirects_off_site_nor_splits_headers(web, target):
    server, browser = web(), requests.Session()
    page = browser.get(f"{server.url}/signin", params={"next": target}, timeout=10)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    signed = browser.post(page.url, data={"csrf_token": csrf, "token": TOKENS[0]},
                          allow_redirects=False, timeout=10)  # fmt: skip
    assert signed.status_code == 303, signed.text
    assert signed.headers["Location"] == "/" and "x" not in signed.cookies


def jpeg_with_metadata(mib: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo_like((64, 48))).save(buffer, "JPEG")
    segment = b"\xff\xe1\xff\xff" + b"Exif\x00\x00" + b"\x00" * (65535 - 8)
    return buffer.getvalue()[:2] + segment * (mib * 16) + buffer.getvalue()[2:]


def jpeg_with_scans(scans: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo_like((64, 48))).save(buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    first = data.index(b"\xff\xda")
    scan = data[first : data.index(b"\xff\xda", first + 2)]
    return data[:first] + scan * scans + data[first:]


@pytest.mark.parametrize(
    "picture", [jpeg_with_metadata(40), jpeg_with_scans(1500)], ids=["40 MiB APP1", "1500 scans"]
)
def test_jpegs_no_real_encoder_writes_are_refused_before_they_cost_seconds(web, picture):
    server = web(max_upload_bytes=64 * 1024 * 1024)
    started = time.monotonic()
    response = requests.post(f"{server.url}/api/jobs", files={"image": ("x.jpg", picture)},
                             data={"k": "2"}, headers=bearer(TOKENS[0]), timeout=60)  # fmt: skip
    elapsed = time.monotonic() - started
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "image_too_complex"
    print(f"{len(picture):,}-byte JPEG refused in {elapsed:.2f} s")


def sign_in(server: WebProcess, token: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{server.url}/signin", timeout=10)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    signed = browser.post(page.url, data={"csrf_token": csrf, "token": token}, timeout=10)
    assert signed.status_code == 200 and signed.url == f"{server.url}/", signed.text
    return browser


def signed_in(server: WebProcess, cookies) -> bool:
    """Whether these cookies open the job list (a page for signed-in clients only)."""
    page = requests.get(f"{server.url}/jobs", cookies=cookies, allow_redirects=False, timeout=10)
    assert page.status_code in (200, 303), page.text
    return page.status_code == 200


def test_sign_out_ends_the_session_also_in_a_copied_cookie(web):
    server = web()
    before = requests.get(f"{server.url}/signin", timeout=10).cookies.get("session")
    browser = sign_in(server, TOKENS[0])
    assert browser.cookies.get("session") != before  # a new session at sign-in
    copied = browser.cookies.copy()
    assert signed_in(server, copied)
    page = browser.get(f"{server.url}/jobs", timeout=10)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    browser.post(f"{server.url}/signout", data={"csrf_token": csrf}, timeout=10)
    assert not signed_in(server, browser.cookies)
    assert not signed_in(server, copied)


def test_removing_a_token_or_changing_the_secret_ends_its_sessions(web):
    server = web()
    alice, bob = sign_in(server, TOKENS[0]), sign_in(server, TOKENS[1])
    assert signed_in(server, alice.cookies) and signed_in(server, bob.cookies)
    without_bob = web(api_tokens=TOKENS[:1])  # a replica with Bob's token removed
    assert signed_in(without_bob, alice.cookies) and not signed_in(without_bob, bob.cookies)
    new_secret = web(secret_key=SECRET[::-1])
    assert not signed_in(new_secret, alice.cookies)


def test_guessing_tokens_is_locked_out_with_retry_after_and_logged(web):
    server = web()
    for attempt in range(10):
        wrong = requests.get(
            f"{server.url}/api/jobs", headers=bearer(f"guess-{attempt}"), timeout=10
        )
        assert wrong.status_code == 401
    locked = requests.get(f"{server.url}/api/jobs", headers=bearer("guess-10"), timeout=10)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert locked.json()["error"]["code"] == "too_many_failures"
    # From this address even the right token is refused now: a right guess gains nothing.
    right = requests.get(f"{server.url}/api/jobs", headers=bearer(TOKENS[0]), timeout=10)
    assert right.status_code == 429
    # The form counts the same way, and the lockout is shared by every web process.
    other = web()
    page = requests.get(f"{other.url}/signin", timeout=10)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    form = requests.post(page.url, data={"csrf_token": csrf, "token": TOKENS[0]},
                         cookies=page.cookies, timeout=10)  # fmt: skip
    assert form.status_code == 429 and "too many wrong tokens" in form.text
    assert "wrong API token" in server.log_path.read_text()


def test_a_batch_belongs_to_the_client_that_made_it_on_every_route(web, start_worker):
    server = web()
    start_worker(web.settings)
    files = [("image", ("a.png", gradient_png())), ("image", ("b.png", gradient_png(seed=2)))]
    made = requests.post(f"{server.url}/api/batches", files=files, data={"k": "2"},
                         headers=bearer(TOKENS[0]), timeout=30)  # fmt: skip
    assert made.status_code == 202, made.text
    batch = made.json()["id"]
    path = f"/api/batches/{batch}"
    routes = [("GET", path), ("GET", f"{path}/report.json"), ("GET", f"{path}/report.csv"),
              ("DELETE", path)]  # fmt: skip
    for method, route in routes:
        url = f"{server.url}{route}"
        other = requests.request(method, url, headers=bearer(TOKENS[1]), timeout=10)
        assert other.status_code == 404, (method, route, other.text)
        assert other.json()["error"]["code"] == "batch_not_found"
    for method, route in routes[:3]:
        own = requests.request(
            method, f"{server.url}{route}", headers=bearer(TOKENS[0]), timeout=10
        )
        assert own.status_code == 200, (method, route, own.text)
    # Jobs: another client cannot list or cancel them; reading one by its id stays open (the id
    # is the capability, and the job page polls it without a token).
    job_ids = [item["job_id"] for item in wait_batch_jobs(server, batch)]
    listed = requests.get(f"{server.url}/api/jobs", headers=bearer(TOKENS[1]), timeout=10).json()
    assert not {job["id"] for job in listed["jobs"]} & set(job_ids)
    cancel = requests.delete(f"{server.url}/api/jobs/{job_ids[0]}", headers=bearer(TOKENS[1]),
                             timeout=10)  # fmt: skip
    assert cancel.status_code == 404
    assert requests.get(f"{server.url}/api/jobs/{job_ids[0]}", timeout=10).status_code == 200


def wait_batch_jobs(server: WebProcess, batch: str) -> list[dict]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        items = requests.get(f"{server.url}/api/batches/{batch}", headers=bearer(TOKENS[0]),
                             timeout=10).json()["items"]  # fmt: skip
        if all(item["job_id"] for item in items):
            wait_for_jobs(server.url, [item["job_id"] for item in items])
            return items
        time.sleep(0.2)
    raise AssertionError(f"batch {batch} never made its jobs")


def test_presigned_urls_fix_the_type_and_disposition(service):
    """On S3 the file comes from the storage's origin, with the type kcolors decoded."""
    made = requests.post(f"{service.url}/api/jobs", files={"image": ("evil.html", polyglot_png())},
                         data={"k": "2"}, timeout=30)  # fmt: skip
    assert made.status_code == 202, made.text
    source = requests.get(f"{service.url}/api/jobs/{made.json()['id']}/input",
                          allow_redirects=False, timeout=10)  # fmt: skip
    assert source.status_code == 302
    query = parse_qs(urlsplit(source.headers["Location"]).query)
    assert query["response-content-type"] == ["image/png"]
    served = requests.get(source.headers["Location"], timeout=10)
    assert served.headers["Content-Type"] == "image/png" and served.content == polyglot_png()
