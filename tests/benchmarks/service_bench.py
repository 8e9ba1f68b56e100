"""Service benchmark: jobs through HTTP on `kcolors up`, embedded and on Redis + S3 (moto).

    python -m tests.benchmarks.service_bench [--small 200] [--large 20]

For each stack (embedded Valkey + local directory; Valkey as Redis + moto's S3 server in its own
process, over HTTP) and each worker count (1, 2), it runs `kcolors up` as a subprocess and sends
the jobs over HTTP with one closed-loop client per worker (submit, follow the job with `?wait`
until done, next), which keeps every worker busy without jobs waiting in the queue:

- latency: submit -> the job's `finished_at`; the overhead is that minus the worker's own engine
  time for the job (`timings.engine` in its document), the reference measured in the same job;
- throughput: jobs/s over the whole run, also as a ratio to the engine alone running the same
  jobs in this process, measured in this run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import boto3
import botocore.exceptions
import requests

from cli.broker import start_valkey_server
from cli.local import free_port
from kcolors.engine.params import QuantizeParams
from kcolors.engine.quantize import quantize_image
from tests.fixtures.processes import FAKE_AWS
from tests.images import gradient_png

SMALL = {"size": (96, 72), "k": "2,8"}
LARGE = {"size": (1024, 768), "k": "16"}
WAIT_SECONDS = 20
STACKS = ("embedded", "redis+s3")


def make_jobs(small: int, large: int) -> list[tuple[bytes, str]]:
    """Return (image, k) pairs: distinct pictures, so no job is a cache hit of another."""
    jobs = [(gradient_png(*SMALL["size"], seed=i), SMALL["k"]) for i in range(small)]
    jobs += [(gradient_png(*LARGE["size"], seed=i), LARGE["k"]) for i in range(large)]
    return jobs


def engine_alone_seconds(jobs: list[tuple[bytes, str]]) -> float:
    """Time the engine on every job in this process, without service or storage."""
    started = time.perf_counter()
    for data, ks in jobs:
        quantize_image(data, QuantizeParams(k=[int(k) for k in ks.split(",")]))
    return time.perf_counter() - started


@contextlib.contextmanager
def kcolors_up(workers: int, env: dict[str, str], directory: Path):
    """Run `kcolors up --port 0` and yield its URL; Ctrl-C it after."""
    log_path = directory / f"up-{workers}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "up", "--port", "0", "--workers", str(workers)],
            cwd=directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while not (match := re.search(r"running at (\S+)", log_path.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text())
            time.sleep(0.2)
        yield match.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def run_job(session: requests.Session, url: str, data: bytes, ks: str) -> dict:
    """Submit one job and follow it until it finishes; return its document plus the times.

    Like `kcolors submit --wait`, each GET sends the version it has and asks the server to
    hold it until the job changes: one request per change, not a poll every few milliseconds.
    """
    submitted = time.time()
    response = session.post(f"{url}/api/jobs", files={"image": ("x.png", data)}, data={"k": ks})
    response.raise_for_status()
    accepted = time.time()
    job, etag = response.json(), response.headers["ETag"]
    while job["status"] not in ("succeeded", "failed"):
        response = session.get(f"{url}/api/jobs/{job['id']}", params={"wait": WAIT_SECONDS},
                               headers={"If-None-Match": etag})  # fmt: skip
        response.raise_for_status()
        if response.status_code == 304:
            continue
        job, etag = response.json(), response.headers["ETag"]
    return {**job, "submitted": submitted, "accepted": accepted}


def run_clients(url: str, jobs: list[tuple[bytes, str]], clients: int) -> tuple[list[dict], float]:
    """Run the jobs with `clients` concurrent closed-loop clients; return documents and seconds."""
    chunks = [jobs[i::clients] for i in range(clients)]

    def client(chunk):
        with requests.Session() as session:
            return [run_job(session, url, data, ks) for data, ks in chunk]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = [job for result in pool.map(client, chunks) for job in result]
    return done, time.perf_counter() - started


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def measure(name: str, workers: int, env: dict, jobs: list, engine_rate: float) -> dict:
    """Run one configuration with one closed-loop client per worker."""
    with (
        tempfile.TemporaryDirectory() as directory,
        kcolors_up(workers, env, Path(directory)) as url,
    ):
        latency_jobs, seconds = run_clients(url, jobs, clients=workers)
    failed = [job for job in latency_jobs if job["status"] != "succeeded"]
    ok = [job for job in latency_jobs if job["status"] == "succeeded"]
    latency = [epoch(j["finished_at"]) - j["submitted"] for j in latency_jobs]
    overhead = [
        lat - j["timings"].get("engine", 0) for lat, j in zip(latency, latency_jobs, strict=True)
    ]
    rate = len(jobs) / seconds
    return {
        "stack": name,
        "workers": workers,
        "jobs/s": rate,
        "vs engine alone": rate / engine_rate,
        "p50 ms": 1000 * statistics.median(latency),
        "p95 ms": 1000 * percentile(latency, 95),
        "p50 overhead ms": 1000 * statistics.median(overhead),
        "p95 overhead ms": 1000 * percentile(overhead, 95),
        # Where the overhead goes: the POST until its 202 (HTTP, the web's storage round trips),
        # then until the worker starts the job (queue, pick-up), and the worker's storage time.
        "p50 submit ms": 1000 * statistics.median(j["accepted"] - j["submitted"] for j in ok),
        "p50 submit->start ms": 1000
        * statistics.median(epoch(j["started_at"]) - j["submitted"] for j in ok),
        "p50 worker storage ms": 1000 * statistics.median(j["timings"]["storage"] for j in ok),
        "failed": len(failed),
    }


@contextlib.contextmanager
def redis_and_s3_env(base: dict[str, str]):
    """Start Valkey (as the Redis) and moto's S3 server; yield the environment naming them."""
    broker = start_valkey_server()
    # moto in its own process, as a real S3 server would be: not competing for our GIL.
    port = free_port("127.0.0.1")
    s3 = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**base, **FAKE_AWS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = {**base, **FAKE_AWS}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            client.create_bucket(Bucket="bench")
            break
        except botocore.exceptions.EndpointConnectionError:  # not listening yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        yield {
            **env,
            "KCOLORS_BROKER_URL": broker.connection_url,
            "KCOLORS_S3_ENDPOINT_URL": endpoint,
        }
    finally:
        s3.terminate()
        s3.wait()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--stacks", nargs="+", choices=STACKS, default=list(STACKS))
    args = parser.parse_args()
    jobs = make_jobs(args.small, args.large)
    engine_rate = len(jobs) / engine_alone_seconds(jobs)
    print(f"{args.small} small {SMALL} + {args.large} large {LARGE} jobs; "
          f"engine alone in one process: {engine_rate:.1f} jobs/s")  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith("KCOLORS_")}
    base["PYTHONPATH"] = str(Path.cwd())
    rows = []
    if "embedded" in args.stacks:
        for workers in args.workers:
            rows.append(measure("embedded", workers, base, jobs, engine_rate))
    if "redis+s3" in args.stacks:
        with redis_and_s3_env(base) as env:
            for workers in args.workers:
                # A fresh prefix per run: stored results of the same pictures would be reused.
                fresh = {**env, "KCOLORS_STORAGE_URL": f"s3://bench/run-{workers}"}
                rows.append(measure("redis+s3", workers, fresh, jobs, engine_rate))
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    for row in rows:
        cells = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")
    if any(row["failed"] for row in rows):
        sys.exit("some jobs failed")


if __name__ == "__main__":
    main()
