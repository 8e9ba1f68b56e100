"""The container tests' images, and the figures they measure, printed at the end of the run."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.containers.images import REPO, build_all, why_containers_cannot_run

REPORT = REPO / "build" / "containers-report.json"
_figures: dict = {}


@pytest.fixture(scope="session")
def container_images() -> dict[str, float]:
    """Build every image once per run; skip (fail in CI) where containers cannot run."""
    started = time.monotonic()
    reason = why_containers_cannot_run()  # makes the Debian base when missing
    checked = time.monotonic() - started
    if reason:
        message = f"containers cannot run on this machine: {reason}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    seconds = build_all(log=lambda line: None)
    seconds = {"podman check (and Debian base, when missing)": checked, **seconds}
    _figures["build_seconds"] = {name: round(value, 1) for name, value in seconds.items()}
    return seconds


@pytest.fixture
def report() -> dict:
    """Where a container test puts the figures it measured."""
    return _figures


def pytest_terminal_summary(terminalreporter) -> None:
    if not _figures:
        return
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(_figures, indent=2) + "\n")
    terminalreporter.section("container figures")
    terminalreporter.write_line(json.dumps(_figures, indent=2))
    terminalreporter.write_line(f"(also in {REPORT.relative_to(REPO)})")
