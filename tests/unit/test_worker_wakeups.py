"""The worker's hand-offs wake a thread only when it can go on: the receiver once its room is free, the pool threads
one at a time for a received batch, the receiver's batch reaching the pool outside the slots' lock."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import sqsq
from sqsq.executor import Ack, LogThrottle
from sqsq.transport import QueueInfo, ReceivedMessage
from sqsq.worker.acknowledger import Acknowledger
from sqsq.worker.gate import StartGate
from sqsq.worker.receiver import Receiver
from sqsq.worker.slots import Held, Slots
from sqsq.worker.stats import WorkerStats
from sqsq.worker.work import WorkQueue
from tests.unit.conftest import MemoryApp

Q = "unit-default"
SETUP_TIMEOUT_SECONDS = 10.0


def _until(check: Callable[[], bool]) -> None:
    """Wait for a precondition of the test (a thread got where it waits); not a timing assertion."""
    deadline = time.monotonic() + SETUP_TIMEOUT_SECONDS
    while not check():
        assert time.monotonic() < deadline, "the test's own set-up did not happen"
        time.sleep(0.005)


def _held(i: int, info: QueueInfo) -> Held:
    m = ReceivedMessage(queue_name=Q, message_id=f"m{i}", receipt_handle=f"r{i}", body="{}", receive_count=1,
                        sent_timestamp_seconds=0.0, attributes={}, message_attributes={})
    now = time.monotonic()
    return Held(m, info, m.receipt_handle, now, now + 30, started_at=now)


def _count_notify_all(slots: Slots) -> list[int]:
    calls: list[int] = []
    real = slots.cond.notify_all

    def notify_all() -> None:
        calls.append(1)
        real()

    slots.cond.notify_all = notify_all  # type: ignore[method-assign]
    return calls


def test_a_finished_message_does_not_wake_a_receiver_until_the_room_it_waits_for_is_free(mem: MemoryApp) -> None:
    info = mem.transport.queue_info(Q)
    slots = Slots(14, threading.Event())
    running = [_held(i, info) for i in range(14)]
    for h in running:
        slots.held[h.message.message_id] = h
    notified = _count_notify_all(slots)
    room: list[int] = []
    receiver = threading.Thread(target=lambda: room.append(slots.wait_for_room(10)), daemon=True)
    receiver.start()
    _until(lambda: slots._room_waiting == 1)
    for h in running[:9]:  # 9 free: one short of the batch the receiver waits for
        slots.finish(h)
    assert notified == [] and room == []
    slots.finish(running[9])
    receiver.join(timeout=SETUP_TIMEOUT_SECONDS)
    assert notified == [1] and room == [10]


def test_an_acknowledged_batch_of_ten_wakes_the_waiting_receiver_once(mem: MemoryApp) -> None:
    @mem.app.task()
    def t(i: int) -> None: ...

    sqsq.send_many(t, [{"i": i} for i in range(10)])
    info = mem.transport.queue_info(Q)
    slots = Slots(10, threading.Event())
    now = time.monotonic()
    held = [Held(m, info, m.receipt_handle, now, now + 30, started_at=now) for m in mem.transport.receive(Q, 10, 0)]
    for h in held:
        slots.held[h.message.message_id] = h
    waiting = Held(held[0].message, info, "other", now, now + 30)  # one more unfinished message: no room for 10
    slots.held["waiting"] = waiting
    acks = Acknowledger(mem.app, slots, WorkerStats(), LogThrottle(logging.getLogger("test")))
    room: list[int] = []
    receiver = threading.Thread(target=lambda: room.append(slots.wait_for_room(10)), daemon=True)
    receiver.start()
    _until(lambda: slots._room_waiting == 1)
    for h in held:
        slots.finish(h)  # finished: they take no slot, but the waiting one does (9 free)
    notified = _count_notify_all(slots)
    del slots.held["waiting"]  # it goes too (as if released): the batch's delete is what frees the last slot
    thread = threading.Thread(target=acks.run, daemon=True)
    thread.start()
    try:
        for h in held:
            acks.put(h, Ack())
        _until(lambda: not slots.held)
    finally:
        acks.close()
        thread.join(timeout=SETUP_TIMEOUT_SECONDS)
        receiver.join(timeout=SETUP_TIMEOUT_SECONDS)
    assert mem.transport.depth(Q).in_flight == 0
    assert notified == [1] and room == [10]  # one wake-up for the batch of ten, not one per message


def test_a_received_batch_wakes_one_pool_thread_at_a_time_and_every_item_runs_once() -> None:
    work: WorkQueue[int | None] = WorkQueue()
    taken: list[int] = []
    lock = threading.Lock()

    def pool_thread() -> None:
        while (item := work.get()) is not None:
            with lock:
                taken.append(item)

    threads = [threading.Thread(target=pool_thread, daemon=True) for _ in range(4)]
    for th in threads:
        th.start()
    _until(lambda: work._idle == 4)
    woken: list[int] = []
    real_notify = work._cond.notify

    def notify(n: int = 1) -> None:
        woken.append(n)
        real_notify(n)

    work._cond.notify = notify  # type: ignore[method-assign]
    work.put_all(list(range(10)))
    _until(lambda: len(taken) == 10)
    assert sorted(taken) == list(range(10))
    assert woken and set(woken) == {1}  # never several threads woken at once for one batch
    for _ in threads:
        work.put(None)
    for th in threads:
        th.join(timeout=SETUP_TIMEOUT_SECONDS)
    assert not any(th.is_alive() for th in threads)


def test_within_gathered_a_threads_puts_reach_the_pool_together_at_its_end() -> None:
    work: WorkQueue[int] = WorkQueue()
    batches: list[list[int]] = []
    real_put_all = work.put_all
    work.put_all = lambda items: (batches.append(list(items)), real_put_all(items))[1]  # type: ignore[method-assign]
    with work.gathered():
        for i in range(3):
            work.put(i)
        assert batches == []
    assert batches == [[0, 1, 2]] and [work.get() for _ in range(3)] == [0, 1, 2]


def test_the_receiver_hands_a_receive_to_the_pool_at_once_without_the_slots_lock_held(mem: MemoryApp) -> None:
    @mem.app.task()
    def t(i: int) -> None: ...

    sqsq.send_many(t, [{"i": i} for i in range(10)])
    slots = Slots(14, threading.Event())
    dispatched: list[tuple[int, bool]] = []

    def dispatch(helds: list[Held]) -> None:
        free: list[bool] = []

        def probe() -> None:  # another thread: the receiver's own RLock would let this thread in anyway
            got = slots.cond.acquire(blocking=False)
            free.append(got)
            if got:
                slots.cond.release()

        prober = threading.Thread(target=probe)
        prober.start()
        prober.join()
        dispatched.append((len(helds), free[0]))

    acks = Acknowledger(mem.app, slots, WorkerStats(), LogThrottle(logging.getLogger("test")))
    receiver = Receiver(mem.app, slots, acks, WorkerStats(), threading.Event(), dispatch, wait_time_seconds=0,
                        burst=False, throttle=LogThrottle(logging.getLogger("test")), gate=StartGate())
    receiver.take(mem.transport.receive(Q, 10, 0), mem.transport.queue_info(Q))
    assert dispatched == [(10, True)] and len(slots.held) == 10
