"""Slow clients against `kcolors web` behind nginx (Debian's, configured from the template
docker-compose uses): /healthz and a job keep answering while 50 connections dribble their
bodies a byte a second. Without the proxy the same attack starves gunicorn's threads
(measured by tests/benchmarks/slow_clients.py)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.fixtures.jobs import submit_image, wait_for_jobs
from tests.fixtures.processes import WebProcess
from tests.fixtures.proxy import NginxProxy
from tests.fixtures.slow_clients import attack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_behind_the_proxy_slow_clients_starve_nothing(s3_settings, celery_worker, tmp_path):
    web = WebProcess(s3_settings.replace(rate_limit=""), tmp_path / "web.log").wait_ready()
    try:
        proxy = NginxProxy(f"127.0.0.1:{web.port}", tmp_path / "nginx")
        try:
            finished: dict = {}

            def submit_during_the_attack() -> None:
                time.sleep(2)
                job = submit_image(proxy.url)
                [finished["job"]] = wait_for_jobs(proxy.url, [job["id"]], timeout=60)

            submitter = threading.Thread(target=submit_during_the_attack)
            submitter.start()
            probes = attack(proxy.url, connections=50, seconds=8, interval=1.0)
            submitter.join(90)
        finally:
            proxy.stop()
    finally:
        web.stop()
    assert probes.failures == 0 and probes.answered >= 8, probes
    assert finished["job"]["status"] == "succeeded"
