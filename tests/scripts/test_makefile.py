"""The Makefile's two front-door commands: `make run` installs only what the service runs;
`make test` installs the test tools too; both install exactly the lock (uv sync --locked)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def planned(target: str, tmp_path: Path) -> str:
    """The commands `make` would run for `target` from a fresh venv (dry run: nothing runs)."""
    result = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout


def test_make_run_installs_the_service_only_then_starts_it(tmp_path):
    commands = planned("run", tmp_path)
    [sync] = [line for line in commands.splitlines() if " sync " in line]
    assert "uv sync --locked" in sync and "--extra" not in sync and "kcolors up" in commands
    for test_only in ("install-system-deps", "npm", "dev", "chromium", "pngquant"):
        assert test_only not in commands, test_only


def test_make_test_installs_the_test_tools_and_lints_first(tmp_path):
    commands = planned("test", tmp_path)
    assert "install-system-deps.sh" in commands and "npm ci" in commands
    assert "uv sync --locked --quiet --extra dev" in commands
    assert commands.index("lint-imports") < commands.index("-m pytest")


def test_uv_itself_is_installed_from_the_lock_with_its_hashes(tmp_path):
    """Where no uv is there yet (a fresh clone), the first step installs the lock's uv."""
    result = subprocess.run(
        ["make", "-n", "-B", "build/uv/bin/uv", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "scripts/locked.py uv" in result.stdout
    assert "--require-hashes" in result.stdout


def test_make_lock_and_upgrade_rewrite_the_lock(tmp_path):
    assert "uv lock\n" in planned("lock", tmp_path)
    assert "uv lock --upgrade" in planned("upgrade", tmp_path)
