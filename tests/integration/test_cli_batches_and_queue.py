"""`kcolors submit --prefix` and `kcolors status --queue` against the real service."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis

from tests.fixtures.processes import service_env
from tests.images import gradient_png

pytestmark = pytest.mark.e2e


def kcolors(*args: str, settings, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the `kcolors` command line in its own process."""
    return subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", *args],
        env=service_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_submit_prefix_waits_and_prints_the_report(service):
    for n in range(3):
        service.storage.put(f"uploads/cli/{n}.png", gradient_png(32, 24, seed=n))
    service.storage.put("uploads/cli/readme.txt", b"not a picture")
    result = kcolors(
        "submit", "--prefix", "uploads/cli/", "-k", "2,3", "--wait", "--server", service.url,
        settings=service.settings,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "finished (100%), 4 images: 3 succeeded (0 reused), 1 failed" in lines[-10]
    rows = [line.split() for line in lines if line.startswith(("0.png", "1.png", "2.png"))]
    assert sorted((row[0], row[1]) for row in rows) == [
        (f"{n}.png", k) for n in range(3) for k in ("2", "3")
    ]
    assert any(line.startswith("readme.txt") and "unsupported_format" in line for line in lines)
    assert lines[-1].startswith(f"CSV: {service.url}/api/batches/")


def test_submit_optimize_reaches_the_job_and_its_statistics(service, tmp_path):
    image = tmp_path / "optimized.png"
    image.write_bytes(gradient_png(64, 48))
    result = kcolors(
        "submit", str(image), "-k", "9", "--optimize", "--wait", "--server", service.url,
        settings=service.settings,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.split()[1].rstrip(":")
    job = json.loads(service.storage.get(f"jobs/{job_id}/job.json"))
    [output] = job["results"]
    assert job["params"]["optimize"] is True and job["input"]["name"] == "optimized.png"
    assert output["bytes_before_optimize"] >= output["bytes"] > 0


def test_submit_needs_a_file_or_a_prefix(service):
    result = kcolors("submit", "--server", service.url, settings=service.settings)
    assert result.returncode == 2 and "either FILE or --prefix" in result.stderr


def test_status_queue_counts_waiting_jobs_and_answering_workers(service):
    result = kcolors("status", "--queue", settings=service.settings)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "queue kcolors: 0 waiting"
    assert lines[1] == "workers answering: 1"
    assert lines[2].strip().startswith("test-")  # the fixture's worker names itself test-...


def test_status_queue_sees_jobs_waiting_without_workers(s3_settings):
    redis.Redis.from_url(s3_settings.broker_url).rpush("kcolors", "a", "b")
    result = kcolors("status", "--queue", settings=s3_settings)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["queue kcolors: 2 waiting", "workers answering: 0"]
