"""The docs say what the code does: README's tour runs as written against a fresh `kcolors up`,
and every `KCOLORS_*` variable the docs name exists (and every setting is documented)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cli.http import TOKEN_VARIABLE
from kcolors.jobs.settings import Settings
from tests.fixtures.up import clean_env
from tests.images import chelsea_png

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
DEPLOYMENT = [REPO / "docker-compose.yml", *sorted((REPO / "deploy").rglob("*.y*ml"))]
# Variables of the command-line client, not of the service (cli/http.py).
CLIENT_VARIABLES = {"KCOLORS_SERVER", TOKEN_VARIABLE}
# The tour's placeholders: the README's port, a job id and its ETag, as a reader replaces them.
README_URL = "http://127.0.0.1:8000"
JOB_ID = "01JC6Z..."
ETAG = "<ETag>"


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)


def named_variables(text: str) -> set[str]:
    # `app.config["KCOLORS_SETTINGS"]` is Flask configuration, not a variable.
    return set(re.findall(r"\bKCOLORS_[A-Z0-9_]*[A-Z0-9]\b(?!\"\])", text)) - {"KCOLORS_SETTINGS"}


def setting_variables() -> set[str]:
    return {f"KCOLORS_{name.upper()}" for name in Settings.model_fields}


def test_every_variable_the_docs_name_exists_and_every_setting_is_documented():
    named = {
        path.relative_to(REPO).as_posix(): named_variables(path.read_text())
        for path in DOCS + DEPLOYMENT
    }
    known = setting_variables() | CLIENT_VARIABLES
    unknown = {path: sorted(names - known) for path, names in named.items() if names - known}
    assert unknown == {}, unknown
    readme = named_variables((REPO / "README.md").read_text())
    assert sorted(known - readme) == [], "settings missing from README's configuration table"


@pytest.mark.e2e
@pytest.mark.slow
def test_the_readme_tour_runs_as_written_against_a_fresh_kcolors_up(kcolors_up):
    """Each command of README's tour, run by a shell in the folder of a fresh `kcolors up`,
    with only what a reader replaces replaced: the port, the job id and its ETag."""
    url, _, _, folder = kcolors_up
    (folder / "photo.png").write_bytes(chelsea_png())
    blocks = code_blocks((REPO / "README.md").read_text())
    shell = {**clean_env(), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    shell["PYTHONPATH"] = str(REPO)

    [quantize] = [b for b in blocks if b.startswith("$ kcolors quantize")]
    command = quantize.splitlines()[0].removeprefix("$ ")
    printed = run(command, folder, shell)
    # Its table has the columns the README shows, one row per k, and the files it names.
    headers = quantize.splitlines()[2].split()
    assert printed.splitlines()[1].split() == headers
    rows = [line.split() for line in printed.splitlines()[2:]]
    assert [row[0] for row in rows] == ["4", "16"]
    for row in rows:
        assert (folder / row[-1]).read_bytes().startswith(b"\x89PNG")

    [tour] = [b for b in blocks if b.startswith("curl")]
    job_id = etag = None
    for line in tour.splitlines():
        if not line.startswith("curl"):
            continue
        command = line.replace(README_URL, url)
        if job_id is not None:
            command = command.replace(JOB_ID, job_id).replace(ETAG, etag)
        answer = run(command, folder, shell)
        if job_id is None:  # the submission: `curl -i` shows the status, the ETag, the id
            assert answer.startswith("HTTP/1.1 202"), answer
            job_id = re.search(r'"id": ?"(\w+)"', answer).group(1)
            etag = re.search(r'(?im)^etag: "([^"]+)"', answer).group(1)
        elif "?wait=" in command:  # sent again with each new ETag, as the README says
            for _ in range(20):
                if '"status":"succeeded"' in answer.replace(" ", ""):
                    break
                etag = re.search(r'(?im)^etag: "([^"]+)"', answer).group(1)
                answer = run(re.sub(r'If-None-Match: "[^"]*"', f'If-None-Match: "{etag}"',
                                    command), folder, shell)  # fmt: skip
            assert '"status":"succeeded"' in answer.replace(" ", ""), answer
    assert (folder / "photo-k16.png").read_bytes().startswith(b"\x89PNG")


def run(command: str, folder: Path, env: dict[str, str]) -> str:
    """Run one line of the README as a shell would; return what it printed."""
    result = subprocess.run(
        ["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (shlex.split(command)[0], result.stdout, result.stderr)
    return result.stdout
