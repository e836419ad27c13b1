"""The worker's acknowledger: failed delete entries wait for a later turn of its loop, so other batches go on."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import pytest

import sqsq
from sqsq.executor import Ack, LogThrottle
from sqsq.retry import Backoff
from sqsq.transport import BatchFailure
from sqsq.worker.acknowledger import Acknowledger
from sqsq.worker.slots import Held, Slots
from sqsq.worker.stats import WorkerStats
from tests.unit.conftest import MemoryApp

Q = "unit-default"


def test_a_failed_delete_is_retried_later_while_the_next_batch_is_acknowledged(
    mem: MemoryApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sqsq.worker.acknowledger.ACK_ENTRY_BACKOFF", Backoff(base_seconds=1.0, jitter=False))

    @mem.app.task()
    def t(i: int) -> None: ...

    sqsq.send_many(t, [{"i": 0}, {"i": 1}])
    first, second = (mem.transport.receive(Q, 1, 0)[0] for _ in range(2))
    info = mem.transport.queue_info(Q)
    deletes: list[str] = []
    real_delete = mem.transport.delete_batch

    def delete_batch(queue_name: str, handles: Sequence[str]) -> list[BatchFailure]:
        if handles == [first.receipt_handle] and first.message_id not in deletes:
            deletes.append(first.message_id)
            return [BatchFailure("0", "InternalError", "injected", False)]
        deletes.extend(m.message_id for m in (first, second) if m.receipt_handle in handles)
        return real_delete(queue_name, handles)

    mem.transport.delete_batch = delete_batch  # type: ignore[method-assign]
    slots = Slots(10, threading.Event())
    acks = Acknowledger(mem.app, slots, WorkerStats(), LogThrottle(logging.getLogger("test")))
    now = time.monotonic()
    held = [Held(m, info, m.receipt_handle, now, now + 30, finished=True) for m in (first, second)]
    for h in held:
        slots.held[h.message.message_id] = h
    thread = threading.Thread(target=acks.run, daemon=True)
    thread.start()
    try:
        acks.put(held[0], Ack())
        while deletes == []:
            time.sleep(0.01)
        acks.put(held[1], Ack())  # arrives while the first entry waits for its retry
    finally:
        acks.close()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert deletes == [first.message_id, second.message_id, first.message_id]  # not blocked behind the retry
    assert slots.held == {} and mem.transport.depth(Q).in_flight == 0


def test_outcomes_taken_together_are_deleted_in_batches_of_at_most_ten(mem: MemoryApp) -> None:
    @mem.app.task()
    def t(i: int) -> None: ...

    sqsq.send_many(t, [{"i": i} for i in range(25)])
    received = [m for _ in range(3) for m in mem.transport.receive(Q, 10, 0)]
    info = mem.transport.queue_info(Q)
    sizes: list[int] = []
    real_delete = mem.transport.delete_batch

    def delete_batch(queue_name: str, handles: Sequence[str]) -> list[BatchFailure]:
        sizes.append(len(handles))
        return real_delete(queue_name, handles)

    mem.transport.delete_batch = delete_batch  # type: ignore[method-assign]
    slots = Slots(30, threading.Event())
    acks = Acknowledger(mem.app, slots, WorkerStats(), LogThrottle(logging.getLogger("test")))
    now = time.monotonic()
    for m in received:  # all 25 wait in the inbox before the acknowledger's first turn
        h = Held(m, info, m.receipt_handle, now, now + 30, finished=True)
        slots.held[m.message_id] = h
        acks.put(h, Ack())
    thread = threading.Thread(target=acks.run, daemon=True)
    thread.start()
    try:
        while sum(sizes) < 20:  # the two full batches go without waiting for the flush deadline
            time.sleep(0.01)
    finally:
        acks.close()
        thread.join(timeout=10)
    assert sizes == [10, 10, 5]  # SQS refuses more than 10 entries (TooManyEntriesInBatchRequest)
    assert slots.held == {} and mem.transport.depth(Q).in_flight == 0


def test_ten_held_entries_of_two_queues_wait_for_the_flush_deadline_without_spinning(mem: MemoryApp) -> None:
    @mem.app.task()
    def t(i: int) -> None: ...

    @mem.app.task(queue="images")
    def u(i: int) -> None: ...

    sqsq.send_many(t, [{"i": i} for i in range(5)])
    sqsq.send_many(u, [{"i": i} for i in range(5)])
    received = mem.transport.receive(Q, 10, 0) + mem.transport.receive("unit-images", 10, 0)
    slots = Slots(30, threading.Event())
    acks = Acknowledger(mem.app, slots, WorkerStats(), LogThrottle(logging.getLogger("test")))
    takes: list[int] = []
    real_take = acks._inbox.take

    def take(timeout_seconds: float, held_entries: int) -> tuple[list[tuple[Held, Ack]], bool]:
        takes.append(held_entries)
        return real_take(timeout_seconds, held_entries)  # type: ignore[return-value]

    acks._inbox.take = take  # type: ignore[assignment, method-assign]
    now = time.monotonic()
    for m in received:  # 5 + 5: ten entries held, no full batch for either queue
        h = Held(m, mem.transport.queue_info(m.queue_name), m.receipt_handle, now, now + 30, finished=True)
        slots.held[m.message_id] = h
        acks.put(h, Ack())
    thread = threading.Thread(target=acks.run, daemon=True)
    thread.start()
    try:
        while slots.held:  # both partial batches go at the flush deadline
            time.sleep(0.01)
    finally:
        acks.close()
        thread.join(timeout=10)
    # one take waiting out the deadline (a few if a wait returns a hair early); it spun on take() (tens of thousands)
    assert len([n for n in takes if n == 10]) < 10


def test_what_is_left_after_a_full_batch_waits_its_own_deadline_not_the_deadline_of_the_batch_sent(
    mem: MemoryApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outcomes of two receives interleave: 5 arrive, then 8 more (a batch of 10 goes, 3 of the 8 are left), then 7
    # more. The 3 left must wait from their own arrival: timed from the first 5 they went early as a partial batch
    # (one DeleteMessageBatch more than the traffic needs). The deadline is wide (3 s) so that only a pause of more
    # than a second on this machine could split the batches; each sleep can only run late, which keeps the margins.
    monkeypatch.setattr("sqsq.worker.acknowledger.ACK_FLUSH_SECONDS", 3.0)

    @mem.app.task()
    def t(i: int) -> None: ...

    sqsq.send_many(t, [{"i": i} for i in range(20)])
    received = [m for _ in range(2) for m in mem.transport.receive(Q, 10, 0)]
    info = mem.transport.queue_info(Q)
    sizes: list[int] = []
    real_delete = mem.transport.delete_batch

    def delete_batch(queue_name: str, handles: Sequence[str]) -> list[BatchFailure]:
        sizes.append(len(handles))
        return real_delete(queue_name, handles)

    mem.transport.delete_batch = delete_batch  # type: ignore[method-assign]
    slots = Slots(30, threading.Event())
    acks = Acknowledger(mem.app, slots, WorkerStats(), LogThrottle(logging.getLogger("test")))
    now = time.monotonic()
    held = [Held(m, info, m.receipt_handle, now, now + 60, finished=True) for m in received]
    for h in held:
        slots.held[h.message.message_id] = h
    thread = threading.Thread(target=acks.run, daemon=True)
    thread.start()
    try:
        for h in held[:5]:
            acks.put(h, Ack())
        time.sleep(1.5)
        for h in held[5:13]:  # 13 waiting: a batch of 10 goes now, 3 are left (arrived 1.5 s after the first 5)
            acks.put(h, Ack())
        time.sleep(1.8)  # past the first 5's deadline (3.0 s), 1.2 s before the 3 left reach theirs
        for h in held[13:]:
            acks.put(h, Ack())
        while sum(sizes) < 20:
            time.sleep(0.01)
    finally:
        acks.close()
        thread.join(timeout=10)
    assert sizes == [10, 10]
    assert slots.held == {} and mem.transport.depth(Q).in_flight == 0
