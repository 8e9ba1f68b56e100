"""Soak: jobs through HTTP with two workers while one of them is killed every few seconds.

    python -m tests.benchmarks.soak [--jobs 1000] [--kill-every 5]

Valkey, moto's S3 server (a versioned bucket, so that every write of an object is counted), the
web app over HTTP and two Celery worker processes: worker A runs throughout, worker B is killed
with SIGKILL (with its pool) every few seconds and started again. It checks that every job ends
`succeeded` with exactly its own objects, counts the outputs written more than once, and samples
worker A's memory (main process + pool) to show it stays flat. Prints the counts.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import psutil
import requests
from moto.server import ThreadedMotoServer

from cli.broker import start_valkey_server
from kcolors.jobs.settings import Settings
from tests.fixtures.faults import kill_worker
from tests.fixtures.processes import FAKE_AWS, WorkerProcess
from tests.fixtures.servers import LiveServer
from tests.images import gradient_png

KS = "2,8"
BUCKET = "soak"
PREFIX = "data"
POLL_WINDOW = 20


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children."""
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


class Killer(threading.Thread):
    """Kill worker B every `every` seconds (jittered) and start a new one in its place."""

    def __init__(self, settings: Settings, directory: Path, every: float) -> None:
        super().__init__(daemon=True)
        self.settings, self.directory, self.every = settings, directory, every
        self.kills = 0
        self.victim = self._start()
        self.stopping = threading.Event()

    def _start(self) -> WorkerProcess:
        log = self.directory / f"worker-b-{self.kills}.log"
        return WorkerProcess(self.settings, log).wait_ready()

    def run(self) -> None:
        while not self.stopping.wait(self.every * random.uniform(0.6, 1.4)):
            kill_worker(self.victim)
            self.victim.stop()
            self.kills += 1
            self.victim = self._start()

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.victim.stop()


def submit(session: requests.Session, url: str, seed: int) -> str:
    files = {"image": ("x.png", gradient_png(48, 36, seed=seed))}
    response = session.post(f"{url}/api/jobs", files=files, data={"k": KS}, timeout=60)
    response.raise_for_status()
    return response.json()["id"]


def wait_all(url: str, job_ids: list[str], memory: list[int], worker_a: WorkerProcess) -> dict:
    """Poll until every job finished, sampling worker A's memory; return the documents."""
    documents: dict[str, dict] = {}
    with requests.Session() as session:
        while len(documents) < len(job_ids):
            memory.append(rss_bytes(worker_a.pid))
            unfinished = 0
            # Jobs run roughly in submission order: look at the oldest unfinished ones only,
            # so that polling does not load the server more than the jobs do.
            for job_id in [j for j in job_ids if j not in documents]:
                document = session.get(f"{url}/api/jobs/{job_id}", timeout=30).json()
                if document["status"] in ("succeeded", "failed"):
                    documents[job_id] = document
                else:
                    unfinished += 1
                    if unfinished == POLL_WINDOW:
                        break
            print(f"  {len(documents)}/{len(job_ids)} finished", flush=True)
            time.sleep(2)
    return documents


def count_writes(endpoint: str) -> Counter:
    """Return how many versions each object of the bucket has (one per write)."""
    client = boto3.client("s3", endpoint_url=endpoint)
    versions: Counter = Counter()
    for page in client.get_paginator("list_object_versions").paginate(Bucket=BUCKET):
        for version in page.get("Versions", []):
            versions[version["Key"].removeprefix(f"{PREFIX}/")] += 1
    return versions


def run(jobs: int, kill_every: float) -> int:
    """Run the soak; print the counts; return 0 when every check holds."""
    for key, value in FAKE_AWS.items():
        os.environ.setdefault(key, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    valkey = start_valkey_server()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    settings = Settings(
        broker_url=valkey.connection_url,
        storage_url=f"s3://{BUCKET}/{PREFIX}",
        s3_endpoint_url=endpoint,
        soft_time_limit=20,
        hard_time_limit=25,
        visibility_timeout=30,
    )
    directory = Path(tempfile.mkdtemp(prefix="kcolors-soak-"))
    server = LiveServer(settings)
    worker_a = WorkerProcess(settings, directory / "worker-a.log").wait_ready()
    killer = Killer(settings, directory, kill_every)
    started = time.monotonic()
    try:
        killer.start()
        with ThreadPoolExecutor(4) as pool, requests.Session() as session:
            job_ids = list(pool.map(lambda seed: submit(session, server.url, seed), range(jobs)))
        print(f"{jobs} jobs submitted in {time.monotonic() - started:.0f} s", flush=True)
        memory: list[int] = []
        documents = wait_all(server.url, job_ids, memory, worker_a)
        seconds = time.monotonic() - started
    finally:
        killer.stop()
        worker_a.stop()
        server.stop()
    writes = count_writes(endpoint)
    moto.stop()
    valkey.stop()

    statuses = Counter(d["status"] for d in documents.values())
    attempts = Counter(d["attempts"] for d in documents.values())
    outputs = {k: n for k, n in writes.items() if "/k" in k}
    rewritten = {k: n for k, n in outputs.items() if n > 1}
    expected_keys = set()
    for d in documents.values():
        expected_keys |= {d["input"]["key"], f"jobs/{d['id']}/job.json"}
        expected_keys |= {r["key"] for r in d["results"]}
    stray = set(writes) - expected_keys
    warm = memory[min(len(memory) - 1, max(1, len(memory) // 10))]
    print(f"jobs: {jobs}, seconds: {seconds:.0f}, worker B killed {killer.kills} times")
    print(f"statuses: {dict(statuses)}; attempts per job: {dict(sorted(attempts.items()))}")
    print(f"output objects: {len(outputs)} (expected {jobs * len(KS.split(','))}), "
          f"written more than once: {len(rewritten)}, stray objects: {len(stray)}")  # fmt: skip
    print(f"worker A memory (MiB): after warm-up {warm / 2**20:.1f}, "
          f"end {memory[-1] / 2**20:.1f}, max {max(memory) / 2**20:.1f}, "
          f"end/warm-up {memory[-1] / warm:.2f}")  # fmt: skip
    print(f"logs in {directory}")
    ok = statuses == Counter(succeeded=jobs) and not stray
    ok = ok and len(outputs) == jobs * len(KS.split(",")) and memory[-1] / warm < 1.25
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between kills")
    args = parser.parse_args()
    raise SystemExit(run(args.jobs, args.kill_every))


if __name__ == "__main__":
    main()
