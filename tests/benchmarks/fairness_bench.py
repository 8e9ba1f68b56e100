"""A single job's latency alone and while another client's big batch runs; ratio against alone.

    python -m tests.benchmarks.fairness_bench [--batch 1000] [--workers 1,2] [--singles 5]

One Valkey broker, one local storage directory, the web app over HTTP, and N `celery worker`
processes (concurrency 1 each). For each N: the latency of a single 0.3-MP job (k = 8,64) alone,
the reference, measured in the same run (median of `--singles`); then a batch of `--batch`
different pictures is uploaded and, once its jobs run, `--singles` single jobs are submitted one
after another and timed from the POST to the answer that says succeeded. The goal (issue 22):
under the batch, a single job within 3x its latency alone + 2 s.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests

from cli.broker import start_valkey_server
from kcolors.jobs.settings import Settings
from tests.fixtures.jobs import submit_image
from tests.fixtures.processes import WorkerProcess
from tests.fixtures.servers import LiveServer
from tests.images import gradient_png

KS = "8,64"
SINGLE_SIZE = (640, 480)  # 0.3 MP
BATCH_SIZE = (160, 120)


def single_latency(url: str, seed: int) -> float:
    """Seconds from submitting one new picture to the answer that says it succeeded."""
    started = time.perf_counter()
    job = submit_image(url, gradient_png(*SINGLE_SIZE, seed=10_000 + seed), k=KS)
    while True:
        document = requests.get(f"{url}/api/jobs/{job['id']}", timeout=10).json()
        if document["status"] == "succeeded":
            return time.perf_counter() - started
        assert document["status"] in ("queued", "running"), document
        assert time.perf_counter() - started < 600, "a single job never finished"
        time.sleep(0.02)


def batch_progress(url: str, batch_id: str) -> dict:
    return requests.get(f"{url}/api/batches/{batch_id}", timeout=60).json()["summary"]


def measure(worker_count: int, batch_size: int, singles: int, workdir: Path) -> dict:
    broker = start_valkey_server()
    settings = Settings(
        broker_url=broker.connection_url,
        storage_url=f"file://{workdir / f'store-{worker_count}'}",
        rate_limit="",
    )
    server = LiveServer(settings)
    workers = [
        WorkerProcess(settings, workdir / f"worker-{worker_count}-{n}.log")
        for n in range(worker_count)
    ]
    try:
        for worker in workers:
            worker.wait_ready()
        single_latency(server.url, seed=-1)  # warm-up: imports, first connections
        alone = [single_latency(server.url, seed=n) for n in range(singles)]
        pictures = [
            ("image", (f"{n}.png", gradient_png(*BATCH_SIZE, seed=n))) for n in range(batch_size)
        ]
        response = requests.post(
            f"{server.url}/api/batches", files=pictures, data={"k": KS}, timeout=600
        )
        assert response.status_code == 202, response.text
        batch_id = response.json()["id"]
        while batch_progress(server.url, batch_id)["succeeded"] < worker_count:
            time.sleep(0.1)  # its jobs are running
        under = [single_latency(server.url, seed=singles + n) for n in range(singles)]
        progress = batch_progress(server.url, batch_id)
        return {
            "workers": worker_count,
            "alone": statistics.median(alone),
            "under": statistics.median(under),
            "under_max": max(under),
            "batch_left": progress["total"] - progress["succeeded"] - progress["failed"],
        }
    finally:
        for worker in workers:
            worker.stop()
        server.stop()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--singles", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(
        f"single job {SINGLE_SIZE[0]}x{SINGLE_SIZE[1]} px, k={KS}; batch of {args.batch} pictures"
        f" of {BATCH_SIZE[0]}x{BATCH_SIZE[1]} px; {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="kcolors-fairness-") as workdir:
        results = [
            measure(int(n), args.batch, args.singles, Path(workdir))
            for n in args.workers.split(",")
        ]
    print(
        "| worker processes | single alone (s) | under the batch (s, median) | worst (s) "
        "| ratio vs alone | goal: 3x alone + 2 s | batch jobs still to run |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        goal = 3 * r["alone"] + 2
        print(
            f"| {r['workers']} | {r['alone']:.2f} | {r['under']:.2f} | {r['under_max']:.2f} "
            f"| {r['under'] / r['alone']:.1f}x | {goal:.2f} "
            f"({'met' if r['under_max'] <= goal else 'missed'}) | {r['batch_left']} |"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f} (other processes share these CPUs)")


if __name__ == "__main__":
    main()
