"""The worker's first receive goes out before GetQueueAttributes; nothing it gets runs before the start-up ends.

Pinned by the order of the transport calls (a spy transport that blocks ``queue_info`` until a receive was made),
never by durations: before the change the worker read the attributes first, so the spy's wait would have ended
unmet (the receive never comes while ``queue_info`` blocks the main thread).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import sqsq
from sqsq.errors import AwsError
from sqsq.transport import QueueInfo, ReceivedMessage
from sqsq.worker import Worker
from tests.unit.conftest import MemoryApp

Q = "unit-default"
WAIT_SECONDS = 30.0  # an upper bound for a thread hand-off, never a figure that is asserted


class _Spy:
    """Records calls; ``queue_info`` waits until a receive has returned (then optionally fails)."""

    def __init__(self, mem: MemoryApp, fail_queue_info: bool = False):
        self.calls: list[str] = []
        self.received = threading.Event()
        self.info_release = threading.Event()
        self.received_before_info: bool | None = None
        real_receive, real_info = mem.transport.receive, mem.transport.queue_info

        def receive(*args: Any, **kwargs: Any) -> list[ReceivedMessage]:
            got = real_receive(*args, **kwargs)
            self.calls.append(f"receive:{len(got)}")
            self.received.set()
            return got

        def queue_info(queue_name: str) -> QueueInfo:
            self.calls.append("queue_info")
            if self.received_before_info is None:
                self.received_before_info = self.received.wait(WAIT_SECONDS)
                self.info_release.wait(WAIT_SECONDS)
                if fail_queue_info:
                    raise AwsError("GetQueueAttributes failed: AccessDenied", code="AccessDenied")
            return real_info(queue_name)

        mem.transport.receive = receive  # type: ignore[method-assign]
        mem.transport.queue_info = queue_info  # type: ignore[method-assign]


def test_first_receive_is_sent_before_the_queue_attributes_are_read_and_its_message_waits_for_them(
    mem: MemoryApp,
) -> None:
    ran: list[int] = []

    @mem.app.task()
    def record(i: int) -> None:
        ran.append(i)

    sqsq.send(record, {"i": 1})
    spy = _Spy(mem)
    worker = Worker(mem.app, ["default"], concurrency=2, wait_time_seconds=0, burst=True, dlq_sweep_interval_seconds=0)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert spy.received.wait(WAIT_SECONDS)
        assert "receive:1" in spy.calls  # while queue_info waits for it: the receive did not wait for the attributes
        assert ran == []  # received, but held at the gate while the start-up reads the attributes
    finally:
        spy.info_release.set()
    thread.join(timeout=60)
    assert not thread.is_alive(), "burst worker did not finish"
    assert spy.received_before_info is True
    assert ran == [1]


def test_a_start_that_fails_after_the_first_receive_makes_its_messages_visible_again(mem: MemoryApp) -> None:
    ran: list[int] = []

    @mem.app.task()
    def record(i: int) -> None:
        ran.append(i)

    sqsq.send(record, {"i": 1})
    spy = _Spy(mem, fail_queue_info=True)
    worker = Worker(mem.app, ["default"], concurrency=2, wait_time_seconds=0, dlq_sweep_interval_seconds=0)
    spy.info_release.set()
    with pytest.raises(AwsError, match="AccessDenied"):
        worker.run()
    assert spy.received_before_info is True
    assert ran == []
    again = mem.transport.receive(Q, 10, 0)  # visible at once, not after the queue's visibility timeout
    assert [m.receive_count for m in again] == [2]


def test_a_missing_queue_still_fails_the_start_before_anything_is_received(mem: MemoryApp) -> None:
    spy = _Spy(mem)
    spy.info_release.set()
    worker = Worker(mem.app, ["nosuchqueue"], wait_time_seconds=0, dlq_sweep_interval_seconds=0)
    with pytest.raises(sqsq.QueueNotFound):
        worker.run()
    assert spy.calls == []


def test_a_failed_start_waits_for_a_long_poll_in_flight_and_releases_what_it_returns(mem: MemoryApp) -> None:
    # The first receive is in flight (a long poll) when the start fails. Returning at once abandons the poll: in a
    # process that then exits, a message SQS hands to it stays invisible for the queue's visibility timeout
    # (reproduced against the local server: 1 message in flight after `sqsq worker` exited on the error).
    ran: list[int] = []

    @mem.app.task()
    def record(i: int) -> None:
        ran.append(i)

    polling, poll_release, failed, returned = (threading.Event() for _ in range(4))
    real_receive = mem.transport.receive

    def receive(*args: Any, **kwargs: Any) -> list[ReceivedMessage]:
        if not polling.is_set():
            polling.set()
            poll_release.wait(WAIT_SECONDS)  # the long poll: a message arrives while it waits
        return real_receive(*args, **kwargs)

    real_info = mem.transport.queue_info

    def queue_info(queue_name: str) -> QueueInfo:
        if failed.is_set():  # the sender's own look-up
            return real_info(queue_name)
        polling.wait(WAIT_SECONDS)
        failed.set()
        raise AwsError("GetQueueAttributes failed: AccessDenied", code="AccessDenied")

    mem.transport.receive = receive  # type: ignore[method-assign]
    mem.transport.queue_info = queue_info  # type: ignore[method-assign]
    worker = Worker(mem.app, ["default"], wait_time_seconds=20, dlq_sweep_interval_seconds=0)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:
            errors.append(exc)
        returned.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert failed.wait(WAIT_SECONDS)
        sqsq.send(record, {"i": 1})  # arrives during the poll that outlives the failed start
        returned_while_polling = returned.wait(2.0)  # a hand-off bound: returning needs no more than this
    finally:
        poll_release.set()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert [type(e) for e in errors] == [AwsError]
    assert not returned_while_polling, "run() raised with a long poll in flight; its messages would be stranded"
    assert ran == []
    assert [m.receive_count for m in mem.transport.receive(Q, 10, 0)] == [2]  # released at once by the receiver


def test_a_message_whose_visibility_ran_out_at_the_gate_is_not_run_beside_the_consumer_that_holds_it_now(
    mem: MemoryApp,
) -> None:
    # The queue's visibility timeout (1 s here) is shorter than the start-up: the first receive's message becomes
    # visible again while it waits at the gate (no heartbeat runs yet) and another consumer receives it.
    ran: list[int] = []

    @mem.app.task()
    def record(i: int) -> None:
        ran.append(i)

    sqsq.send(record, {"i": 1})
    spy = _Spy(mem)
    worker = Worker(mem.app, ["default"], concurrency=2, wait_time_seconds=0, burst=True, dlq_sweep_interval_seconds=0)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert spy.received.wait(WAIT_SECONDS)
        other: list[ReceivedMessage] = []
        while not other:  # polls until the visibility timeout has run out: no duration is asserted
            other = mem.transport.receive(Q, 10, 0)
        mem.transport.delete_batch(Q, [m.receipt_handle for m in other])  # it ran it there and deleted it
    finally:
        spy.info_release.set()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert [m.receive_count for m in other] == [2]  # the other consumer received it again (and ran it)
    assert ran == [], "the worker ran a message another consumer holds (its visibility lapsed at the gate)"
