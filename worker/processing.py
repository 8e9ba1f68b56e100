"""Run one job: load its document, quantize its input, store each output as it finishes.

Plain functions, no Celery: `worker.tasks` calls them, and tests call them without a broker.
"""

from __future__ import annotations

import logging
import time

from worker import defaults
from worker.exceptions import JobNotFound, KcolorsError, StorageUnavailable
from worker.job import Job, load_job, result_key, result_url, save_job
from worker.quantize import QuantizedOutput, QuantizeOptions, quantize_image
from worker.reuse import remember_results
from worker.settings import Settings
from worker.storage import Storage

log = logging.getLogger(__name__)


def quantize_options(job: Job, settings: Settings) -> QuantizeOptions:
    """Return the engine options for a job's parameters."""
    params = job.params
    return QuantizeOptions(
        dither=params.dither,
        space=params.space,
        seed=params.seed,
        output_format=params.format,
        target_psnr=params.target_psnr,
        max_pixels=settings.max_pixels,
    )


def run_job(storage: Storage, job_id: str, settings: Settings) -> Job:
    """Run a queued (or redelivered) job to `succeeded` or `failed`; skip a finished one.

    Raises `StorageUnavailable` when storage fails, so that the caller can retry: every output
    goes to a deterministic key, and a rerun makes only the outputs not yet recorded.
    """
    job = load_job(storage, job_id)
    if job.status.is_finished:
        log.info("job %s already %s, skipped", job.id, job.status.value)
        return job
    if job.attempts >= defaults.MAX_JOB_ATTEMPTS:
        # Each start counts: a job that keeps killing its worker must not loop for ever.
        message = f"the job was started {job.attempts} times without finishing"
        job.fail("too_many_attempts", message)
        save_job(storage, job)
        return job
    job.start()
    save_job(storage, job)

    storage_seconds = 0.0

    def store_output(output: QuantizedOutput) -> None:
        nonlocal storage_seconds
        started = time.perf_counter()
        key = result_key(job.id, output.k, output.extension)
        storage.put(key, output.data, output.media_type)
        job.record_result(output.k, output.stats, key, result_url(job.id, output.k))
        if job.progress < 1:  # the last output is saved with the job's success just after
            save_job(storage, job)
        storage_seconds += time.perf_counter() - started

    try:
        started = time.perf_counter()
        data = storage.get(job.input["key"])
        read_seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = quantize_image(data, ks_to_run(job), quantize_options(job, settings), store_output)
        # The engine's own time, without the storage writes its callback made.
        engine_seconds = time.perf_counter() - started - storage_seconds
        storage_seconds += read_seconds
    except StorageUnavailable:
        raise
    except KcolorsError as exc:  # bad input or parameters: retrying cannot help
        job.fail(exc.code, exc.message)
        save_job(storage, job)
        return job
    job.timings = {"engine": round(engine_seconds, 4), "storage": round(storage_seconds, 4)}
    job.succeed(report.input_stats)
    save_job(storage, job)
    remember_results(storage, job)
    return job


def ks_to_run(job: Job) -> tuple[int, ...]:
    """Return the ks still to make: a rerun after a lost worker keeps the outputs it stored."""
    done = {result["k"] for result in job.results}
    remaining = tuple(k for k in job.params.k if k not in done)
    # An auto-k job's output is not tied to a k asked for: redo it whole.
    if job.params.target_psnr is not None or not remaining:
        return job.params.k
    return remaining


def fail_job(storage: Storage, job_id: str, code: str, message: str) -> Job | None:
    """Mark a job failed unless it already finished; return it, or None if it does not exist."""
    try:
        job = load_job(storage, job_id)
    except JobNotFound:
        return None
    if not job.status.is_finished:
        job.fail(code, message)
        save_job(storage, job)
    return job
