"""The worker's result writes run off the task threads and off the slots (:mod:`sqsq.worker.writers`): while the
outcome of one message is being written, the worker receives and runs the next, and the written message is held,
not deleted, until its write is done. The writer pool has a bound of its own."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

import sqsq
from sqsq.executor import LogThrottle
from sqsq.results import ResultRecord
from sqsq.transport import OutgoingMessage
from sqsq.worker import Worker
from sqsq.worker.heartbeat import TIME_LIMIT_GRACE_SECONDS, Heartbeat
from sqsq.worker.slots import Held, Slots
from sqsq.worker.writers import WriterPool
from tests.unit.conftest import MemoryApp

Q = "unit-default"


def _wait_for(predicate: Callable[[], bool], timeout_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_a_message_waiting_for_its_result_write_leaves_its_slot_to_the_next(
    mem: MemoryApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One slot (concurrency 1, prefetch 0): the second message can only be received and run if the first one,
    # whose write is blocked, no longer takes the slot.
    ran: list[str] = []
    second_ran = threading.Event()
    write_may_finish = threading.Event()
    original = mem.results.put

    def put(record: ResultRecord) -> bool:
        if record.task_name.endswith("first"):
            assert write_may_finish.wait(timeout=30), "the test never let the first write finish"
        return original(record)

    monkeypatch.setattr(mem.results, "put", put)

    @mem.app.task
    def first() -> str:
        ran.append("first")
        return "one"

    @mem.app.task
    def second() -> str:
        ran.append("second")
        second_ran.set()
        return "two"

    a = sqsq.send(first, {})
    worker = Worker(mem.app, ["default"], concurrency=1, prefetch=0, wait_time_seconds=0, dlq_sweep_interval_seconds=0)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    thread.start()
    try:
        _wait_for(lambda: ran == ["first"])
        b = sqsq.send(second, {})
        assert second_ran.wait(timeout=10), "the second message did not run while the first outcome was written"
        assert mem.results.get(a.id) is None
        depth = mem.transport.depth(Q)
        assert depth.in_flight + depth.visible >= 1  # the first message is not deleted before its write
        write_may_finish.set()
        _wait_for(lambda: mem.transport.depth(Q) == type(depth)(0, 0, 0))
        for handle, value in ((a, "one"), (b, "two")):
            record = mem.results.get(handle.id)
            assert record is not None and record.result_json is not None and value in record.result_json
    finally:
        write_may_finish.set()
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive() and codes == [0]


def test_writer_pool_accepts_no_more_than_its_size_of_writes_not_done() -> None:
    pool = WriterPool(1)
    pool.start()
    first_may_finish = threading.Event()
    accepted: list[str] = []
    done: list[str] = []

    def job(name: str) -> Callable[[], None]:
        def run() -> None:
            if name == "first":
                first_may_finish.wait(timeout=30)
            done.append(name)
        return run

    pool.submit(job("first"), lambda: accepted.append("first"))
    submitter = threading.Thread(target=lambda: pool.submit(job("second"), lambda: accepted.append("second")))
    submitter.start()
    try:
        submitter.join(timeout=0.3)
        assert submitter.is_alive() and accepted == ["first"]  # blocked: the one write accepted is not done
        first_may_finish.set()
        submitter.join(timeout=10)
        _wait_for(lambda: done == ["first", "second"])
        assert accepted == ["first", "second"]
    finally:
        first_may_finish.set()
        pool.close()


def test_a_time_limited_message_whose_result_write_is_slow_stays_hidden_past_its_time_limit(mem: MemoryApp) -> None:
    # Its run ended (the outcome is being written: ``finishing``, the watchdog keeps off), long after the start, past
    # its time limit and the heartbeat's grace after it. Should its visibility lapse now, another consumer would
    # receive it and run it a second time while this write is still in flight.
    mem.transport.send_batch(Q, [OutgoingMessage("m1", "{}")])
    (message,) = mem.transport.receive(Q, 1, 0)
    slots = Slots(1, threading.Event())
    now = time.monotonic()
    held = Held(message, mem.transport.queue_info(Q), message.receipt_handle, received_at=now - 30,
                visible_until=now + 0.2, time_limit_seconds=1.0, started_at=now - 30 + 0.1,
                finishing=True, writing=True)
    assert now - held.started_at > 1.0 + TIME_LIMIT_GRACE_SECONDS
    slots.held[message.message_id] = held
    heartbeat = Heartbeat(mem.app, slots, threading.Event(), lambda: None, LogThrottle(logging.getLogger("test")))
    heartbeat.beat()
    assert held.visible_until > now + 0.2, "the heartbeat let the visibility of a message being written lapse"


def test_nothing_starts_beside_a_last_receive_message_while_its_result_write_is_in_flight(
    mem: MemoryApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A message on its last receive runs alone so that, should the worker die meanwhile, the ConsumerDied marker
    # blames it alone. Its write is part of that: were another task to start (and kill the process) while the write
    # is in flight, the last-receive message would go to the DLQ blamed for a death it did not cause.
    events: list[str] = []
    second_ran = threading.Event()
    original = mem.results.put

    def put(record: ResultRecord) -> bool:
        if record.task_name.endswith("last") and record.status == "SUCCESS":
            second_ran.wait(timeout=3)  # long enough for the second to start, were it allowed to
            events.append("last written")
        return original(record)

    monkeypatch.setattr(mem.results, "put", put)

    @mem.app.task
    def last() -> str:
        events.append("last ran")
        return "one"

    @mem.app.task
    def second() -> str:
        events.append("second ran")
        second_ran.set()
        return "two"

    sqsq.send(last, {})
    for _ in range(2):  # two receives spent: the worker's is the last (maxReceiveCount 3)
        (m,) = mem.transport.receive(Q, 1, 0)
        assert not mem.transport.change_visibility_batch(Q, [(m.receipt_handle, 0)])
    worker = Worker(mem.app, ["default"], concurrency=2, prefetch=0, wait_time_seconds=0, dlq_sweep_interval_seconds=0)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    thread.start()
    try:
        _wait_for(lambda: "last ran" in events)
        sqsq.send(second, {})
        _wait_for(lambda: "second ran" in events and "last written" in events)
        assert events == ["last ran", "last written", "second ran"]
    finally:
        second_ran.set()
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive() and codes == [0]
