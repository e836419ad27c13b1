"""Burst mode (``sqsq worker --burst``) ends soon after the last message whatever the queue's depth (issue 10).

Pinned by the receives the worker makes (their WaitTimeSeconds), not by how long the run took: before the fix, a
queue whose depth was a multiple of 10 ended with a full receive followed by a 20 s long poll on the empty queue.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import sqsq
from sqsq.transport import ReceivedMessage
from sqsq.worker import Worker
from tests.unit.conftest import MemoryApp

Q = "unit-default"


def _record_receives(mem: MemoryApp) -> list[tuple[int, int]]:
    """``(WaitTimeSeconds, messages returned)`` of every ReceiveMessage the worker makes."""
    calls: list[tuple[int, int]] = []
    real = mem.transport.receive

    def receive(queue_name: str, max_messages: int, wait_seconds: int, *args: Any, **kwargs: Any) -> list[ReceivedMessage]:
        got = real(queue_name, max_messages, wait_seconds, *args, **kwargs)
        calls.append((wait_seconds, len(got)))
        return got

    mem.transport.receive = receive  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("depth", [10, 11, 20])
def test_burst_worker_ends_without_a_long_poll_whatever_the_queue_depth(mem: MemoryApp, depth: int) -> None:
    ran: list[int] = []

    @mem.app.task()
    def count(i: int) -> None:
        ran.append(i)

    sqsq.send_many(count, [{"i": i} for i in range(depth)])
    calls = _record_receives(mem)
    worker = Worker(mem.app, ["default"], concurrency=4, wait_time_seconds=20, burst=True, dlq_sweep_interval_seconds=0)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "burst worker did not finish"
    assert sorted(ran) == list(range(depth))
    assert sum(n for _, n in calls) == depth
    assert [wait for wait, _ in calls if wait > 1] == []  # no 20 s long poll, in particular after a full receive
    assert calls[-1][1] == 0  # the run ended after one short empty receive (then the queue's counts said drained)


def test_burst_worker_on_an_empty_queue_ends_without_receiving(mem: MemoryApp) -> None:
    calls = _record_receives(mem)
    worker = Worker(mem.app, ["default"], wait_time_seconds=20, burst=True, dlq_sweep_interval_seconds=0)
    assert worker.run() == 0
    assert calls == []
