"""deploy/Dockerfile, read: its steps replayed on the files it copies. tests/containers builds
and runs it for real where podman can start containers."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tests.deploy.manifests import DOCKERFILE, REPO, check_kcolors_command
from tests.lock import UV, runtime_requirements

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    """(instruction, value) pairs of the Dockerfile, comments dropped."""
    parser = DockerfileParser(str(DOCKERFILE))
    return [
        (i["instruction"], i["value"]) for i in parser.structure if i["instruction"] != "COMMENT"
    ]


def copied_sources(instructions: list[tuple[str, str]]) -> list[str]:
    """The build-context paths the COPY instructions take, in order (not those from a stage)."""
    return [
        value.split()[0]
        for name, value in instructions
        if name == "COPY" and not value.startswith("--from")
    ]


def test_base_is_a_slim_python_matching_requires_python(instructions):
    name, argument = instructions[0]
    assert name == "ARG" and argument.startswith("BASE=")
    image = argument.removeprefix("BASE=")
    assert image.startswith("python:") and image.endswith("-slim")
    version = image.removeprefix("python:").removesuffix("-slim")
    assert PYPROJECT["project"]["requires-python"] == f">={version}"
    stages = [value for name, value in instructions if name == "FROM"]
    assert stages[-1] == "${BASE}" and "${BASE} AS build" in stages


def test_dependencies_have_their_own_layer_before_the_code(instructions):
    names = [name for name, _ in instructions]
    first_copy = names.index("COPY")
    assert instructions[first_copy][1] == "pyproject.toml uv.lock scripts/locked.py ./"
    dependency_step = instructions[first_copy + 1]
    assert dependency_step[0] == "RUN" and "-r requirements.txt" in dependency_step[1]
    code_copies = [i for i, (name, _) in enumerate(instructions) if name == "COPY"][1:]
    assert code_copies and min(code_copies) > first_copy + 1


def dependency_commands(instructions) -> list[list[str]]:
    """The dependency step's commands, split at `&&`, with the build arguments' `${...}` left
    out (the offline flags)."""
    run = next(value for name, value in instructions if name == "RUN" and "uv export" in value)
    run = re.sub(r"\$\{[^}]*\}", "", run.split(None, 1)[1] if run.startswith("--") else run)
    return [shlex.split(part) for part in run.split("&&")]


def test_dependency_step_installs_the_locked_runtime_set_with_hashes(instructions, tmp_path):
    """Replayed here on the files it copies: the pins it gives pip are the lock's runtime set
    (`uv export`, as tests/lock.py takes it) and the lock's setuptools, all hash-checked."""
    commands = dependency_commands(instructions)
    pins, install_uv, export, append, install, _ = commands
    assert pins[:2] == ["python3", "locked.py"] and "--require-hashes" in install_uv
    assert "--require-hashes" in install and "--no-deps" in install
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(REPO / name, tmp_path)
    shutil.copy(REPO / "scripts" / "locked.py", tmp_path)
    pinned = subprocess.run(
        [sys.executable, *pins[1:pins.index(">")]], cwd=tmp_path, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    assert [line.split("==")[0] for line in pinned.splitlines()] == ["uv", "setuptools"]
    assert export[0] == "/tmp/uv/bin/uv" and export[1] == "export" and "--frozen" in export
    assert "--no-dev" in export and "--no-emit-project" in export
    subprocess.run([str(UV), *export[1:]], cwd=tmp_path, capture_output=True, check=True)
    assert (tmp_path / "requirements.txt").read_text().splitlines() == runtime_requirements()
    assert append[:2] == ["grep", "^setuptools=="] and append[-2:] == [">>", "requirements.txt"]


def test_the_copied_files_install_and_run(instructions, tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    for source in copied_sources(instructions):
        assert (REPO / source).exists(), source
        copy = shutil.copytree if (REPO / source).is_dir() else shutil.copy
        copy(REPO / source, context / source)
    packages = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {p.rstrip("*") for p in packages} <= set(copied_sources(instructions))
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",  # as the image builds it, with the lock's setuptools
            "--target",
            str(target),
            str(context),
        ],
        check=True,
        capture_output=True,
    )
    # Run the installed copy from the image's point of view: the repository is not on the path.
    probe = "import cli, json, sys; from cli.main import main; print(json.dumps(cli.__file__))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(json.loads(result.stdout)).is_relative_to(target)


def test_runs_as_a_numeric_non_root_user(instructions):
    names = [name for name, _ in instructions]
    user_index = len(names) - 1 - names[::-1].index("USER")
    assert int(instructions[user_index][1]) > 0
    assert "RUN" not in names[user_index:]


def test_default_command_is_the_web_server(instructions):
    command = json.loads(next(value for name, value in instructions if name == "CMD"))
    check_kcolors_command(command)


def test_build_context_leaves_out_the_bulky_and_private_parts():
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)
