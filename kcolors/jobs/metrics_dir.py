"""Where a service process's metrics live, chosen when the process starts (not on import).

prometheus-client picks, once, when it is first imported, whether values live in this process
or in files of a directory shared with other processes (`PROMETHEUS_MULTIPROC_DIR`). A service
command (`kcolors up`, `web`, `worker`) calls `use_a_multiprocess_dir` before it imports
anything that imports prometheus-client; gunicorn's and Celery's children inherit the variable,
so `/metrics` adds up all their values. Any other program that imports kcolors keeps
prometheus-client's single-process mode, and nothing of its environment or its temporary
folder is touched. Standard library only: it runs before the heavy imports.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def use_a_multiprocess_dir() -> str | None:
    """Point prometheus-client at a new directory shared with the processes this one starts
    (removed when this process exits); return it, or None where one is set already or where
    prometheus-client was imported before (too late to choose)."""
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE) or "prometheus_client" in sys.modules:
        return None
    directory = tempfile.mkdtemp(prefix="kcolors-metrics-")
    os.environ[MULTIPROCESS_DIR_VARIABLE] = directory
    owner = os.getpid()

    def remove_directory() -> None:
        if os.getpid() == owner:  # not in a forked child: the directory is the parent's
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove_directory)
    return directory


def multiprocess() -> bool:
    """Whether this process's metrics are added up over processes (a directory is set)."""
    return bool(os.environ.get(MULTIPROCESS_DIR_VARIABLE))
