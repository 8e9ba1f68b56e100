"""What the commands run in one folder share: the embedded broker of the `kcolors up` running
there, and free ports. `kcolors up` writes them; `worker`, `status --queue` and `reconcile`
read them."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

# Queued jobs survive a restart of `kcolors up`: the embedded broker keeps them here.
BROKER_DATA_DIR = ".kcolors-broker"
# Held (flock) by the `kcolors up` running in this folder: a second one says so and stops.
LOCK_FILE = "up.lock"
# Where the running `kcolors up` writes its embedded broker's URL, for the other commands
# (`kcolors status --queue`, `kcolors reconcile`, `kcolors worker`) run in the same folder.
BROKER_URL_FILE = "broker-url"
# What the web server, the worker and the broker of `kcolors up` print (Celery's banner, access
# lines, ...): kept here, so that the terminal shows the few lines that matter.
SERVICE_LOG_FILE = "service.log"


def free_port(host: str) -> int:
    """Return a port that is free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def local_broker_url(folder: Path | None = None) -> str | None:
    """The URL of the embedded broker of a `kcolors up` running in `folder` (the current one)."""
    path = (folder or Path.cwd()) / BROKER_DATA_DIR / BROKER_URL_FILE
    with contextlib.suppress(OSError):
        return path.read_text().strip() or None
    return None


def use_local_broker() -> str | None:
    """With KCOLORS_BROKER_URL unset, point this process at the broker of the `kcolors up`
    running in this folder (if any), as if the variable were set; return the URL in use."""
    if not os.environ.get("KCOLORS_BROKER_URL"):
        found = local_broker_url()
        if found:
            os.environ["KCOLORS_BROKER_URL"] = found
    return os.environ.get("KCOLORS_BROKER_URL") or None
