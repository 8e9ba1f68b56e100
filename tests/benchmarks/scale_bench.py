"""Jobs per second with 1, 2 and 4 worker processes on the same burst; speed-up against one.

    python -m tests.benchmarks.scale_bench [--jobs 24] [--workers 1,2,4] [--repeats 2]

One Valkey broker, one local storage directory, the web app over HTTP, and N `celery worker`
processes (concurrency 1 each). Every run submits the same burst of different pictures and
times from the first submission to the last job's end; the reference is one worker, measured
in the same run. The best of `--repeats` runs counts, since other load only ever slows a run.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil
import redis

from cli.broker import start_valkey_server
from kcolors.jobs.metrics import FINISHED_JOBS_KEY
from kcolors.jobs.settings import Settings
from tests.fixtures.jobs import submit_image, wait_for_jobs
from tests.fixtures.processes import WorkerProcess
from tests.fixtures.servers import LiveServer
from tests.images import gradient_png

KS = "2,8,16"


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_for_finished(broker: redis.Redis, count: int, timeout: float = 600) -> None:
    """Wait until the workers counted `count` finished jobs (cheap: one Redis read per poll)."""
    deadline = time.monotonic() + timeout
    while sum(int(n) for n in broker.hvals(FINISHED_JOBS_KEY)) < count:
        assert time.monotonic() < deadline, "the burst did not finish"
        time.sleep(0.02)


def cpu_seconds(workers: list[WorkerProcess]) -> float:
    """CPU time used so far by the worker processes and their pool children."""
    total = 0.0
    for worker in workers:
        main = psutil.Process(worker.pid)
        for process in [main, *main.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
    return total


def run_burst(
    broker: redis.Redis, url: str, images: list[bytes], run: int, workers: list[WorkerProcess]
) -> dict[str, float]:
    """Submit every image, wait for all; return wall time, mean job time, CPU per job."""
    broker.delete(FINISHED_JOBS_KEY)
    cpu_before = cpu_seconds(workers)
    started = time.perf_counter()
    # A new seed per run: the same bytes and parameters again would reuse the stored outputs.
    job_ids = [submit_image(url, data, k=KS, seed=str(run))["id"] for data in images]
    wait_for_finished(broker, len(images))
    elapsed = time.perf_counter() - started
    cpu_per_job = (cpu_seconds(workers) - cpu_before) / len(images)
    documents = wait_for_jobs(url, job_ids)
    assert all(d["status"] == "succeeded" for d in documents), "a job failed"
    job_seconds = [parse_time(d["finished_at"]) - parse_time(d["started_at"]) for d in documents]
    return {
        "seconds": elapsed,
        "job_seconds": statistics.mean(job_seconds),
        "cpu_per_job": cpu_per_job,
    }


def measure(worker_count: int, images: list[bytes], repeats: int, workdir: Path) -> dict:
    """Best run of the burst with `worker_count` worker processes."""
    broker = start_valkey_server()
    settings = Settings(
        broker_url=broker.connection_url, storage_url=f"file://{workdir / f'store-{worker_count}'}"
    )
    server = LiveServer(settings)
    workers = [
        WorkerProcess(settings, workdir / f"worker-{worker_count}-{n}.log")
        for n in range(worker_count)
    ]
    try:
        for worker in workers:
            worker.wait_ready()
        connection = redis.Redis.from_url(broker.connection_url)
        runs = [run_burst(connection, server.url, images, run, workers) for run in range(repeats)]
        best = min(runs, key=lambda r: r["seconds"])
        return {"workers": worker_count, **best, "jobs_per_second": len(images) / best["seconds"]}
    finally:
        for worker in workers:
            worker.stop()
        server.stop()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--size", default="240x180", help="picture size, WIDTHxHEIGHT")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    width, height = (int(n) for n in args.size.split("x"))
    images = [gradient_png(width, height, seed=n) for n in range(args.jobs)]
    counts = [int(n) for n in args.workers.split(",")]
    print(
        f"{args.jobs} jobs of {args.size} px, k={KS}; {os.cpu_count()} CPUs; best of {args.repeats}"
    )
    with tempfile.TemporaryDirectory(prefix="kcolors-scale-") as workdir:
        results = [measure(n, images, args.repeats, Path(workdir)) for n in counts]
    reference = results[0]["jobs_per_second"]
    print(
        f"| worker processes | burst (s) | jobs/s | mean job (s) | worker CPU s/job "
        f"| speed-up vs {counts[0]} |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['workers']} | {r['seconds']:.2f} | {r['jobs_per_second']:.2f} "
            f"| {r['job_seconds']:.3f} | {r['cpu_per_job']:.3f} "
            f"| {r['jobs_per_second'] / reference:.2f}x |"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f} (other processes share these CPUs)")


if __name__ == "__main__":
    main()
