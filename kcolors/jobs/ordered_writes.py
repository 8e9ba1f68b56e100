"""Storage writes made on a background thread, in order, while the engine makes the next output.

A job's writes must land in the order they were asked for (an output before the document that
names it), and once one fails, none after it may run: a document must never name an object
whose write failed. One thread, first in first out, gives both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class OrderedWrites:
    """Runs writes one at a time in submission order; the first failure stops the rest."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kcolors-writes")
        self._pending: list[Future[None]] = []
        self._failure: BaseException | None = None
        self._lock = threading.Lock()
        self._waiting = 0  # submitted, not started
        self.seconds = 0.0  # spent in the writes themselves, overlapped or not

    def submit(self, write: Callable[[], None]) -> None:
        """Queue `write`; raise at once the failure of an earlier write, if there was one."""
        self.raise_failure()
        with self._lock:
            self._waiting += 1
        self._pending.append(self._pool.submit(self._run, write))

    def more_waiting(self) -> bool:
        """Tell whether writes submitted after the running one wait their turn."""
        with self._lock:
            return self._waiting > 0

    def _run(self, write: Callable[[], None]) -> None:
        with self._lock:
            self._waiting -= 1
        if self._failure is not None:
            return  # an earlier write failed: what follows it must not land
        started = time.perf_counter()
        try:
            write()
        except BaseException as exc:
            self._failure = exc
            raise
        finally:
            with self._lock:
                self.seconds += time.perf_counter() - started

    def raise_failure(self) -> None:
        """Raise the exception of the first write that failed so far, if any."""
        if self._failure is not None:
            raise self._failure

    def wait(self) -> None:
        """Block until every queued write has run; raise the first failure."""
        for future in self._pending:
            future.exception()  # wait, without raising out of order
        self._pending.clear()
        self.raise_failure()

    def close(self) -> None:
        """Let the queued writes finish (or be skipped after a failure) and stop the thread."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> OrderedWrites:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
