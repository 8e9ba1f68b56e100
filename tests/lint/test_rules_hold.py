"""`make lint` keeps the layout's rules: an import against the layers, or a wrong argument in
the domain package, fails it. Checked on a copy of the tree with one such mistake added."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and of pyproject.toml, to break on purpose."""
    for package in ("kcolors", "web", "worker", "cli"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def run(tool: str, tree: Path) -> subprocess.CompletedProcess[str]:
    """Run a lint tool in the copy, importing the copy's packages."""
    env = {"PATH": str(BIN), "PYTHONPATH": str(tree), "HOME": str(tree)}
    return subprocess.run(
        [str(BIN / tool)], cwd=tree, env=env, capture_output=True, text=True, timeout=300
    )


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_layers_hold_on_the_tree_as_it_is(tree):
    result = run("lint-imports", tree)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("web/documents.py", "import worker.tasks  # noqa", "never imports worker/"),
        ("worker/sweep.py", "import web.urls  # noqa", "Layers"),
        ("kcolors/jobs/job.py", "import web.urls  # noqa", "Layers"),
        ("kcolors/engine/quantize.py", "import kcolors.jobs.storage  # noqa", "Layers"),
        ("kcolors/engine/decode.py", "import boto3  # noqa", "no service libraries"),
        ("kcolors/jobs/runner.py", "import celery  # noqa", "without Celery or Flask"),
    ],
)
def test_an_import_against_the_layers_fails_lint(tree, module, line, broken):
    add_line(tree / module, line)
    result = run("lint-imports", tree)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout and broken in result.stdout


def test_a_wrong_argument_in_the_domain_package_fails_mypy(tree):
    assert run("mypy", tree).returncode == 0
    add_line(
        tree / "kcolors/engine/quantize.py",
        "def _mistake() -> None:\n    quantize_image(b'', k=16)",
    )
    result = run("mypy", tree)
    assert result.returncode != 0 and "quantize.py" in result.stdout, result.stdout
