"""uv.lock as the tests read it: which versions it pins, and the uv that reads it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "uv.lock"
# The uv the dev set installs: the lock's own version (pyproject.toml's dev extra).
UV = Path(sys.executable).parent / "uv"


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (Pillow, pillow and PIL_low alike)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path = LOCK) -> dict[str, set[str]]:
    """name -> the versions uv.lock pins for it (more than one where Python versions fork)."""
    versions: dict[str, set[str]] = {}
    for package in tomllib.loads(lock.read_text())["package"]:
        versions.setdefault(canonical(package["name"]), set()).add(package["version"])
    return versions


def runtime_requirements() -> list[str]:
    """The runtime set as every install takes it: `uv export` of the lock, hashes included."""
    result = subprocess.run(
        [str(UV), "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header", "--quiet"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.splitlines()
