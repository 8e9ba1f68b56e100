"""Two clients' batches on the same workers: each one's share of the jobs finished while both
have work, with the feeder's turns and, as the reference in the same run, first in, first out.

    python -m tests.benchmarks.client_shares_bench [--alice 300] [--bob 10x30] [--workers 1]

One Valkey broker, one local storage directory, the web app over HTTP with two tokens (two
clients), and N `celery worker` processes (concurrency 1 each). Alice sends one batch; once its
jobs run, Bob sends his pictures as several batches (`10x30`: ten batches of 30). From Bob's
first job's start to the moment either client has no job left, each one's share of the jobs
finished is counted, overall and in quarters of that span. The goal (issue 22): each share within
20 % of an equal share (0.4 to 0.6), whatever the number of batches Bob cut his work into. The
reference run sets `KCOLORS_BATCH_WINDOW` past the total: every job goes to the queue at once,
first in, first out, as before the feeder.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import requests

from cli.broker import start_valkey_server
from kcolors.jobs.job import load_job
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import open_storage
from kcolors.jobs.times import parse_iso
from tests.fixtures.processes import WorkerProcess
from tests.fixtures.servers import LiveServer
from tests.images import gradient_png

KS = "8,64"
SIZE = (160, 120)
TOKENS = {"alice": "bench-token-alice", "bob": "bench-token-bob"}


def send_batch(url: str, client: str, count: int, seed: int) -> str:
    pictures = [("image", (f"{n}.png", gradient_png(*SIZE, seed=seed + n))) for n in range(count)]
    response = requests.post(
        f"{url}/api/batches",
        files=pictures,
        data={"k": KS},
        headers={"Authorization": f"Bearer {TOKENS[client]}"},
        timeout=600,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def batch_document(url: str, client: str, batch_id: str) -> dict:
    headers = {"Authorization": f"Bearer {TOKENS[client]}"}
    return requests.get(f"{url}/api/batches/{batch_id}", headers=headers, timeout=60).json()


def measure(window: int, alice: int, bob: tuple[int, int], workers: int, workdir: Path) -> dict:
    broker = start_valkey_server()
    settings = Settings(
        broker_url=broker.connection_url,
        storage_url=f"file://{workdir / f'store-{window}'}",
        rate_limit="",
        api_tokens=tuple(TOKENS.values()),
        batch_window=window,
    )
    server = LiveServer(settings)
    processes = [
        WorkerProcess(settings, workdir / f"worker-{window}-{n}.log") for n in range(workers)
    ]
    try:
        for process in processes:
            process.wait_ready()
        batches = {"alice": [send_batch(server.url, "alice", alice, seed=0)]}
        while batch_document(server.url, "alice", batches["alice"][0])["summary"]["succeeded"] < 1:
            time.sleep(0.1)
        count, size = bob
        batches["bob"] = [
            send_batch(server.url, "bob", size, seed=10_000 + b * size) for b in range(count)
        ]
        deadline = time.monotonic() + 3600
        documents: dict[str, list[dict]] = {}
        while len(documents) < 2:
            assert time.monotonic() < deadline, "the batches never finished"
            for client, ids in batches.items():
                docs = [batch_document(server.url, client, batch_id) for batch_id in ids]
                if all(d["summary"]["status"] == "finished" for d in docs):
                    documents[client] = docs
            time.sleep(1)
        storage = open_storage(settings)
        jobs = {
            client: [load_job(storage, item["job_id"]) for d in docs for item in d["items"]]
            for client, docs in documents.items()
        }
        result = shares(jobs)
        sent = min(parse_iso(d["created_at"]) for d in documents["bob"])
        first = min(parse_iso(job.started_at) for job in jobs["bob"])
        result["bob_waited"] = (first - sent).total_seconds()
        return result
    finally:
        for process in processes:
            process.stop()
        server.stop()
        broker.stop()


def shares(jobs: dict[str, list]) -> dict:
    """Each client's share of the jobs finished between Bob's first start and the first client
    to run out of work; overall and per quarter of that span."""
    start = min(job.started_at for job in jobs["bob"])
    end = min(max(job.finished_at for job in client_jobs) for client_jobs in jobs.values())
    finished = sorted(
        (job.finished_at, client)
        for client, client_jobs in jobs.items()
        for job in client_jobs
        if start <= job.finished_at <= end
    )
    quarters = [finished[q * len(finished) // 4 : (q + 1) * len(finished) // 4] for q in range(4)]

    def bob_share(part: list) -> float:
        return sum(client == "bob" for _, client in part) / len(part) if part else 0.0

    return {
        "jobs": len(finished),
        "bob": bob_share(finished),
        "quarters": [bob_share(q) for q in quarters],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alice", type=int, default=300)
    parser.add_argument("--bob", default="10x30", help="COUNTxSIZE: Bob's batches")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--window", type=int, default=Settings().batch_window)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    count, size = (int(n) for n in args.bob.split("x"))
    print(
        f"Alice: 1 batch of {args.alice}; Bob: {count} batches of {size}; pictures "
        f"{SIZE[0]}x{SIZE[1]} px, k={KS}; {args.workers} worker processes; {os.cpu_count()} CPUs"
    )
    reference_window = args.alice + count * size + 10
    with tempfile.TemporaryDirectory(prefix="kcolors-shares-") as workdir:
        runs = [
            (
                f"feeder, window {args.window}",
                measure(args.window, args.alice, (count, size), args.workers, Path(workdir)),
            ),
            (
                "first in, first out (reference)",
                measure(reference_window, args.alice, (count, size), args.workers, Path(workdir)),
            ),
        ]
    print(
        "| scheduling | jobs finished while both had work | Alice's share | Bob's share "
        "| Bob's share by quarter | Bob's first job waited (s) | goal: each 0.4-0.6 |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | --- |")
    for name, r in runs:
        met = 0.4 <= r["bob"] <= 0.6 and r["jobs"] > 0
        quarters = ", ".join(f"{q:.2f}" for q in r["quarters"]) if r["jobs"] else "-"
        alice_share = f"{1 - r['bob']:.2f}" if r["jobs"] else "-"
        bob_share = f"{r['bob']:.2f}" if r["jobs"] else "0 (none ran while Alice's did)"
        print(
            f"| {name} | {r['jobs']} | {alice_share} | {bob_share} | {quarters} "
            f"| {r['bob_waited']:.1f} | {'met' if met else 'missed'} |"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f} (other processes share these CPUs)")


if __name__ == "__main__":
    main()
