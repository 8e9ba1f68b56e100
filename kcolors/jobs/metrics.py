"""Prometheus metrics of the web server and the workers, added up over their processes (the
shared directory is chosen at start-up: kcolors/jobs/metrics_dir.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from kcolors.jobs.broker import text
from kcolors.jobs.feeder import backlog_lengths
from kcolors.jobs.metrics_dir import multiprocess as shared_by_processes
from kcolors.jobs.times import parse_iso

# Redis hash where workers count finished jobs by status, so any web process reports the total.
FINISHED_JOBS_KEY = "kcolors:metrics:jobs_finished"
# Redis counter of every job made (API, form, batches; reused ones too): created = finished (all
# statuses) + in flight, whichever process made or ended each job.
CREATED_JOBS_KEY = "kcolors:metrics:jobs_created"
log = logging.getLogger(__name__)
COUNTED_JOB_KEY_PREFIX = "kcolors:metrics:counted:"
COUNTED_JOB_TTL = 7 * 24 * 3600  # seconds; far beyond any redelivery
ENGINE_STAGES = ("fit", "remap", "encode", "stats")

JOBS_SUBMITTED = Counter("kcolors_jobs_submitted", "Jobs accepted by the API.", ["kind"])
REQUEST_SECONDS = Histogram(
    "kcolors_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "endpoint", "status"],
)
JOB_SECONDS = Histogram(
    "kcolors_job_duration_seconds",
    "Time from a job's start to its end on a worker.",
    ["status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, float("inf")),
)
STAGE_SECONDS = Histogram(
    "kcolors_job_stage_duration_seconds",
    "Time an engine stage takes for one output (one k).",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf")),
)
PHASE_SECONDS = Histogram(
    "kcolors_job_phase_duration_seconds",
    "Time a successful job spent in the engine and in storage (reads and writes).",
    ["phase"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, float("inf")),
)
JOB_FAILURES = Counter("kcolors_job_failures", "Failed jobs by error code.", ["code"])


def count_created_job(connection: redis.Redis) -> None:
    """Count a job just made, in Redis, for every process's /metrics."""
    try:
        connection.incr(CREATED_JOBS_KEY)
    except (redis.RedisError, OSError) as exc:  # a metric must never fail a submission
        log.warning("job not counted as created: %s", exc)


def process_registry() -> CollectorRegistry:
    """The registry of this process's metrics, added up over every process sharing them."""
    if not shared_by_processes():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def render(*registries: CollectorRegistry) -> tuple[bytes, str]:
    """The text exposition of some registries (their metric names differ) and its type."""
    return b"".join(generate_latest(r) for r in registries), CONTENT_TYPE_LATEST


def start_exporter(port: int, address: str = "0.0.0.0") -> None:
    """Serve the worker's metrics over HTTP on `port` from a background thread."""
    start_http_server(port, addr=address, registry=process_registry())


def record_finished_job(document: Mapping[str, Any], connection: redis.Redis | None) -> bool:
    """Count a job that reached a final status once: duration, stages, failure code, status."""
    status = document["status"]
    # A redelivered message can report an already finished job again: count each job once.
    marker = f"{COUNTED_JOB_KEY_PREFIX}{document['id']}"
    if connection is not None and not connection.set(marker, 1, nx=True, ex=COUNTED_JOB_TTL):
        return False
    started, finished = document.get("started_at"), document.get("finished_at")
    if started and finished:
        seconds = (parse_iso(finished) - parse_iso(started)).total_seconds()
        JOB_SECONDS.labels(status=status).observe(max(seconds, 0.0))
    for result in document.get("results") or []:
        for stage, seconds in (result.get("timings") or {}).items():
            if stage in ENGINE_STAGES:
                STAGE_SECONDS.labels(stage=stage).observe(seconds)
    for phase, seconds in (document.get("timings") or {}).items():
        PHASE_SECONDS.labels(phase=phase).observe(seconds)
    if status == "failed":
        JOB_FAILURES.labels(code=(document.get("error") or {}).get("code", "unknown")).inc()
    if connection is not None:
        connection.hincrby(FINISHED_JOBS_KEY, status, 1)
    return True


# The work waiting beyond the batch queue's window; KEDA scales on it (deploy/components/keda).
BACKLOG_METRIC = "kcolors_batch_backlog_jobs"


class BrokerCollector:
    """Numbers read from Redis at scrape time: the queues' lengths, the batch backlogs, finished
    jobs by status."""

    def __init__(self, connection: redis.Redis, queues: tuple[str, ...]) -> None:
        self.connection = connection
        self.queues = queues

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("kcolors_broker_up", "1 when the broker answered the scrape.")
        try:
            lengths = {name: self.connection.llen(name) for name in self.queues}
            backlogs = backlog_lengths(self.connection)
            finished = self.connection.hgetall(FINISHED_JOBS_KEY)
            created = int(self.connection.get(CREATED_JOBS_KEY) or 0)
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queue = GaugeMetricFamily(
            "kcolors_queue_length", "Jobs waiting in each of the broker's queues.", labels=["queue"]
        )
        for name, length in lengths.items():
            queue.add_metric([name], length)
        yield queue
        backlog = GaugeMetricFamily(
            BACKLOG_METRIC,
            "Batch jobs waiting in their clients' backlogs, not yet in the batch queue: with the "
            "queues' lengths, the work waiting for a worker.",
        )
        backlog.add_metric([], sum(backlogs.values()))
        yield backlog
        clients = GaugeMetricFamily(
            "kcolors_batch_backlog_clients", "Clients with batch jobs waiting in a backlog."
        )
        clients.add_metric([], len(backlogs))
        yield clients
        jobs = CounterMetricFamily(
            "kcolors_jobs_finished",
            "Jobs finished by status, over all workers (the same from every web process).",
            labels=["status"],
        )
        for status, count in sorted(finished.items()):
            jobs.add_metric([text(status)], int(count))
        yield jobs
        made = CounterMetricFamily(
            "kcolors_jobs_created",
            "Jobs made, however (API, form, batches, reuse): the finished ones plus those in "
            "flight (the same from every web process).",
        )
        made.add_metric([], created)
        yield made
