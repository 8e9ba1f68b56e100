"""Benchmarks run on one core: every figure and every ratio is single-core, measured in one run."""

from __future__ import annotations

import os
import sys

_PINNED = "_KCOLORS_BENCH_PINNED"


def pin_to_one_core(cpu: int | None, module: str) -> None:
    """Re-execute `python -m module` (with this process's arguments) on one core, with
    single-threaded BLAS and OpenMP; return at once in the re-executed process."""
    if os.environ.get(_PINNED) == "1":
        return
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {allowed[0] if cpu is None else cpu})
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env[_PINNED] = "1"
    os.execve(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]], env)
