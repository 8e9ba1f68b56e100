"""`kcolors web` under gunicorn with several processes: /metrics adds them all up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cli.local import free_port
from tests.fixtures.prometheus import sample

pytestmark = pytest.mark.e2e
BURST = 12
MAX_REQUESTS = 1200


@pytest.fixture
def gunicorn_web(tmp_path):
    """`kcolors web --workers 3` on a free loopback port, local storage, no broker."""
    port = free_port("127.0.0.1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCOLORS_")}
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env.update(
        KCOLORS_STORAGE_URL=f"file://{tmp_path / 'store'}",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        PYTHONPATH=os.getcwd(),
    )
    log = (tmp_path / "web.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "web", "--port", str(port), "--workers", "3"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:  # stopped even when it never comes up
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            assert process.poll() is None and time.monotonic() < deadline, "web never answered"
            time.sleep(0.2)
        yield url, metrics_dir
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_metrics_add_up_every_gunicorn_process(gunicorn_web):
    url, metrics_dir = gunicorn_web
    labels = {"method": "GET", "endpoint": "/healthz", "status": "200"}
    name = "kcolors_http_request_duration_seconds_count"
    before = sample(requests.get(f"{url}/metrics", timeout=5).text, name, **labels)
    sent = 0
    # Concurrent requests until two processes have answered some (each keeps its own file).
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        while len(list(metrics_dir.glob("histogram_*.db"))) < 2:
            assert sent < MAX_REQUESTS, "gunicorn never used a second process"
            statuses = pool.map(lambda _: requests.get(f"{url}/healthz", timeout=5), range(BURST))
            assert [r.status_code for r in statuses] == [200] * BURST
            sent += BURST
    # Whichever process answers a scrape, it reports every process's requests.
    for _ in range(5):
        text = requests.get(f"{url}/metrics", timeout=5).text
        assert sample(text, name, **labels) - before == sent
