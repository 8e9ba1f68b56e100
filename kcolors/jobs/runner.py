"""Run one job: load its document, quantize its input, store each output as it finishes.

Plain functions, no Celery: the worker's tasks call them, and tests call them without a broker.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from kcolors import defaults
from kcolors.engine.outputs import QuantizedOutput
from kcolors.engine.params import QuantizeParams
from kcolors.engine.preview import browser_preview, needs_preview
from kcolors.engine.quantize import quantize_image
from kcolors.errors import JobCancelled, JobNotFound, KcolorsError, StorageUnavailable
from kcolors.jobs.job import Job, load_job, preview_key, result_key, save_job
from kcolors.jobs.ordered_writes import OrderedWrites
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import Storage

log = logging.getLogger(__name__)


def ignore_saved(job: Job) -> None:
    """The default of `on_saved`: no one to tell."""


def never(job: Job) -> bool:
    """The default of `cancelled`: nobody asks the job to stop."""
    return False


def run_job(
    storage: Storage,
    job_id: str,
    settings: Settings,
    on_saved: Callable[[Job], None] = ignore_saved,
    cancelled: Callable[[Job], bool] = never,
) -> Job:
    """Run a queued (or redelivered) job to `succeeded` or `failed`; skip a finished one.

    `cancelled(job)` says whether the client asked the job to stop: it is asked before the job
    starts, after each output and before success; a cancelled job keeps the outputs made.

    Raises `StorageUnavailable` when storage fails, so that the caller can retry: every output
    goes to a deterministic key, and a rerun makes only the outputs not yet recorded.
    `on_saved(job)` is called after each save of the document, for clients waiting on it.
    """

    last_saved = time.monotonic()

    def save(job: Job) -> None:
        nonlocal last_saved
        save_job(storage, job)
        last_saved = time.monotonic()
        on_saved(job)

    job = load_job(storage, job_id)
    if job.status.is_finished:
        log.info("job %s already %s, skipped", job.id, job.status.value)
        return job
    if cancelled(job):
        job.cancel()
        save(job)
        return job
    if job.attempts >= defaults.MAX_JOB_ATTEMPTS:
        # Each start counts: a job that keeps killing its worker must not loop for ever.
        message = f"the job was started {job.attempts} times without finishing"
        job.fail("too_many_attempts", message)
        save(job)
        return job
    job.start()
    log.info("job %s started (attempt %d)", job.id, job.attempts)
    # A later start: the one before may have stored outputs it did not live to record.
    rerun = job.attempts > 1
    with OrderedWrites() as writes:
        # The `running` document and the input's read overlap: one round trip, not two.
        writes.submit(functools.partial(save, job))

        def store_output(output: QuantizedOutput) -> None:
            # Runs on the writes thread while the engine makes the next output; the only
            # changes to `job` until `writes.wait()` below happen there, in order.
            key = result_key(job.id, output.k, output.extension)
            if rerun and storage.exists(key):  # same key, same bytes: outputs are deterministic
                log.info("job %s: %s was stored by an earlier attempt", job.id, key)
            else:
                storage.put(key, output.data, output.media_type)
            job.record_result(output.k, output.stats, key)
            job.stage = stage_after(job)
            # The last output is saved with the job's success just after. Progress is saved at
            # most every PROGRESS_SAVE_SECONDS (a fast job's steps are too quick to watch, and
            # each save is a round trip), and not when the next output is already queued: its
            # save will cover both.
            due = time.monotonic() - last_saved >= defaults.PROGRESS_SAVE_SECONDS
            if job.progress < 1 and due and not writes.more_waiting():
                save(job)

        def note_step(words: str) -> None:
            # Saved with the next progress save, so a long auto-k search shows where it is.
            job.stage = words
            due = time.monotonic() - last_saved >= defaults.PROGRESS_SAVE_SECONDS
            if due and not writes.more_waiting():
                writes.submit(functools.partial(save, job))
            if cancelled(job):
                raise JobCancelled("cancelled by its client")

        def after_output(output: QuantizedOutput) -> None:
            writes.submit(functools.partial(store_output, output))
            if cancelled(job):  # stops the engine here: no further output is made
                raise JobCancelled("cancelled by its client")

        try:
            started = time.perf_counter()
            data = storage.get(job.input["key"])
            read_seconds = time.perf_counter() - started
            if needs_preview(job.input.get("format")) and "preview_key" not in job.input:
                store_preview(storage, job, data, settings.max_pixels)
            job.stage = first_stage(job)
            started = time.perf_counter()
            report = quantize_image(
                data,
                params_to_run(job),
                max_pixels=settings.max_pixels,
                on_output=lambda output: after_output(output),
                on_step=note_step,
            )
            engine_seconds = time.perf_counter() - started
            writes.wait()
            if cancelled(job):
                raise JobCancelled("cancelled before it was recorded done")
        except StorageUnavailable:
            raise
        except JobCancelled:  # the outputs made so far are stored, then the job ends
            writes.wait()
            job.cancel()
            save(job)
            return job
        except KcolorsError as exc:  # bad input or parameters: retrying cannot help
            writes.wait()
            job.fail(exc.code, exc.message)
            save(job)
            return job
    job.timings = {
        "engine": round(engine_seconds, 4),
        "storage": round(read_seconds + writes.seconds, 4),
    }
    job.succeed(report.input_stats)
    save(job)
    log.info("job %s succeeded: %d outputs in %.2f s", job.id, len(job.results), engine_seconds)
    return job


def first_stage(job: Job) -> str:
    """What the engine does first, in words, for the job page."""
    if job.params.k:
        return f"Decoding and counting colours, then k = {job.params.k[0]}"
    return f"Decoding, then searching for the fewest colours reaching {job.params.target_psnr:g} dB"


def stage_after(job: Job) -> str:
    """Where the job is once an output is stored, in words, for the job page."""
    made = [result["k"] for result in job.results]
    left = [k for k in job.params.k if k not in made]
    done = f"{len(made)} of {job.expected_outputs} outputs made"
    if left:
        return f"{done}; now k = {left[0]}"
    if job.params.target_psnr is not None and len(made) < job.expected_outputs:
        return f"{done}; now the fewest colours reaching {job.params.target_psnr:g} dB"
    return f"{done}; storing"


def params_to_run(job: Job) -> QuantizeParams:
    """The job's parameters less the ks a lost worker's earlier run already recorded."""
    done = {result["k"] for result in job.results}
    remaining = tuple(k for k in job.params.k if k not in done)
    # An auto-k job's output is not tied to a k asked for: redo it whole.
    if job.params.target_psnr is not None or not remaining:
        return job.params
    return job.params.model_copy(update={"k": remaining})


def fail_job(
    storage: Storage,
    job_id: str,
    code: str,
    message: str,
    on_saved: Callable[[Job], None] = ignore_saved,
) -> Job | None:
    """Mark a job failed unless it already finished; return it, or None if it does not exist."""
    try:
        job = load_job(storage, job_id)
    except JobNotFound:
        return None
    if not job.status.is_finished:
        job.fail(code, message)
        save_job(storage, job)
        on_saved(job)
    return job


def store_preview(storage: Storage, job: Job, data: bytes, max_pixels: int) -> None:
    """Store the WebP preview of an input no browser shows (HEIC, TIFF, BMP), named in the
    job's `input.preview_key`; the pages show it, the original stays the download."""
    key = preview_key(job.id)
    storage.put(key, browser_preview(data, max_pixels), "image/webp")
    job.input["preview_key"] = key
