"""The one way a job is made, for the API, the form and batches alike.

A job whose image bytes and parameters match a stored success is born finished with that job's
outputs; any other is stored queued, announced to waiting clients, and then enqueued.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from kcolors import defaults
from kcolors.engine.params import QuantizeParams
from kcolors.engine.probe import ProbedImage, probe_image
from kcolors.errors import BrokerUnavailable, StorageUnavailable, WorkBudgetExceeded
from kcolors.jobs import metrics
from kcolors.jobs.events import after_save, announce
from kcolors.jobs.job import Job, input_key, job_key, save_job
from kcolors.jobs.reuse import find_reusable, image_digest
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import Storage

WRITE_THREADS = 16  # two round trips per new job, for several request threads at once
log = logging.getLogger(__name__)


def probe(data: bytes, settings: Settings) -> ProbedImage:
    """Check an image's header against this service's limits, before anything is stored."""
    return probe_image(data, settings.max_pixels, settings.max_pixels_per_byte)


def check_work(params: QuantizeParams, probed: ProbedImage, settings: Settings) -> None:
    """Refuse a job asking for more work (pixels x outputs) than one job may."""
    outputs = len(params.k) + (defaults.AUTO_K_WORK_OUTPUTS if params.target_psnr else 0)
    if params.optimize:
        made = len(params.k) + (1 if params.target_psnr else 0)
        outputs += defaults.OPTIMIZE_EXTRA_WORK_OUTPUTS * made
    pixels = probed.width * probed.height
    if pixels * outputs > settings.max_job_work:
        raise WorkBudgetExceeded(
            f"{pixels:,} pixels x {outputs} outputs = {pixels * outputs:,}, more than the limit "
            f"of {settings.max_job_work:,} per job (an auto-k output counts as "
            f"{defaults.AUTO_K_WORK_OUTPUTS}, and optimize adds "
            f"{defaults.OPTIMIZE_EXTRA_WORK_OUTPUTS} per output); ask for fewer k values or a "
            "smaller picture"
        )


def input_info(probed: ProbedImage, data: bytes) -> dict[str, Any]:
    """What the job document says of its input before the engine has read it."""
    return {
        "format": probed.format.name,
        "width": probed.width,
        "height": probed.height,
        "bytes": probed.byte_size,
        "sha256": image_digest(data),
    }


@functools.cache
def write_pool() -> ThreadPoolExecutor:
    """This process's threads for a new job's writes, made on first use (after gunicorn
    forked): starting threads for every request costs a millisecond each."""
    return ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="kcolors-create")


def create_job(
    storage: Storage,
    notices: redis.Redis,
    settings: Settings,
    params: QuantizeParams,
    probed: ProbedImage,
    data: bytes,
    *,
    source_key: str | None = None,
    owner: str | None = None,
    name: str | None = None,
    job_id: str | None = None,
    batch_client: str | None = None,
    batch: dict[str, Any] | None = None,
) -> Job:
    """Store a new job for an image: finished at once when identical work was done before,
    else queued (the caller enqueues it). Without `source_key`, `data` is stored as its input.
    `owner` is the client when tokens are set: reuse stays within its own jobs. `name` is the
    picture's file name, shown by the pages (the caller cleans it), kept as `input.name`.
    `job_id`, made beforehand with `new_job_id`, lets a batch record the id before the job is
    stored (an expansion cut off in between then finds it, or finds none). `batch_client` is
    the client whose backlog a batch's job waits in, `batch` its batch and item index."""
    check_work(params, probed, settings)
    info = input_info(probed, data) | ({"name": name} if name else {})
    job = Job.create(params, source_key or "", info, owner, job_id, batch_client, batch)
    if source_key is None:
        job.input["key"] = input_key(job.id, probed.format.extension)
    source = find_reusable(storage, notices, job.input["sha256"], params, owner)
    # Same bytes, same parameters: copies of the stored outputs, made now, under this job.
    copies = job.reuse_results(source) if source is not None else []
    if source is not None and not name:  # never the name another upload of these bytes had
        job.input.pop("name", None)
    # The input, the copies and the document at once: one round trip's wait, not several.
    pool = write_pool()
    writes = [pool.submit(storage.copy, old, new) for old, new in copies]
    if source_key is None:
        writes.append(pool.submit(storage.put, job.input["key"], data, probed.format.media_type))
    if copies:  # the document last: it must never name outputs not yet there
        futures.wait(writes)
    writes.append(pool.submit(save_job, storage, job))
    futures.wait(writes)
    try:
        for write in writes:
            write.result()
    except StorageUnavailable:
        discard_objects(storage, job, uploaded=source_key is None)
        raise
    # The first version, for clients that wait on the job from its 202 on; a reused job is
    # finished already, and counted as such.
    metrics.count_created_job(notices)
    after_save(notices, job)
    return job


def enqueue_job(
    storage: Storage, notices: redis.Redis, job: Job, enqueue: Callable[[str], None]
) -> None:
    """Send a queued job's id to the workers; if the broker is down, end the job failed (never
    queued with no message behind it) and raise `BrokerUnavailable`."""
    try:
        enqueue(job.id)
    except BrokerUnavailable as exc:
        job.fail(exc.code, exc.message)
        save_job(storage, job)
        announce(notices, job.to_dict())
        raise


def discard_objects(storage: Storage, job: Job, uploaded: bool) -> None:
    """Remove what a creation that failed half-way stored, if storage lets us."""
    try:
        storage.delete(job_key(job.id))
        if uploaded:
            storage.delete(job.input["key"])
    except StorageUnavailable:
        log.warning("job %s: objects left behind; `kcolors reconcile` will fail the job", job.id)
