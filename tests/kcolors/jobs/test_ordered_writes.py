"""The background writes of a job: in order, and none after a failure."""

import threading

import pytest

from kcolors.errors import StorageUnavailable
from kcolors.jobs.ordered_writes import OrderedWrites


def test_writes_run_in_order_on_one_other_thread():
    done, threads = [], set()

    def write(n):
        threads.add(threading.get_ident())
        done.append(n)

    with OrderedWrites() as writes:
        for n in range(50):
            writes.submit(lambda n=n: write(n))
        writes.wait()
    assert done == list(range(50))
    assert threads and threading.get_ident() not in threads and len(threads) == 1
    assert writes.seconds > 0  # the time the writes took is counted


def test_a_failed_write_stops_every_later_one_and_is_raised():
    done, release = [], threading.Event()

    def fail():
        release.wait(5)
        raise StorageUnavailable("connection refused")

    with OrderedWrites() as writes:
        writes.submit(lambda: done.append("before"))
        writes.submit(fail)
        writes.submit(lambda: done.append("after"))  # queued before the failure happened
        release.set()
        with pytest.raises(StorageUnavailable):
            writes.wait()
        with pytest.raises(StorageUnavailable):  # and later submissions are refused at once
            writes.submit(lambda: done.append("later"))
    assert done == ["before"]
