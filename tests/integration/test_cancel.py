"""Cancelling for real: a job running on a Celery worker stops at its next output, a batch's
unfinished jobs end cancelled, `kcolors cancel` does it from the command line."""

from __future__ import annotations

import time

import pytest
import requests
from click.testing import CliRunner

from cli.main import main
from kcolors.jobs.storage import open_storage
from tests.fixtures.bad_inputs import hostile_samples, odd_samples
from tests.fixtures.faults import slow_png, wait_for_document
from tests.fixtures.jobs import submit_image, wait_for_jobs
from tests.fixtures.prometheus import sample
from tests.images import gradient_png

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MANY_KS = "2,4,8,16,32,64,128,256"  # many seconds of work on slow_png()


def test_a_running_job_stops_at_its_next_output_on_its_worker(service):
    job = submit_image(service.url, slow_png(1000), k=MANY_KS)  # 1 MP: about 3 s over the k
    storage = open_storage(service.settings)
    wait_for_document(storage, job["id"], ["running"])
    response = requests.delete(f"{service.url}/api/jobs/{job['id']}", timeout=10)
    assert response.status_code == 202 and response.json()["status"] in ("running", "cancelled")
    [done] = wait_for_jobs(service.url, [job["id"]], timeout=120)
    assert done["status"] == "cancelled" and done["finished_at"]
    made = [r["k"] for r in done["results"]]
    assert len(made) < 8 and made == sorted(made)  # stopped early, kept what it made
    for result in done["results"]:
        assert requests.get(f"{service.url}{result['url']}", timeout=10).status_code == 200
    again = requests.delete(f"{service.url}/api/jobs/{job['id']}", timeout=10)
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"
    # The worker goes on with the next job.
    [good] = wait_for_jobs(service.url, [submit_image(service.url)["id"]])
    assert good["status"] == "succeeded" and service.worker.process.poll() is None


def test_kcolors_cancel_ends_a_queued_job_and_a_batch(s3_settings, start_live_server):
    url = start_live_server(s3_settings).url  # no worker: everything stays queued
    job = submit_image(url)
    result = CliRunner().invoke(main, ["cancel", job["id"], "--server", url])
    assert result.exit_code == 0, result.output
    assert f"job {job['id']}: cancelled" in result.output
    files = [("image", (f"{n}.png", gradient_png(seed=n))) for n in range(3)]
    batch = requests.post(f"{url}/api/batches", files=files, data={"k": "2"}, timeout=30).json()
    result = CliRunner().invoke(main, ["cancel", batch["id"], "--batch", "--server", url])
    assert result.exit_code == 0, result.output
    summary = requests.get(f"{url}/api/batches/{batch['id']}", timeout=10).json()["summary"]
    assert summary["queued"] == 3 and summary["status"] == "queued"  # not expanded yet
    failed = CliRunner().invoke(main, ["cancel", job["id"], "--server", url])
    assert failed.exit_code == 1 and "job_finished" in failed.output


def test_a_cancelled_batch_makes_no_job_and_reports_its_images_cancelled(service):
    files = [("image", (f"{n}.png", gradient_png(seed=10 + n))) for n in range(4)]
    # Cancelled before a worker expands it: none of its images is ever quantized.
    service.worker.stop()
    batch = requests.post(f"{service.url}/api/batches", files=files, data={"k": "2"},
                          timeout=30).json()  # fmt: skip
    cancelled = requests.delete(f"{service.url}/api/batches/{batch['id']}", timeout=10)
    assert cancelled.status_code == 202 and cancelled.json()["cancelled_at"]
    from tests.fixtures.processes import WorkerProcess

    worker = WorkerProcess(service.settings, service.tmp_path / "second-worker.log").wait_ready()
    try:
        deadline = time.monotonic() + 60
        while True:
            summary = requests.get(f"{service.url}/api/batches/{batch['id']}", timeout=10).json()
            if summary["summary"]["status"] == "finished":
                break
            assert time.monotonic() < deadline, summary
            time.sleep(0.2)
    finally:
        worker.stop()
    assert summary["summary"]["cancelled"] == 4 and summary["summary"]["progress"] == 1.0
    assert all(item["job_id"] is None for item in summary["items"])
    rows = requests.get(f"{service.url}/api/batches/{batch['id']}/report.json", timeout=10).json()
    assert {row["status"] for row in rows["rows"]} == {"cancelled"}


def test_metrics_add_up_whatever_way_jobs_end(service):
    """created = finished (succeeded, failed, cancelled; reused included) once nothing is in
    flight, and a finished batch is at 100 % even when one of its images failed."""
    url = service.url
    computed = submit_image(url, gradient_png(seed=21), k="2")
    failing = next(s for s in hostile_samples() + odd_samples() if s.refused_with is None
                   and s.expect != "ok")  # fmt: skip
    failed = submit_image(url, failing.data, k="2")
    files = [("image", ("ok.png", gradient_png(seed=23))), ("image", ("bad.png", failing.data))]
    batch = requests.post(f"{url}/api/batches", files=files, data={"k": "2"}, timeout=30).json()
    done = wait_for_jobs(url, [computed["id"], failed["id"]])
    assert [job["status"] for job in done] == ["succeeded", "failed"]
    deadline = time.monotonic() + 60
    while (
        summary := requests.get(f"{url}/api/batches/{batch['id']}", timeout=10).json()["summary"]
    )["status"] != "finished":
        assert time.monotonic() < deadline, summary
        time.sleep(0.2)
    assert summary["failed"] == 1 and summary["progress"] == 1.0
    reused = submit_image(url, gradient_png(seed=21), k="2")
    assert reused["status"] == "succeeded" and reused["reused"] is True
    service.worker.stop()  # the next job stays queued until it is cancelled
    queued = submit_image(url, gradient_png(seed=22), k="2")
    assert requests.delete(f"{url}/api/jobs/{queued['id']}", timeout=10).status_code == 202

    text = requests.get(f"{url}/metrics", timeout=10).text
    by_status = {
        status: sample(text, "kcolors_jobs_finished_total", status=status)
        for status in ("succeeded", "failed", "cancelled")
    }
    # computed, reused and the batch's good image; the failing image alone and in the batch.
    assert by_status == {"succeeded": 3, "failed": 2, "cancelled": 1}
    assert sample(text, "kcolors_jobs_created_total") == sum(by_status.values()) == 6


def test_the_workers_sweep_deletes_jobs_past_retention(
    s3_settings, start_worker, start_live_server
):
    # A retention of 3 s (in days) and a sweep every second: the job goes, objects and all.
    settings = s3_settings.replace(retention_days=3 / 86400, sweep_interval=1)
    start_worker(settings)
    url = start_live_server(settings).url
    [job] = wait_for_jobs(url, [submit_image(url, gradient_png(seed=31), k="2")["id"]])
    assert job["status"] == "succeeded"
    storage = open_storage(settings)
    assert storage.list(f"jobs/{job['id']}/")
    deadline = time.monotonic() + 60
    while storage.list(f"jobs/{job['id']}/"):
        assert time.monotonic() < deadline, storage.list(f"jobs/{job['id']}/")
        time.sleep(0.5)
    gone = requests.get(f"{url}/api/jobs/{job['id']}", timeout=10)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "job_not_found"
    # The reuse index forgot it: the same work is computed again, not "reused" from nothing.
    again = submit_image(url, gradient_png(seed=31), k="2")
    assert again["reused"] is False


def test_kcolors_status_exit_codes_tell_cancelled_failed_and_unknown_apart(
    s3_settings, start_live_server
):
    """Documented in `--help`: 0 done, 1 failed, 3 cancelled (not an error: no `Error:`),
    4 no such job; a script tells them apart by the code alone."""
    url = start_live_server(s3_settings).url  # no worker: the job stays queued until cancelled
    job = submit_image(url)
    assert CliRunner().invoke(main, ["status", job["id"], "--server", url]).exit_code == 0
    requests.delete(f"{url}/api/jobs/{job['id']}", timeout=10)
    cancelled = CliRunner().invoke(main, ["status", job["id"], "--server", url])
    assert cancelled.exit_code == 3, cancelled.output
    assert "job cancelled, 0 outputs kept" in cancelled.output and "Error" not in cancelled.output
    unknown = CliRunner().invoke(main, ["status", "01M97330NEZMSXVBAX0P7ECHNC", "--server", url])
    assert unknown.exit_code == 4 and "job_not_found" in unknown.output
    usage = CliRunner().invoke(main, ["status", "--server", url])
    assert usage.exit_code == 2
    assert "3 cancelled, 4 no such job" in CliRunner().invoke(main, ["status", "--help"]).output
