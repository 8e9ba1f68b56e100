"""A real worker process: its exporter, its JSON log lines, and the totals the web server shows."""

from __future__ import annotations

import json

import pytest
import requests

from cli.local import free_port
from tests.fixtures.jobs import scrape_text, submit_image, wait_for_jobs
from tests.fixtures.prometheus import sample
from tests.images import gradient_png

pytestmark = pytest.mark.e2e


def test_a_worker_exports_metrics_and_logs_json_with_the_job_id(
    s3_settings, start_worker, start_live_server, tmp_path
):
    address = f"127.0.0.1:{free_port('127.0.0.1')}"
    settings = s3_settings.replace(metrics_address=address, log_format="json")
    metrics_dir = tmp_path / "worker-metrics"
    metrics_dir.mkdir()
    worker = start_worker(settings, concurrency=2, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    server = start_live_server(settings)

    jobs = [submit_image(server.url, gradient_png(seed=n), k="2,5,10") for n in range(3)]
    documents = wait_for_jobs(server.url, [job["id"] for job in jobs])
    assert [d["status"] for d in documents] == ["succeeded"] * 3

    # The worker's exporter adds up its two pool processes.
    text = scrape_text(f"http://{address}/metrics")
    assert sample(text, "kcolors_job_duration_seconds_count", status="succeeded") == 3
    assert sample(text, "kcolors_job_stage_duration_seconds_count", stage="remap") == 9
    fit_seconds = sum(r["timings"]["fit"] for d in documents for r in d["results"])
    assert sample(text, "kcolors_job_stage_duration_seconds_sum", stage="fit") == pytest.approx(
        fit_seconds
    )

    storage_seconds = sum(d["timings"]["storage"] for d in documents)
    assert sample(text, "kcolors_job_phase_duration_seconds_sum", phase="storage") == pytest.approx(
        storage_seconds
    )
    assert sample(text, "kcolors_job_phase_duration_seconds_count", phase="engine") == 3

    # Any web process shows the cluster's totals and the (now empty) queue.
    web = requests.get(f"{server.url}/metrics", timeout=10).text
    assert sample(web, "kcolors_jobs_finished_total", status="succeeded") == 3
    assert sample(web, "kcolors_queue_length", queue="kcolors") == 0

    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    assert any("ready" in line["message"] for line in lines)
    for job in jobs:
        mine = [line for line in lines if line["job_id"] == job["id"]]
        assert any(line["message"] == "job succeeded" for line in mine), mine
