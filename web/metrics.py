"""Prometheus `/metrics`: request latency, submitted jobs, and the broker's queue and totals."""

from __future__ import annotations

import time

import redis
from flask import Blueprint, Response, current_app, g, request
from prometheus_client import CollectorRegistry

from kcolors.jobs import metrics
from kcolors.jobs.broker import QUEUES, redis_for
from kcolors.jobs.logs import CURRENT_JOB_ID

bp = Blueprint("metrics", __name__)


@bp.before_app_request
def start_timer() -> None:
    """Note when the request started, and tag log lines with the job it is about."""
    g.request_started = time.perf_counter()
    job_id = (request.view_args or {}).get("job_id")
    if job_id:
        g.job_id_token = CURRENT_JOB_ID.set(job_id)


@bp.teardown_app_request
def forget_job(_: BaseException | None) -> None:
    """Untag log lines: the thread serves other requests next."""
    token = g.pop("job_id_token", None)
    if token is not None:
        CURRENT_JOB_ID.reset(token)


@bp.after_app_request
def observe_request(response: Response) -> Response:
    """Record the request's latency."""
    started = g.pop("request_started", None)
    if started is not None and request.path != "/metrics":
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.REQUEST_SECONDS.labels(
            method=request.method, endpoint=endpoint, status=str(response.status_code)
        ).observe(time.perf_counter() - started)
    return response


@bp.get("/metrics")
def scrape() -> Response:
    """Every process's metrics plus what the broker holds, in Prometheus' text format."""
    registries = [metrics.process_registry()]
    connection = broker_connection()
    if connection is not None:
        broker = CollectorRegistry(auto_describe=False)
        broker.register(metrics.BrokerCollector(connection, QUEUES))
        registries.append(broker)
    body, content_type = metrics.render(*registries)
    return Response(body, content_type=content_type)


def broker_connection() -> redis.Redis | None:
    """One Redis connection pool per app, or None without a broker URL."""
    settings = current_app.config["KCOLORS_SETTINGS"]
    if not settings.broker_url:
        return None
    if "kcolors_metrics_redis" not in current_app.extensions:
        current_app.extensions["kcolors_metrics_redis"] = redis_for(settings)
    return current_app.extensions["kcolors_metrics_redis"]
