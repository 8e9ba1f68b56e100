"""docker-compose.yml run for real in containers (podman), then scaled and broken.

The image is deploy/Dockerfile built here; the stack is docker-compose.yml with only what cannot
be had without a registry overridden (tests/containers/compose.override.yml). Every request goes
to the published port, through nginx, as a user's would. The figures measured go to
build/containers-report.json and the end of the pytest run (tests/containers/conftest.py).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from datetime import UTC, datetime

import pytest
import requests

from cli.local import free_port
from kcolors.jobs.broker import QUEUE
from tests.containers.images import KCOLORS, image_size, podman
from tests.containers.stack import ComposeStack
from tests.fixtures.faults import slow_png
from tests.fixtures.jobs import submit_image
from tests.images import gradient_png
from tests.lock import canonical, locked_versions

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(900)]

HEAVY_KS = "2,8,32,64,128,256"  # a few seconds of work on slow_png()
FINISHED = {"succeeded", "failed", "cancelled"}
_seeds = itertools.count(1)


def submit_new(stack: ComposeStack, data: bytes, k: str) -> str:
    """Submit a job no earlier one can stand for (each has its own seed: no reuse)."""
    return submit_image(stack.url, data, k=k, seed=str(next(_seeds)))["id"]


@pytest.fixture(scope="module")
def stack(container_images):
    s3_port = free_port("127.0.0.1")
    stack = ComposeStack(
        f"kcolors-test-{secrets.token_hex(3)}",
        free_port("127.0.0.1"),
        {
            # Presigned result URLs, signed for the S3 port published on loopback.
            "MINIO_PUBLISH_ADDRESS": f"127.0.0.1:{s3_port}",
            "KCOLORS_S3_PUBLIC_URL": f"http://127.0.0.1:{s3_port}",
            # s3rver has no console: nothing answers on this port.
            "MINIO_CONSOLE_PORT": str(free_port("127.0.0.1")),
            "KCOLORS_SECRET_KEY": secrets.token_hex(32),
            # s3rver's one account, in the variables docker-compose.yml gives MinIO and kcolors.
            "MINIO_ROOT_USER": "S3RVER",
            "MINIO_ROOT_PASSWORD": "S3RVER",
            # A lost worker's job is taken again after 45 s instead of an hour.
            "KCOLORS_VISIBILITY_TIMEOUT": "45",
            "KCOLORS_SOFT_TIME_LIMIT": "35",
            "KCOLORS_HARD_TIME_LIMIT": "40",
        },
    )
    try:
        stack.up(workers=3)
        yield stack
    finally:
        stack.down(volumes=True)


def poll(stack: ComposeStack, job_ids: list[str], timeout: float = 240) -> dict[str, dict]:
    """Poll every job until it finishes. Connection errors and 5xx (a restarting web container
    behind nginx) are retried; any other answer must be the job's document."""
    deadline = time.monotonic() + timeout
    documents: dict[str, dict] = {}
    while len(documents) < len(job_ids):
        assert time.monotonic() < deadline, {i: documents.get(i) for i in job_ids}
        for job_id in job_ids:
            if job_id in documents:
                continue
            try:
                response = requests.get(f"{stack.url}/api/jobs/{job_id}", timeout=10)
            except requests.RequestException:
                continue
            if response.status_code >= 500:
                continue
            assert response.status_code == 200, response.text
            if response.json()["status"] in FINISHED:
                documents[job_id] = response.json()
        time.sleep(0.5)
    return documents


def who_ran(stack: ComposeStack, job_ids: list[str]) -> dict[str, str]:
    """job id -> the worker container whose log says it succeeded there."""
    ran = {}
    for container in stack.containers("worker"):
        for job_id in re.findall(r"job (\w+) succeeded", stack.logs(container)):
            ran[job_id] = container
    return {job_id: ran[job_id] for job_id in job_ids if job_id in ran}


def test_the_image_is_small_runs_as_non_root_and_checks_its_health(stack, report):
    [inspected] = json.loads(podman("image", "inspect", KCOLORS, "--format", "json").stdout)
    assert inspected["Config"]["User"] == "10001"
    assert "/healthz" in " ".join(inspected["Healthcheck"]["Test"])
    # Only what runs: no compiler, no pip, no scikit-learn (tests and benchmarks only).
    probe = "import importlib.util as u; print([m for m in ('sklearn', 'pip') if u.find_spec(m)])"
    result = podman("run", "--rm", KCOLORS, "python", "-c", probe)
    assert result.stdout.strip() == "[]"
    assert podman("run", "--rm", KCOLORS, "sh", "-c", "command -v gcc cc", check=False).returncode
    [web] = stack.containers("web", include_stopped=False)
    assert podman("healthcheck", "run", web, check=False).returncode == 0
    report["image_mb"] = round(image_size(KCOLORS) / 1e6)


def test_the_image_holds_exactly_the_locked_versions(container_images):
    """Every distribution in the image is at a version uv.lock pins, the five that decide the
    service's behaviour among them."""
    probe = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    installed = json.loads(podman("run", "--rm", KCOLORS, "python", "-c", probe).stdout)
    installed = {canonical(name): version for name, version in installed.items()}
    locked = locked_versions()
    assert {"celery", "kombu", "redis", "numpy", "pillow"} <= set(installed)
    off_lock = {
        name: version
        for name, version in installed.items()
        if name != "kcolors" and version not in locked.get(name, set())
    }
    assert off_lock == {}, off_lock


def test_thirty_jobs_all_succeed_and_each_of_three_workers_ran_some(stack, report):
    assert len(stack.containers("worker", include_stopped=False)) == 3
    started = time.monotonic()
    ids = [
        submit_image(stack.url, gradient_png(320, 240, seed=i), k="2,8,16")["id"] for i in range(30)
    ]
    documents = poll(stack, ids)
    report["thirty_jobs_seconds"] = round(time.monotonic() - started, 1)
    assert {d["status"] for d in documents.values()} == {"succeeded"}, documents
    for document in documents.values():  # every output is served, a real PNG
        for result in document["results"]:
            assert stack.get(result["url"]).startswith(b"\x89PNG")
    ran = who_ran(stack, ids)
    assert set(ran) == set(ids)
    per_worker = {c: list(ran.values()).count(c) for c in stack.containers("worker")}
    report["thirty_jobs_per_worker"] = per_worker
    assert len(per_worker) == 3 and min(per_worker.values()) > 0, per_worker


def burst(stack: ComposeStack, jobs: int) -> dict:
    """Queue `jobs` jobs while the workers are paused, then let them go: from then to the last
    finish (stored in the documents) is the workers' time alone, not the submissions'."""
    photo = slow_png(600)
    workers = stack.containers("worker", include_stopped=False)
    cpu_before = stack.cpu_seconds("worker")  # a paused container's count reads wrong
    try:
        podman("pause", *workers)
        ids = [submit_new(stack, photo, "2,16,64") for _ in range(jobs)]
    finally:
        released = datetime.now(UTC)
        podman("unpause", *workers, check=False)
    documents = list(poll(stack, ids, timeout=600).values())
    cpu = stack.cpu_seconds("worker") - cpu_before
    assert {d["status"] for d in documents} == {"succeeded"}
    finished = max(datetime.fromisoformat(d["finished_at"]) for d in documents)
    seconds = (finished - released).total_seconds()
    engine = [d["timings"]["engine"] for d in documents]
    return {
        "jobs": jobs,
        "seconds": round(seconds, 1),
        "jobs_per_second": round(jobs / seconds, 2),
        "worker_cpu_seconds_per_job": round(cpu / jobs, 2),
        "engine_seconds_per_job": round(sum(engine) / len(engine), 2),
        "workers_that_ran_some": len(set(who_ran(stack, ids).values())),
    }


def test_scaling_workers_from_one_to_four_under_a_burst(stack, report):
    report["scale"] = {}
    for workers in (1, 2, 4):
        stack.scale_workers(workers)
        assert len(stack.containers("worker", include_stopped=False)) == workers
        report["scale"][f"{workers} workers"] = burst(stack, 16)
    assert report["scale"]["4 workers"]["workers_that_ran_some"] == 4, report["scale"]


def test_a_worker_container_killed_mid_job_leaves_the_job_to_another(stack, report):
    # 1 MP: a few seconds, so that the job still runs when `podman logs` has shown it started.
    job_id = submit_new(stack, slow_png(1000), HEAVY_KS)
    deadline = time.monotonic() + 120
    while not (runner := [c for c in stack.containers("worker", include_stopped=False)
                          if f"job {job_id} started" in stack.logs(c)]):  # fmt: skip
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    [victim] = runner
    podman("kill", "--signal", "KILL", victim)
    [document] = poll(stack, [job_id], timeout=300).values()
    assert document["status"] == "succeeded", document
    assert document["attempts"] == 2
    assert [r["k"] for r in document["results"]] == [int(k) for k in HEAVY_KS.split(",")]
    finisher = who_ran(stack, [job_id])[job_id]
    report["killed_worker"] = {"killed": victim, "finished_on": finisher}
    assert finisher != victim


def test_queued_jobs_survive_a_redis_restart(stack, report):
    [redis] = stack.containers("redis", include_stopped=False)
    photo = slow_png(600)
    ids = [submit_new(stack, photo, "2,16,64,256") for _ in range(12)]
    queued = int(podman("exec", redis, "redis-cli", "llen", QUEUE).stdout)
    assert queued > 0, "every job started before Redis could go down: make them heavier"
    podman("restart", redis)
    documents = poll(stack, ids, timeout=600)
    report["redis_restart"] = {"jobs": len(ids), "queued_at_restart": queued}
    assert {d["status"] for d in documents.values()} == {"succeeded"}, documents


def test_a_web_restart_during_polling_loses_no_job(stack, report):
    [web] = stack.containers("web", include_stopped=False)
    photo = slow_png(400)
    ids = [submit_new(stack, photo, "2,16") for _ in range(6)]
    podman("restart", web)
    stack.wait_ready()
    documents = poll(stack, ids)
    assert {d["status"] for d in documents.values()} == {"succeeded"}, documents
    report["web_restart"] = {"jobs": len(ids), "succeeded": len(documents)}


def test_down_then_up_serves_the_stored_jobs_and_results(stack, report):
    ids = [submit_image(stack.url, gradient_png(200, 100, seed=i), k="4")["id"] for i in range(3)]
    before = poll(stack, ids)
    outputs = {}
    for job_id, document in before.items():
        outputs[job_id] = stack.get(document["results"][0]["url"])
    stack.down()
    assert stack.containers("web") == []
    stack.up(workers=1)
    after = poll(stack, ids, timeout=30)
    for job_id, document in after.items():
        assert document["status"] == "succeeded"
        assert stack.get(document["results"][0]["url"]) == outputs[job_id]
    report["down_up"] = {"jobs_served_after": len(after)}
