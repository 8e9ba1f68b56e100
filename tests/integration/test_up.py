"""`kcolors up` as a subprocess, driven with `kcolors submit --wait` and `kcolors status`."""

import os
import re
import signal
import subprocess

import psutil
import pytest
import requests

from tests.fixtures.up import KCOLORS, clean_env
from tests.images import gradient_png

pytestmark = pytest.mark.e2e


def run_client(*args, cwd):
    return subprocess.run(
        [*KCOLORS, *args],
        cwd=cwd,
        env={**clean_env(), "PYTHONPATH": os.getcwd()},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_up_serves_jobs_and_stops_cleanly_on_ctrl_c(kcolors_up):
    url, process, log_path, directory = kcolors_up
    picture = directory / "cat.png"
    picture.write_bytes(gradient_png(40, 30))
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) >= 4  # the embedded Valkey, the worker(s) and the web server

    result = run_client("submit", str(picture), "-k", "2,3", "-k", "8", "--server", url, "--wait",
                        cwd=directory)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    job_id = re.search(r"job (\w{26}): queued", result.stdout).group(1)
    assert "succeeded (100%)" in result.stdout
    for k in (2, 3, 8):
        assert re.search(rf"^\s*{k}\s+[\d,]+", result.stdout, re.MULTILINE), result.stdout
        # Stored under ./kcolors-data, the default local storage of `up`.
        assert (directory / "kcolors-data" / "jobs" / job_id / f"k{k}.png").is_file()

    status = run_client("status", job_id, "--server", url, cwd=directory)
    assert status.returncode == 0 and f"job {job_id}: succeeded" in status.stdout

    # The terminal shows a few lines, the URL, data, logs and how to stop last; Celery's banner
    # and gunicorn's lines are in the service log.
    shown = log_path.read_text().splitlines()
    assert shown[-5:] == [
        f"kcolors is running at {url}",
        "  data:   ./kcolors-data  (uploads, outputs and job documents)",
        "  broker: embedded Valkey, queue kept in .kcolors-broker",
        "  logs:   .kcolors-broker/service.log  (web, worker and broker)",
        "  stop:   Ctrl-C",
    ]
    assert len(shown) <= 8, shown
    service_log = (directory / ".kcolors-broker" / "service.log").read_text()
    assert "celery@" in service_log or "[tasks]" in service_log
    assert "Booting worker" in service_log or "Listening at" in service_log

    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    assert process.wait(timeout=60) == 0, log_path.read_text()
    assert "kcolors stopped" in log_path.read_text()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left running: {alive}"


def test_status_of_unknown_job_and_unreachable_server(tmp_path):
    result = run_client("status", "01HZZZZZZZZZZZZZZZZZZZZZZZ", "--server", "http://127.0.0.1:9",
                        cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1 and "cannot reach" in result.stderr


def test_the_form_works_whichever_web_process_answers(kcolors_up):
    """`kcolors web` runs several gunicorn processes; all must accept each other's CSRF tokens."""
    url, _, _, _ = kcolors_up
    browser = requests.Session()
    browser.headers["Connection"] = "close"  # a new connection, so any process may answer
    for _ in range(12):
        form = browser.get(url + "/", timeout=30).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        response = browser.post(
            url + "/",
            data={"csrf_token": token, "k_choice": "2,4,8,16", "space": "rgb", "format": "png"},
            files={"image": ("cat.png", gradient_png(40, 30), "image/png")},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 303, response.text


def folder_state(folder) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time, but the append-only
    files the first instance's own Valkey keeps writing."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file() and "appendonly" not in path.name
    }


def test_a_second_up_in_the_same_folder_says_so_and_touches_nothing(kcolors_up):
    url, process, _, folder = kcolors_up
    before = folder_state(folder / ".kcolors-broker")
    port = url.rsplit(":", 1)[1]
    for args in (["--port", "0"], ["--port", port]):  # the folder is named first, port or not
        second = run_client("up", *args, cwd=folder)
        assert second.returncode == 1
        assert "kcolors up is running in this folder already" in second.stderr
        assert str(process.pid) in second.stderr and "is taken" not in second.stderr
    assert folder_state(folder / ".kcolors-broker") == before  # not a byte of the first's
    assert (folder / ".kcolors-broker" / "up.lock").read_text() == str(process.pid)
    assert requests.get(f"{url}/readyz", timeout=10).status_code == 200


def test_a_taken_port_is_refused_before_anything_starts(kcolors_up, tmp_path_factory):
    url, _, _, _ = kcolors_up
    port = url.rsplit(":", 1)[1]
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    second = run_client("up", "--port", port, cwd=elsewhere)
    assert second.returncode == 1
    assert f"127.0.0.1:{port} is taken" in second.stderr and "--port" in second.stderr
    assert list(elsewhere.iterdir()) == []  # nothing started, nothing written
    assert "kcolors is running" not in second.stdout


def test_the_other_commands_find_the_embedded_broker_in_its_folder(kcolors_up):
    _, _, _, folder = kcolors_up
    queue = run_client("status", "--queue", cwd=folder)
    assert queue.returncode == 0, queue.stderr
    assert "queue kcolors: 0 waiting" in queue.stdout and "workers answering: 1" in queue.stdout
    dry = run_client("reconcile", "--dry-run", cwd=folder)
    assert dry.returncode == 0, dry.stderr
    assert "would enqueue 0 again" in dry.stdout


def test_a_configuration_error_is_one_line_and_exit_status_2(tmp_path):
    result = subprocess.run(
        [*KCOLORS, "web", "--port", "0"],
        cwd=tmp_path,
        env={**clean_env(), "PYTHONPATH": os.getcwd(), "KCOLORS_VISIBILITY_TIMEOUT": "100"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kcolors: configuration error: KCOLORS_VISIBILITY_TIMEOUT=100 must be more than "
        "KCOLORS_HARD_TIME_LIMIT=360, or Redis would hand a running job to a second worker"
    ]
