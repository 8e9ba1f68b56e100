"""schemathesis fuzzes the live service from its own `/api/openapi.json`: no 5xx, no answer
outside the document, no answer slower than `SLOW_SECONDS` (an input that costs seconds of
web CPU is an attack), and the worker that runs what the fuzzer submits survives it all.

Bounded: a few dozen generated requests per operation, plus real pictures (a hook puts a real
PNG into some uploads, so that jobs and batches are created and run, not only refused)."""

from __future__ import annotations

import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from kcolors.jobs.storage import open_storage
from tests.fixtures.jobs import submit_image, wait_for_jobs
from tests.images import gradient_png

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
EXAMPLES_PER_OPERATION = 40  # per operation and mode (valid, then invalid requests)
# Far above any answer of a few-KB request here (milliseconds): only a CPU bomb reaches it.
SLOW_SECONDS = 2.0
REAL_PICTURE = gradient_png(16, 12)


@pytest.fixture(scope="module")
def fuzzed(valkey_server, s3_server, tmp_path_factory):
    """`kcolors web` (gunicorn) with a worker, on settings that keep every generated job cheap."""
    from kcolors.jobs.settings import Settings
    from tests.fixtures.processes import WebProcess, WorkerProcess
    from tests.fixtures.servers import create_bucket

    redis.Redis.from_url(valkey_server.connection_url).flushall()  # no other test's leftovers
    create_bucket(s3_server, "kcolors-fuzz")
    fuzz_settings = Settings(
        broker_url=valkey_server.connection_url,
        storage_url="s3://kcolors-fuzz/data",
        s3_endpoint_url=s3_server,
        max_k_values=5,
        max_job_work=16 * 12 * 5 * 8,  # a 16x12 picture at any k; anything larger is refused
        rate_limit="",
        sweep_interval=0,
    )
    open_storage(fuzz_settings).put("uploads/cat.png", REAL_PICTURE, "image/png")
    logs = tmp_path_factory.mktemp("fuzz")
    worker = WorkerProcess(fuzz_settings, logs / "worker.log")
    worker.wait_ready()
    server = WebProcess(fuzz_settings, logs / "web.log").wait_ready()
    server.settings = fuzz_settings
    yield server, worker
    server.stop()
    worker.stop()


@schemathesis.hook
def map_body(ctx, body):
    """Put a real picture into half the generated uploads."""
    if isinstance(body, dict) and "image" in body and len(repr(body)) % 2 == 0:
        images = body["image"]
        body = {**body, "image": [REAL_PICTURE] * len(images) if isinstance(images, list)
                else REAL_PICTURE}  # fmt: skip
    return body


def fuzz(operation, count, mode: GenerationMode, slow: list) -> None:
    """Call one operation with generated requests; check each answer against the document;
    note in `slow` every answer slower than `SLOW_SECONDS`."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def call(case) -> None:
        count()
        # Every check but "schema-valid data is accepted": a well-formed upload of random bytes
        # is rightly refused (415), as is too much work (422); those answers are documented.
        response = case.call_and_validate(timeout=30, excluded_checks=[positive_data_acceptance])
        if response.elapsed > SLOW_SECONDS:
            slow.append((case.method, case.formatted_path, round(response.elapsed, 2)))

    call()


def test_the_api_answers_every_generated_request_as_its_document_says(fuzzed):
    server, worker = fuzzed
    schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")
    failures, calls, slow = {}, {}, []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        calls[label] = 0

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(
                    operation,
                    lambda label=label: calls.__setitem__(label, calls[label] + 1),
                    mode,
                    slow,
                )
            except Unsatisfiable:
                # No invalid request exists where every string is valid (an id in a path).
                assert mode is GenerationMode.NEGATIVE, label
            except Exception as exc:  # every operation is tried; all failures reported together
                failures[f"{label} ({mode.value})"] = f"{type(exc).__name__}: {exc}"[:3000]
    assert not failures, "\n\n".join(f"{label}\n{error}" for label, error in failures.items())
    assert slow == [], slow
    assert len(calls) >= 8 and min(calls.values()) >= 1, calls
    # Real pictures got through: jobs were made from generated requests (and ran).
    made = [key for key in open_storage(server.settings).list("jobs/")
            if key.endswith("/job.json")]  # fmt: skip
    assert len(made) >= 3, (calls, made)
    # The worker that ran what the fuzzer submitted survived it, and still works.
    assert worker.process.poll() is None
    [job] = wait_for_jobs(server.url, [submit_image(server.url, REAL_PICTURE, k="2")["id"]])
    assert job["status"] == "succeeded"
    print(f"schemathesis: {sum(calls.values())} requests over {len(calls)} operations; "
          f"{len(made)} jobs made")  # fmt: skip


def test_a_request_line_over_the_servers_limit_is_a_documented_414(fuzzed):
    """gunicorn refuses it before the app sees it; the document says so for every operation."""
    server, _worker = fuzzed
    response = requests.get(f"{server.url}/api/jobs/x", params={"wait": "1" * 5000}, timeout=10)
    assert response.status_code == 414
    document = requests.get(f"{server.url}/api/openapi.json", timeout=10).json()
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "414" in operation["responses"], operation["operationId"]
