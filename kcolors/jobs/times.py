"""Times as job and batch documents store them: ISO 8601 UTC with milliseconds and a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    """Return the current UTC time as ISO 8601 with milliseconds and a `Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Read a time as the documents store it (`2026-12-07T01:35:04.315Z`), timezone-aware."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
