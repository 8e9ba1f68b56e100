"""`kcolors submit --prefix` and `kcolors status --queue` against the real service."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis

from kcolors.jobs.feeder import add_to_backlog
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
    assert result.returncode == 2 and "either FILE (or FOLDER) or --prefix" in result.stderr


def test_status_queue_counts_waiting_jobs_and_answering_workers(service):
    result = kcolors("status", "--queue", settings=service.settings)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "queue kcolors: 0 waiting", "queue kcolors.batch: 0 waiting",
        "batch backlogs: 0 jobs of 0 clients, fed in turns", "workers answering: 1",
    ]  # fmt: skip
    assert lines[4].strip().startswith("test-")  # the fixture's worker names itself test-...


def test_status_queue_sees_jobs_waiting_without_workers(s3_settings):
    redis.Redis.from_url(s3_settings.broker_url).rpush("kcolors", "a", "b")
    redis.Redis.from_url(s3_settings.broker_url).rpush("kcolors.batch", "c")
    add_to_backlog(redis.Redis.from_url(s3_settings.broker_url), "owner:alice", ["d", "e"])
    add_to_backlog(redis.Redis.from_url(s3_settings.broker_url), "owner:bob", ["f"])
    result = kcolors("status", "--queue", settings=s3_settings)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:4] == [
        "queue kcolors: 2 waiting", "queue kcolors.batch: 1 waiting",
        "batch backlogs: 3 jobs of 2 clients, fed in turns", "workers answering: 0",
    ]  # fmt: skip


def test_submit_many_files_is_one_batch_and_out_dir_saves_each_output(service, tmp_path):
    photos = []
    for n, name in enumerate(["cat.png", "dog.png"]):
        photos.append(tmp_path / name)
        photos[-1].write_bytes(gradient_png(32, 24, seed=n))
    out = tmp_path / "out"
    result = kcolors(
        "submit", *map(str, photos), "-k", "2,3", "--wait", "--out-dir", str(out),
        "--server", service.url, settings=service.settings,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "finished (100%), 2 images: 2 succeeded" in result.stdout
    batch_id = result.stdout.split()[1].rstrip(":")
    batch = json.loads(service.storage.get(f"batches/{batch_id}/batch.json"))
    jobs = {item["name"]: item["job_id"] for item in batch["items"]}
    assert sorted(p.name for p in out.iterdir()) == [
        "cat.k2.png", "cat.k3.png", "dog.k2.png", "dog.k3.png"
    ]  # fmt: skip
    for name in ("cat", "dog"):
        for k in (2, 3):
            stored = service.storage.get(f"jobs/{jobs[name + '.png']}/k{k}.png")
            assert (out / f"{name}.k{k}.png").read_bytes() == stored
    again = kcolors(
        "submit", str(photos[0]), "-k", "2", "--wait", "--out-dir", str(out),
        "--server", service.url, settings=service.settings,
    )  # fmt: skip
    assert again.returncode == 1 and f"{out / 'cat.k2.png'} exists: --force" in again.stderr


def test_submit_a_folder_uploads_its_pictures_as_one_batch(service, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for n in range(3):
        (folder / f"{n}.PNG").write_bytes(gradient_png(24, 16, seed=n))
    (folder / "notes.txt").write_text("not a picture: left out by its extension")
    result = kcolors(
        "submit", str(folder), "-k", "2", "--wait", "--server", service.url,
        settings=service.settings,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "finished (100%), 3 images: 3 succeeded" in result.stdout
    rows = [line.split()[0] for line in result.stdout.splitlines() if ".PNG" in line]
    assert sorted(rows) == ["0.PNG", "1.PNG", "2.PNG"]
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = kcolors("submit", str(empty), "--server", service.url, settings=service.settings)
    assert refused.returncode == 2 and "holds no picture" in refused.stderr
