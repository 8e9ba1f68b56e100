"""The feeder against a real Valkey: clients take turns, the window holds, nothing is lost."""

import threading

import pytest
import redis

from kcolors.engine.params import QuantizeParams
from kcolors.jobs.batch import Batch, scheduling_client
from kcolors.jobs.cancel import cancel_key, cancel_requested, request_batch_cancel
from kcolors.jobs.feeder import (
    ANONYMOUS,
    add_to_backlog,
    backlog_clients,
    backlog_job_ids,
    backlog_lengths,
    feed,
    take_next,
)

QUEUE = "kcolors.batch"


@pytest.fixture
def feeder_redis(broker) -> redis.Redis:
    return broker


def ids(client: str, count: int) -> list[str]:
    return [f"{client}-{number:03d}" for number in range(count)]


def drain(connection: redis.Redis) -> list[str]:
    """Every job in backlog order, as the feeder would send them with an endless window."""
    order = []
    while (taken := take_next(connection)) is not None:
        order.append(taken[1])
    return order


def test_two_clients_take_turns_whatever_their_number_of_batches(feeder_redis):
    # Client a has three batches of 4 added before client b's one batch of 4.
    for batch in range(3):
        add_to_backlog(feeder_redis, "a", [f"a{batch}-{n}" for n in range(4)])
    add_to_backlog(feeder_redis, "b", ids("b", 4))

    order = drain(feeder_redis)
    firsts = [job[0] for job in order[:8]]
    assert firsts == ["a", "b"] * 4, order
    # a's jobs keep their own order (its batches first in, first out), then only a is left.
    assert [job for job in order if job[0] == "a"] == [
        f"a{b}-{n}" for b in range(3) for n in range(4)
    ]
    assert len(order) == 16 and backlog_clients(feeder_redis) == []


def test_a_client_that_comes_later_gets_the_next_turn_but_one(feeder_redis):
    add_to_backlog(feeder_redis, "a", ids("a", 10))
    first = [take_next(feeder_redis)[1] for _ in range(3)]
    add_to_backlog(feeder_redis, "b", ids("b", 2))
    rest = drain(feeder_redis)
    assert first == ids("a", 3)
    assert rest[:4] == ["a-003", "b-000", "a-004", "b-001"], rest


def test_feeding_keeps_the_window_and_sends_each_job_once(feeder_redis):
    add_to_backlog(feeder_redis, "a", ids("a", 30))
    add_to_backlog(feeder_redis, "b", ids("b", 30))
    sent = []

    def send(job_id: str) -> None:  # the message lands in the queue, as kombu's would
        sent.append(job_id)
        feeder_redis.lpush(QUEUE, job_id)

    assert feed(feeder_redis, send, queue=QUEUE, window=5) == sent
    assert len(sent) == 5 and feeder_redis.llen(QUEUE) == 5
    # Workers take two messages: the feed after tops the window up with two more.
    feeder_redis.rpop(QUEUE)
    feeder_redis.rpop(QUEUE)
    assert len(feed(feeder_redis, send, queue=QUEUE, window=5)) == 2
    assert sent == ["a-000", "b-000", "a-001", "b-001", "a-002", "b-002", "a-003"]
    assert backlog_lengths(feeder_redis) == {"a": 26, "b": 27}
    while feeder_redis.llen(QUEUE):
        feeder_redis.rpop(QUEUE)
        feed(feeder_redis, send, queue=QUEUE, window=5)
    assert sorted(sent) == sorted(ids("a", 30) + ids("b", 30))
    assert backlog_job_ids(feeder_redis) == set() and backlog_clients(feeder_redis) == []


def test_a_cancelled_job_or_batch_is_dropped_not_sent(feeder_redis):
    add_to_backlog(feeder_redis, "a", ids("a", 4))
    add_to_backlog(feeder_redis, "a", ids("kept", 2), batch_id="B1")
    add_to_backlog(feeder_redis, "a", ids("gone", 3), batch_id="B2")
    assert backlog_job_ids(feeder_redis) == set(ids("a", 4) + ids("kept", 2) + ids("gone", 3))
    feeder_redis.set(cancel_key("a-001"), 1)
    feeder_redis.set(cancel_key("a-002"), 1)
    request_batch_cancel(
        feeder_redis, "B2", "2026-12-07T00:00:00Z"
    )  # one flag stops every job of the batch
    sent = []
    cancelled = lambda job_id, batch_id: cancel_requested(feeder_redis, job_id, batch_id)  # noqa: E731
    feed(feeder_redis, sent.append, queue=QUEUE, window=100, cancelled=cancelled)
    assert sent == ["a-000", "a-003", "kept-000", "kept-001"]


def test_jobs_added_while_others_take_are_never_lost(feeder_redis):
    """Many adders and takers at once: the ring and the backlogs stay consistent (Lua)."""
    clients = [f"c{n}" for n in range(6)]
    taken: list[str] = []
    lock = threading.Lock()
    adding_done = threading.Event()

    def add(client: str) -> None:
        connection = redis.Redis(connection_pool=feeder_redis.connection_pool)
        for start in range(0, 60, 3):
            add_to_backlog(
                connection, client, [f"{client}-{n:03d}" for n in range(start, start + 3)]
            )

    def take() -> None:
        connection = redis.Redis(connection_pool=feeder_redis.connection_pool)
        while True:
            got = take_next(connection)
            if got is None:
                if adding_done.is_set():
                    return
                continue
            with lock:
                taken.append(got[1])

    adders = [threading.Thread(target=add, args=(client,)) for client in clients]
    takers = [threading.Thread(target=take) for _ in range(3)]
    for thread in adders + takers:
        thread.start()
    for thread in adders:
        thread.join(30)
    adding_done.set()
    for thread in takers:
        thread.join(30)
    taken += drain(feeder_redis)
    assert sorted(taken) == sorted(f"{c}-{n:03d}" for c in clients for n in range(60))
    assert backlog_clients(feeder_redis) == []
    assert feeder_redis.scard("kcolors:backlog-clients") == 0


def test_batches_without_a_recorded_client_share_one_anonymous_backlog(feeder_redis):
    params = QuantizeParams(k=(2,))
    for job_id in ("x", "y"):  # stored before batches recorded their client
        add_to_backlog(feeder_redis, scheduling_client(Batch.create(params, {}, [])), [job_id])
    owned = Batch.create(params, {}, [], owner="alice")
    assert scheduling_client(owned) == "alice"
    assert backlog_lengths(feeder_redis) == {ANONYMOUS: 2}
    assert add_to_backlog(feeder_redis, "a", []) == 0
