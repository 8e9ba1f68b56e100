"""The lock is what runs: uv.lock agrees with pyproject.toml, this venv holds exactly its
versions, and re-locking after a change of range rewrites the lock and nothing else."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.lock import LOCK, REPO, UV, canonical, locked_versions

# What `uv lock` reads: the project's metadata (README.md is its readme) and the lock.
PROJECT_FILES = ("pyproject.toml", "uv.lock", "README.md")


def uv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(UV), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in PROJECT_FILES:
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def bump(project: Path, old: str, new: str) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert old in text
    pyproject.write_text(text.replace(old, new))


def test_the_lock_is_current_with_pyproject():
    result = uv("lock", "--check", "--offline", cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_a_range_changed_without_relocking_fails_the_check(project):
    """Online, as CI runs it: uv resolves the new range (offline, with nothing cached, it could
    not, and would fail for that reason instead)."""
    before = (project / "uv.lock").read_bytes()
    bump(project, '"tqdm>=4.66"', '"tqdm>=4.67"')
    result = uv("lock", "--check", cwd=project)
    assert result.returncode != 0 and "needs to be updated" in result.stderr, result.stderr
    # and so does the install every make target runs
    result = uv("sync", "--locked", "--dry-run", cwd=project)
    assert result.returncode != 0 and "needs to be updated" in result.stderr, result.stderr
    assert (project / "uv.lock").read_bytes() == before  # a check never rewrites the lock


def test_relocking_after_a_bump_changes_only_the_lock_and_keeps_every_pin(project):
    """`make lock` (uv lock) after a range that the pinned version still meets: the lock records
    the new range, no pinned version moves, and no other file is touched."""
    before = {name: (project / name).read_bytes() for name in PROJECT_FILES}
    bump(project, '"tqdm>=4.66"', '"tqdm>=4.67"')
    bumped = (project / "pyproject.toml").read_bytes()
    result = uv("lock", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "pyproject.toml").read_bytes() == bumped
    assert (project / "README.md").read_bytes() == before["README.md"]
    assert (project / "uv.lock").read_bytes() != before["uv.lock"]
    assert locked_versions(project / "uv.lock") == locked_versions(LOCK)
    assert uv("lock", "--check", "--offline", cwd=project).returncode == 0


def test_every_file_the_lock_pins_has_a_hash():
    for package in tomllib.loads(LOCK.read_text())["package"]:
        if package["source"].get("registry") is None:
            continue  # the project itself
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        assert files and all(f["hash"].startswith("sha256:") for f in files), package["name"]


def test_this_venv_holds_exactly_the_locked_versions():
    """`make setup` (uv sync --locked --extra dev) put here what the lock pins, and only that."""
    locked = locked_versions()
    installed = {
        canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
    }
    assert {"celery", "kombu", "redis", "numpy", "pillow", "pytest"} <= set(installed)
    off_lock = {
        name: version
        for name, version in installed.items()
        if version not in locked.get(name, set())
    }
    assert off_lock == {}, off_lock


def test_the_build_backend_pin_is_the_locks_setuptools():
    """uv builds the project with `build-constraint-dependencies`, the image with the lock's
    setuptools: the two are one version."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    [constraint] = pyproject["tool"]["uv"]["build-constraint-dependencies"]
    assert constraint == "setuptools==" + "".join(locked_versions()["setuptools"])
