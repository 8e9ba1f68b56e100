"""`kcolors web` as an operator starts it: two on one machine do not get in each other's way."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from cli.local import free_port

pytestmark = pytest.mark.e2e


def start_web(home, log, **extra_env):
    """`kcolors web` on a free port, in a clean environment whose home is `home`."""
    port = free_port("127.0.0.1")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KCOLORS_", "XDG_"))}
    env.update(HOME=str(home), PYTHONPATH=os.getcwd(), KCOLORS_STORAGE_URL=f"file://{home}/store")
    env.update(extra_env)
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "web", "--port", str(port), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        assert process.poll() is None and time.monotonic() < deadline, log.name
        time.sleep(0.2)


def test_two_web_servers_on_one_machine_share_no_control_socket(tmp_path):
    """gunicorn's control socket is one path per user: kcolors turns it off, so a second
    `kcolors web` (another folder, another port) neither takes nor breaks the first's."""
    processes = []
    try:
        with (tmp_path / "web.log").open("wb") as log:
            for _ in range(2):
                processes.append(start_web(tmp_path, log))
        assert not (tmp_path / ".gunicorn").exists()
        for _, url in processes:
            assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        for process, _ in processes:
            process.terminate()
            process.wait(30)


def test_a_broker_that_cannot_be_reached_is_named_at_start_up(tmp_path):
    """Nothing listens on the broker's port: `kcolors web` says so before it serves (its
    password masked), serves /healthz, and /readyz answers 503 naming the broker."""
    dead = free_port("127.0.0.1")
    with (tmp_path / "web.log").open("wb") as log:
        process, url = start_web(
            tmp_path, log, KCOLORS_BROKER_URL=f"redis://:s3cret@127.0.0.1:{dead}/0"
        )
        try:
            ready = requests.get(f"{url}/readyz", timeout=10)
            assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
            assert "broker unreachable" in ready.json()["error"]["message"]
        finally:
            process.terminate()
            process.wait(30)
    shown = (tmp_path / "web.log").read_text()
    assert f"kcolors web: the broker at redis://:**@127.0.0.1:{dead}/0 cannot be reached" in shown
    assert "/readyz is 503" in shown and "s3cret" not in shown
