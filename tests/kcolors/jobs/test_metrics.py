"""Worker metrics: recorded from job documents, added up over processes, served over HTTP."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import redis
import requests
from prometheus_client import CollectorRegistry

from cli.broker import start_valkey_server
from cli.local import free_port
from kcolors.jobs import metrics
from kcolors.jobs.feeder import add_to_backlog
from tests.fixtures.prometheus import sample


def scrape(registry: CollectorRegistry) -> str:
    return metrics.render(registry)[0].decode()


@pytest.fixture(scope="module")
def broker():
    server = start_valkey_server()
    yield redis.Redis.from_url(server.connection_url)
    server.stop()


def finished_job(status: str = "succeeded", **extra) -> dict:
    return {
        "id": "01JOB",
        "status": status,
        "started_at": "2026-11-27T05:00:00.000Z",
        "finished_at": "2026-11-27T05:00:01.500Z",
        "results": [
            {"k": 2, "timings": {"fit": 0.01, "remap": 0.02, "encode": 0.03, "stats": 0.04}},
            {"k": 5, "timings": {"fit": 0.02, "remap": 0.02, "encode": 0.03, "stats": 0.04}},
        ],
        **extra,
    }


def test_a_finished_job_records_its_duration_stages_and_status(broker):
    broker.flushall()
    before = scrape(metrics.process_registry())
    job = finished_job(id="01ONCE")
    assert metrics.record_finished_job(job, broker)
    assert not metrics.record_finished_job(job, broker)  # a redelivered message: not again
    after = scrape(metrics.process_registry())

    def grew(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("kcolors_job_duration_seconds_count", status="succeeded") == 1
    assert grew("kcolors_job_duration_seconds_sum", status="succeeded") == pytest.approx(1.5)
    assert grew("kcolors_job_stage_duration_seconds_count", stage="fit") == 2
    assert grew("kcolors_job_stage_duration_seconds_sum", stage="fit") == pytest.approx(0.03)
    assert int(broker.hget(metrics.FINISHED_JOBS_KEY, "succeeded")) == 1


def test_a_failed_job_counts_its_error_code(broker):
    before = scrape(metrics.process_registry())
    error = {"code": "corrupt_image", "message": "truncated"}
    metrics.record_finished_job(
        finished_job("failed", id="01FAIL", results=[], error=error), broker
    )
    after = scrape(metrics.process_registry())
    name = "kcolors_job_failures_total"
    assert (
        sample(after, name, code="corrupt_image") - sample(before, name, code="corrupt_image") == 1
    )


def test_broker_collector_reads_queue_length_and_totals(broker):
    broker.delete("celery", metrics.FINISHED_JOBS_KEY)
    broker.rpush("celery", "a", "b", "c")
    broker.hincrby(metrics.FINISHED_JOBS_KEY, "failed", 2)
    add_to_backlog(broker, "owner:alice", ["j1", "j2"])
    add_to_backlog(broker, "address:127.0.0.1", ["j3"])
    registry = CollectorRegistry()
    registry.register(metrics.BrokerCollector(broker, ("celery",)))
    text = scrape(registry)
    assert sample(text, "kcolors_broker_up") == 1
    assert sample(text, "kcolors_queue_length", queue="celery") == 3
    assert sample(text, "kcolors_jobs_finished_total", status="failed") == 2
    assert sample(text, metrics.BACKLOG_METRIC) == 3
    assert sample(text, "kcolors_batch_backlog_clients") == 2
    broker.delete("celery")


def test_broker_collector_reports_an_unreachable_broker():
    server = start_valkey_server()
    connection = redis.Redis.from_url(server.connection_url, socket_connect_timeout=1)
    server.stop()
    registry = CollectorRegistry()
    registry.register(metrics.BrokerCollector(connection, ("celery",)))
    text = scrape(registry)
    assert sample(text, "kcolors_broker_up") == 0
    assert "kcolors_queue_length" not in text


EXPORTER = textwrap.dedent(
    """
    import multiprocessing, sys, time
    from kcolors.jobs import metrics

    def fail_one_job(code):
        job = {"id": "x", "status": "failed", "error": {"code": code}, "results": []}
        metrics.record_finished_job(job, None)

    if __name__ == "__main__":
        # Three pool processes do the work, as Celery's prefork pool does.
        with multiprocessing.get_context("fork").Pool(3) as pool:
            pool.map(fail_one_job, ["corrupt_image"] * 3 + ["image_too_large"])
        metrics.start_exporter(int(sys.argv[1]), "127.0.0.1")
        print("ready", flush=True)
        time.sleep(60)
    """
)


def test_worker_exporter_adds_up_its_pool_processes(tmp_path):
    port = free_port("127.0.0.1")
    script = tmp_path / "exporter.py"
    script.write_text(EXPORTER)
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = str(metrics.__file__).rsplit("/worker/", 1)[0]
    process = subprocess.Popen(
        [sys.executable, str(script), str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        while True:
            try:
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert sample(text, "kcolors_job_failures_total", code="corrupt_image") == 3
        assert sample(text, "kcolors_job_failures_total", code="image_too_large") == 1
    finally:
        process.kill()
        process.wait()


def test_importing_the_metrics_touches_no_environment_and_makes_no_folder(tmp_path):
    """Only a service command chooses a shared metrics folder (kcolors/jobs/metrics_dir.py):
    a program that imports kcolors keeps its environment, its temporary folder and its exit."""
    probe = (
        "import os, tempfile; tempfile.tempdir = os.environ['PROBE_TMP']; "
        "import kcolors.jobs.metrics, web, worker.tasks; "
        "print(os.environ.get('PROMETHEUS_MULTIPROC_DIR'), os.listdir(os.environ['PROBE_TMP']))"
    )
    env = {"PATH": "/usr/bin:/bin", "PROBE_TMP": str(tmp_path)}
    env["PYTHONPATH"] = str(metrics.__file__).rsplit("/kcolors/", 1)[0]
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["None", "[]"], result.stdout
