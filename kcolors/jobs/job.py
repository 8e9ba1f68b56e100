"""The job document: a job's state, stored as JSON beside its outputs; the source of truth."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kcolors.engine.params import QuantizeParams
from kcolors.errors import DocumentUnreadable, InvalidTransition, JobNotFound, ObjectNotFound
from kcolors.jobs.ids import new_job_id, parse_job_id
from kcolors.jobs.status import ALLOWED_TRANSITIONS, JobStatus
from kcolors.jobs.storage import Storage
from kcolors.jobs.times import now_iso

JOBS_PREFIX = "jobs/"
MAX_LIST_SCAN = 2000  # job documents read at most to list one client's recent jobs


@dataclass
class Job:
    """A job's state; its methods move it forward and refuse to move it back."""

    id: str
    params: QuantizeParams
    input: dict[str, Any]
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    created_at: str = field(default_factory=now_iso)
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, str] | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds: engine, storage
    reused: bool = False  # born finished with copies of identical work's outputs
    owner: str | None = None  # the client (a token's hash) that made it, when tokens are set
    stage: str | None = None  # what the worker is doing, in words, while it runs (optional)
    # A batch's job: the client whose backlog it waits in (kcolors.jobs.feeder), so that a job
    # enqueued again (the sweep, reconcile) takes its turn there, not a single job's place.
    batch_client: str | None = None
    # A batch's job: the batch and the index of the item it was made for, counted with the
    # batch's progress as it changes (kcolors.jobs.batch_counts).
    batch: dict[str, Any] | None = None

    @classmethod
    def create(
        cls,
        params: QuantizeParams,
        input_key: str,
        input_info: dict[str, Any],
        owner: str | None = None,
        job_id: str | None = None,
        batch_client: str | None = None,
        batch: dict[str, Any] | None = None,
    ) -> Job:
        """Return a new queued job reading its image from `input_key` (with `job_id`, an id
        made beforehand with `new_job_id`, else a new one)."""
        return cls(
            id=job_id or new_job_id(),
            params=params,
            input={"key": input_key, **input_info},
            owner=owner,
            batch_client=batch_client,
            batch=batch,
        )

    @property
    def expected_outputs(self) -> int:
        """Return how many outputs the job will produce: one per k, one more for a target."""
        return len(self.params.k) + (self.params.target_psnr is not None)

    def _move_to(self, status: JobStatus) -> None:
        if status not in ALLOWED_TRANSITIONS[self.status]:
            raise InvalidTransition(f"job {self.id} cannot go from {self.status} to {status}")
        self.status = status
        if status.is_finished:
            self.stage = None

    def start(self) -> None:
        """Mark the job running (again, when a lost worker's job is redelivered)."""
        self._move_to(JobStatus.RUNNING)
        self.started_at = self.started_at or now_iso()
        self.attempts += 1

    def record_result(self, k: int, stats: dict[str, Any], key: str) -> None:
        """Add (or replace, on a rerun) the result for `k` and advance the progress."""
        self._require(JobStatus.RUNNING)
        entry = {**stats, "k": k, "key": key}
        self.results = sorted([r for r in self.results if r["k"] != k] + [entry], key=_by_k)
        done = min(len(self.results), self.expected_outputs)
        self.progress = max(self.progress, round(done / self.expected_outputs, 4))

    def succeed(self, input_stats: dict[str, Any]) -> None:
        """Mark the job done, with the engine's statistics of its input."""
        self._move_to(JobStatus.SUCCEEDED)
        self.input = {**self.input, **input_stats, "key": self.input["key"]}
        self.progress = 1.0
        self.finished_at = now_iso()

    def reuse_results(self, source: Job) -> list[tuple[str, str]]:
        """Finish a new job at once with the outputs `source` computed from the same input,
        under this job's own keys; return the (source key, own key) pairs to copy. The job
        names no other job: a client never learns another client's job id."""
        self._require(JobStatus.QUEUED)
        self.status = JobStatus.SUCCEEDED  # born finished: it never runs, so never `running`
        self.reused = True
        self.input = {**source.input, **self.input}
        copies, self.results = [], []
        if "preview_key" in source.input:  # the browser preview of a HEIC, TIFF or BMP input
            copies.append((source.input["preview_key"], preview_key(self.id)))
            self.input["preview_key"] = preview_key(self.id)
        for result in source.results:
            key = result_key(self.id, result["k"], result["key"].rsplit(".", 1)[-1])
            copies.append((result["key"], key))
            self.results.append({**result, "key": key})
        self.progress = 1.0
        self.started_at = self.finished_at = now_iso()
        return copies

    def cancel(self) -> None:
        """End the job at its client's request, keeping the outputs made so far."""
        self._move_to(JobStatus.CANCELLED)
        self.finished_at = now_iso()

    def fail(self, code: str, message: str) -> None:
        """Mark the job failed with a stable code and a plain message."""
        self._move_to(JobStatus.FAILED)
        self.error = {"code": code, "message": message}
        self.finished_at = now_iso()

    def _require(self, status: JobStatus) -> None:
        if self.status is not status:
            raise InvalidTransition(f"job {self.id} is {self.status.value}, not {status.value}")

    def to_dict(self) -> dict[str, Any]:
        """Return the job document as JSON-ready data."""
        return {
            "id": self.id,
            "status": self.status.value,
            "progress": self.progress,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "attempts": self.attempts,
            "params": self.params.to_dict(),
            "input": self.input,
            "results": self.results,
            "error": self.error,
            "timings": self.timings,
            "reused": self.reused,
            "owner": self.owner,
        } | {
            name: value
            for name, value in (
                ("stage", self.stage),
                ("batch_client", self.batch_client),
                ("batch", self.batch),
            )
            if value is not None
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """Rebuild a job from its stored document."""
        return cls(
            id=data["id"],
            params=QuantizeParams.from_dict(data["params"]),
            input=data["input"],
            status=JobStatus(data["status"]),
            progress=data["progress"],
            created_at=data["created_at"],
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            attempts=data.get("attempts", 0),
            results=data["results"],
            error=data["error"],
            timings=data.get("timings", {}),
            reused=bool(data.get("reused") or data.get("reused_from")),
            owner=data.get("owner"),
            stage=data.get("stage"),
            batch_client=data.get("batch_client"),
            batch=data.get("batch"),
        )


def _by_k(result: dict[str, Any]) -> int:
    return result["k"]


def job_key(job_id: str) -> str:
    """Return the key of a job's document."""
    return f"{JOBS_PREFIX}{job_id}/job.json"


def input_key(job_id: str, extension: str) -> str:
    """Return the key of a job's uploaded input."""
    return f"{JOBS_PREFIX}{job_id}/input.{extension}"


def preview_key(job_id: str) -> str:
    """Where the browser preview of an input no browser shows is stored."""
    return f"{JOBS_PREFIX}{job_id}/preview.webp"


def result_key(job_id: str, k: int, extension: str) -> str:
    """Return the deterministic key of a job's output for `k`, the same on every rerun."""
    return f"{JOBS_PREFIX}{job_id}/k{k}.{extension}"


def download_stem(document: dict[str, Any]) -> str:
    """The stem a job's downloads are named with: the upload's name, `photo` for `photo.jpg`
    (as `kcolors quantize` names its files), so that ten photos' downloads never collide; for a
    job without a name, its source object's, else `kcolors-<id>`.

    Letters (any script), digits, `.`, `_` and `-` are kept, runs of anything else become one
    `_`: no path separator, quote or control character reaches a `Content-Disposition`."""
    source = document.get("input") or {}
    key = source.get("key") or ""
    # A key of our own (`jobs/<id>/input.png`) names nothing the client chose.
    name = source.get("name") or ("" if key.startswith(JOBS_PREFIX) else key.rsplit("/", 1)[-1])
    stem = re.sub(r"[^\w.-]+", "_", name.rsplit(".", 1)[0] if "." in name else name)
    return stem.strip("._")[:100] or f"kcolors-{document['id']}"


def result_filename(document: dict[str, Any], k: int, result_key: str) -> str:
    """The name a downloaded output is saved under, `photo.k16.png`, in a `Content-Disposition`
    and in the zip of all outputs alike."""
    return f"{download_stem(document)}.k{k}.{result_key.rsplit('.', 1)[-1]}"


def save_job(storage: Storage, job: Job) -> None:
    """Write the job document to storage."""
    body = json.dumps(job.to_dict(), indent=2, sort_keys=True).encode()
    storage.put(job_key(job.id), body, "application/json")


def load_job(storage: Storage, job_id: str) -> Job:
    """Read a job document, or raise `JobNotFound`."""
    try:
        data = storage.get(job_key(parse_job_id(job_id)))
    except ObjectNotFound:
        raise JobNotFound(f"no job {job_id!r}") from None
    try:
        return Job.from_dict(json.loads(data))
    except (ValueError, KeyError, TypeError) as exc:
        raise DocumentUnreadable(
            f"job {job_id}: its stored document is unreadable ({exc})"
        ) from exc


def list_jobs(storage: Storage, limit: int, owner: str | None = None) -> list[Job]:
    """Return the `limit` most recent jobs (of `owner` only, if given), newest first: ULIDs
    sort by creation time. An owner's are looked for among the `MAX_LIST_SCAN` newest jobs."""
    keys = [key for key in storage.list(JOBS_PREFIX) if key.endswith("/job.json")]
    jobs: list[Job] = []
    for key in sorted(keys, reverse=True)[: limit if owner is None else MAX_LIST_SCAN]:
        try:
            job = load_job(storage, key.split("/")[1])
        except JobNotFound:  # deleted between the listing and the read
            continue
        if owner is None or job.owner == owner:
            jobs.append(job)
        if len(jobs) == limit:
            break
    return jobs


@dataclass(frozen=True)
class JobPage:
    """One page of a listing, newest first, and the cursors of the pages beside it."""

    jobs: list[Job]
    older: str | None  # list `before=` this id for the next, older page (None: no more)
    newer: str | None  # list `after=` this id for the previous, newer page (None: no more)


def find_jobs(
    storage: Storage,
    limit: int,
    *,
    owner: str | None = None,
    status: JobStatus | None = None,
    before: str | None = None,
    after: str | None = None,
) -> JobPage:
    """Return up to `limit` jobs, newest first: those created before the job id `before`, or
    the `limit` just after `after` (the page above); of `owner` and in `status` only, if given.

    Job ids are ULIDs, which sort by creation time, so an id is a stable cursor whatever is
    created or deleted meanwhile. Filtering reads documents: one request reads at most
    `MAX_LIST_SCAN`, and then its cursor goes on from the last one read.
    """
    ids = sorted(
        key.split("/")[1]
        for key in storage.list(JOBS_PREFIX)
        if key.endswith("/job.json") and key.count("/") == 2
    )
    upwards = after is not None
    if after is not None:  # oldest first from the cursor up, then turned round
        candidates = [job_id for job_id in ids if job_id > after]
    else:
        candidates = [job_id for job_id in reversed(ids) if before is None or job_id < before]
    found: list[Job] = []
    last_read, cut_short = None, False
    for read, job_id in enumerate(candidates):
        if read == MAX_LIST_SCAN:
            cut_short = True
            break
        last_read = job_id
        try:
            job = load_job(storage, job_id)
        except JobNotFound:  # deleted between the listing and the read
            continue
        if (owner is None or job.owner == owner) and (status is None or job.status is status):
            found.append(job)
            if len(found) > limit:  # one more than shown: there is a page beyond
                break
    jobs = found[:limit]
    beyond = jobs[-1].id if len(found) > limit else (last_read if cut_short else None)
    if upwards:
        jobs.reverse()
        return JobPage(jobs, older=jobs[-1].id if jobs else None, newer=beyond)
    back = jobs[0].id if before is not None and jobs else None
    return JobPage(jobs, older=beyond, newer=back)
