"""Log configuration shared by web and worker: JSON lines that carry the current job's id."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

CURRENT_JOB_ID: ContextVar[str | None] = ContextVar("kcolors_job_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(job_id)s] %(message)s"
JSON_FIELDS = ("levelname", "name", "message", "job_id")


class JobIdFilter(logging.Filter):
    """Give every record the id of the job being handled (None outside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None) is None:
            record.job_id = CURRENT_JOB_ID.get()
        return True


@contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Tag every log record written inside the block with `job_id`."""
    token = CURRENT_JOB_ID.set(job_id)
    try:
        yield
    finally:
        CURRENT_JOB_ID.reset(token)


def configure_logging(level: str = "INFO", log_format: str = "json") -> None:
    """Send the root logger's records to stderr, one JSON object (or text line) each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(JobIdFilter())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level"}, timestamp="time")
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
