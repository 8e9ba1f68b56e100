"""`kcolors up`: the whole service in one command (broker, worker, web server)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click
import requests

from cli.local import BROKER_DATA_DIR, BROKER_URL_FILE, LOCK_FILE, SERVICE_LOG_FILE, free_port

STARTUP_TIMEOUT_SECONDS = 60
SHUTDOWN_TIMEOUT_SECONDS = 30


def check_port_free(host: str, port: int) -> None:
    """Refuse a taken port before anything starts, suggesting --port."""
    if port == 0:
        return
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"{host}:{port} is taken ({exc.strerror}): is kcolors (or another server) "
                f"running there already? Choose another port, e.g. --port {port + 1} "
                f"(make run PORT={port + 1})"
            ) from None


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold this folder's lock while `kcolors up` runs; a second one exits at once, having
    touched nothing of the first's."""
    lock_path = folder / LOCK_FILE
    folder.mkdir(exist_ok=True)
    with lock_path.open("a+") as lock:
        refuse_if_locked(lock)
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            (folder / BROKER_URL_FILE).unlink(missing_ok=True)
            lock.truncate(0)  # no pid left behind once stopped


def refuse_if_locked(lock: IO[str]) -> None:
    """Take the lock, or stop: another `kcolors up` holds it (named by its pid)."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        pid = lock.read().strip() or "?"
        raise click.ClickException(
            f"kcolors up is running in this folder already (pid {pid}): stop it, or run this "
            "one from another folder"
        ) from None


def check_folder_free(folder: Path) -> None:
    """Before anything else: stop if a `kcolors up` runs in this folder (creating nothing)."""
    lock_path = folder / LOCK_FILE
    if lock_path.exists():
        with lock_path.open("r") as lock:
            refuse_if_locked(lock)  # released when closed: the real lock is taken later


def start(command: list[str], env: dict[str, str], **options: object) -> subprocess.Popen:
    """Start a child in its own session, so Ctrl-C reaches only us and we stop it in order."""
    return subprocess.Popen(command, env=env, start_new_session=True, **options)


def log_tail(log_path: Path, lines: int = 15) -> str:
    """The last lines of the service log, to show with a failure (the reason is in them)."""
    try:
        shown = log_path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join(["", f"last lines of {log_path}:", *shown])


def wait_until_ready(url: str, children: list[subprocess.Popen], log_path: Path) -> None:
    """Wait until the web server answers `/readyz`, or a child dies."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise click.ClickException(
                "a service process exited during startup" + log_tail(log_path)
            )
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise click.ClickException(f"the web server did not become ready at {url}")


def stop(children: list[subprocess.Popen]) -> None:
    """Ask each child to finish (SIGTERM: warm shutdown), then kill what lingers."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT_SECONDS
    for child in children:
        try:
            child.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address of the web server")
@click.option("--port", type=int, help="port of the web server [default: 8000; 0: any free]")
@click.option("--workers", default=1, show_default=True, type=int, help="worker processes")
def up(host: str, port: int | None, workers: int) -> None:
    """Run web server, worker and (unless KCOLORS_BROKER_URL is set) an embedded Valkey."""
    # Imported here: `kcolors quantize` must start without the service's libraries.
    from kcolors import defaults
    from kcolors.jobs.settings import Settings
    from kcolors.jobs.storage import open_storage

    settings = Settings.from_env()
    port = defaults.WEB_PORT if port is None else port
    check_folder_free(Path(BROKER_DATA_DIR))  # first: its message is the one that helps
    check_port_free(host, port)
    if not os.environ.get("KCOLORS_STORAGE_URL"):
        settings = settings.replace(storage_url=defaults.STORAGE_URL)
    with contextlib.ExitStack() as stack:
        stack.enter_context(folder_lock(Path(BROKER_DATA_DIR)))
        open_storage(settings).check()
        log_path = Path(BROKER_DATA_DIR) / SERVICE_LOG_FILE
        log = stack.enter_context(log_path.open("w"))  # this run's only
        embedded = not settings.broker_url
        if embedded:
            broker = start([sys.executable, "-m", "cli.broker", BROKER_DATA_DIR], os.environ.copy(),
                           stdout=subprocess.PIPE, stderr=log, text=True)  # fmt: skip
            stack.callback(stop, [broker])  # last: the worker needs it to shut down cleanly
            settings = settings.replace(broker_url=broker.stdout.readline().strip())
            if not settings.broker_url:
                raise click.ClickException("the embedded Valkey server did not start")
            (Path(BROKER_DATA_DIR) / BROKER_URL_FILE).write_text(settings.broker_url + "\n")
        port = port or free_port(host)
        env = {**os.environ, **settings.to_env()}
        python = sys.executable
        quiet = {"stdout": log, "stderr": subprocess.STDOUT}
        children = [
            start([python, "-m", "cli.main", "worker", f"--concurrency={workers}"], env, **quiet),
            start([python, "-m", "cli.main", "web", "--host", host, "--port", str(port)], env,
                  **quiet),
        ]  # fmt: skip
        stack.callback(stop, children)
        url = f"http://{host}:{port}"
        wait_until_ready(url, children, log_path)
        click.echo(ready_message(url, settings.storage_url, embedded, log_path))
        wait_for_interrupt(children, log_path)
    click.echo("kcolors stopped")


def ready_message(url: str, storage_url: str, embedded: bool, log_path: Path) -> str:
    """The lines a newcomer needs, last on the terminal: where it runs, where the data lives,
    where the logs are, how to stop."""
    data = storage_url.removeprefix("file://")
    broker = (
        f"embedded Valkey, queue kept in {BROKER_DATA_DIR}" if embedded else "KCOLORS_BROKER_URL"
    )
    return "\n".join([
        f"kcolors is running at {url}",
        f"  data:   {data}  (uploads, outputs and job documents)",
        f"  broker: {broker}",
        f"  logs:   {log_path}  (web, worker and broker)",
        "  stop:   Ctrl-C",
    ])  # fmt: skip


def wait_for_interrupt(children: list[subprocess.Popen], log_path: Path) -> None:
    """Return on Ctrl-C or SIGTERM, or when a child exits on its own."""
    stopping = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not stopping:
        raise click.ClickException(
            "a service process exited; stopping the others" + log_tail(log_path)
        )
