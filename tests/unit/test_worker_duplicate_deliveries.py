"""Two deliveries of one task id held by one worker run one after the other (:mod:`sqsq.worker.duplicates`).

Side by side, the second one's claim found the first one's live lease and was deferred for the whole lease (15
minutes for a task without a time limit), although the first one was done moments later in the same process: the
duplicate stayed in flight and a burst worker never found its queue drained. That is how the chord test of
tests/integration/test_workflows_local.py hung: every duplicate member delivery re-sends the chord callback while it
has no record, and two copies of the callback started at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

import sqsq
from sqsq.executor import Ack
from sqsq.message import Envelope
from sqsq.results import ResultRecord, Status
from sqsq.transport import OutgoingMessage, QueueInfo, ReceivedMessage
from sqsq.worker import Worker
from sqsq.worker.duplicates import DuplicateGate
from sqsq.worker.slots import Held, Slots
from sqsq.worker.stats import WorkerStats
from tests.unit.conftest import MemoryApp

Q = "unit-default"


def _wait_for(predicate: Callable[[], bool], timeout_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def _run_to_the_end(worker: Worker, timeout_seconds: float = 30) -> None:
    """Run a burst worker on a thread until it ends (exit code 0), then stop it whatever happened."""
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    thread.start()
    try:
        thread.join(timeout=timeout_seconds)
        assert not thread.is_alive() and codes == [0]
    finally:
        worker.stop()
        thread.join(timeout=30)


def _deliver_twice(mem: MemoryApp, handle_id: str) -> None:
    """Put the message of ``handle_id`` back as two messages with the same body (two deliveries of one task id)."""
    (m,) = mem.transport.receive(Q, 1, 0)
    assert handle_id in m.body
    mem.transport.delete_batch(Q, [m.receipt_handle])
    mem.transport.send_batch(Q, [OutgoingMessage("a", m.body), OutgoingMessage("b", m.body)])


def test_a_second_delivery_of_a_claimed_task_held_beside_the_first_is_acknowledged_not_deferred(
    mem: MemoryApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims: list[str] = []
    original_claim = mem.results.claim

    def claim(record: ResultRecord) -> ResultRecord | None:
        claims.append(record.task_id)
        return original_claim(record)

    monkeypatch.setattr(mem.results, "claim", claim)
    ran: list[int] = []

    @mem.app.task(claim=True)
    def once(n: int) -> int:
        ran.append(n)
        # Both deliveries are held (one receive, two free slots). Go on once the second one has either claimed
        # beside this run (what the defect did) or been held back behind it (the fix).
        _wait_for(lambda: len(claims) >= 2 or worker.stats.waited_for_same_task >= 1)
        return n

    handle = sqsq.send(once, {"n": 7})
    _deliver_twice(mem, handle.id)
    worker = Worker(mem.app, ["default"], concurrency=2, prefetch=0, wait_time_seconds=0, burst=True,
                    dlq_sweep_interval_seconds=0)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    thread.start()
    try:
        _wait_for(lambda: worker.stats.duplicates + worker.stats.deferred >= 1)
        assert worker.stats.deferred == 0, "the second delivery was deferred for the first one's lease"
        assert ran == [7] and worker.stats.duplicates == 1 and worker.stats.waited_for_same_task == 1
        thread.join(timeout=30)  # burst mode: ends once the queue is drained, nothing left in flight
        assert not thread.is_alive() and codes == [0]
        assert handle.get(timeout_seconds=1) == 7
    finally:
        worker.stop()
        thread.join(timeout=30)


def _held(mem: MemoryApp, task_id: str) -> Held:
    """A held delivery of task ``task_id`` (its message's body is another id's: the gate reads the envelope)."""
    sqsq.send(mem.app.tasks["gate.t"], {})
    (m,) = mem.transport.receive(Q, 1, 0)
    envelope = Envelope.from_body(m.body).model_copy(update={"id": task_id})
    return Held(m, mem.transport.queue_info(Q), m.receipt_handle, received_at=0.0, visible_until=1.0,
                envelope=envelope)


def test_deliveries_of_one_task_id_are_submitted_one_at_a_time_in_receive_order_and_others_pass(
    mem: MemoryApp,
) -> None:
    @mem.app.task(name="gate.t")
    def t() -> None:
        return None

    submitted: list[Held] = []
    stats = WorkerStats()
    gate = DuplicateGate(submitted.append, stats)
    first, second, third, other = (_held(mem, tid) for tid in ("same", "same", "same", "other"))
    for held in (first, second, third, other):
        gate.dispatch(held)
    assert submitted == [first, other] and gate.waiting() == 2 and stats.waited_for_same_task == 2
    gate.finished(other, Ack())
    gate.finished(first, Ack())
    assert submitted == [first, other, second]
    gate.finished(second, Ack())
    gate.finished(third, Ack())
    assert submitted == [first, other, second, third] and gate.waiting() == 0
    gate.dispatch(first)  # the task id is free again once the last one finished
    assert submitted[-1] is first


def test_a_second_delivery_of_a_plain_task_held_behind_the_first_is_acknowledged_not_run_again(mem: MemoryApp) -> None:
    # A plain task (claim=False) on its first receive reads no record: the delivery that waited behind the first one
    # ran the task body a second time although the first one's SUCCESS was recorded (the README says it is
    # acknowledged as a duplicate).
    ran: list[int] = []

    @mem.app.task
    def plain(n: int) -> int:
        ran.append(n)
        _wait_for(lambda: worker.stats.waited_for_same_task >= 1)  # the second delivery is held behind this run
        return n

    handle = sqsq.send(plain, {"n": 3})
    _deliver_twice(mem, handle.id)
    worker = Worker(mem.app, ["default"], concurrency=2, prefetch=0, wait_time_seconds=0, burst=True,
                    dlq_sweep_interval_seconds=0)
    _run_to_the_end(worker, timeout_seconds=30)
    assert ran == [3], "the delivery held behind the first one ran the task again"
    assert worker.stats.succeeded == 1 and worker.stats.duplicates == 1
    assert handle.get(timeout_seconds=1) == 3


def test_deliveries_waiting_behind_their_task_ids_first_one_leave_the_other_pool_threads_to_other_tasks(
    mem: MemoryApp,
) -> None:
    # A flood of one task id: four deliveries of X, concurrency 2, prefetch 10. One X runs and three wait behind it.
    # Had the waiters kept their slots, 4 of the 12 would be taken and the receiver (which waits for room for a full
    # batch of 10) would not receive again until X ended, so Y, sent while X runs, would wait beside an idle pool
    # thread. X's run waits for Y to start (the wait's timeout ends it when Y never does).
    y_started = threading.Event()
    saw_y: list[bool] = []

    @mem.app.task
    def y() -> None:
        y_started.set()

    @mem.app.task
    def x(n: int) -> int:
        if not saw_y:
            sqsq.send(y, {})
            saw_y.append(y_started.wait(5))
        return n

    handle = sqsq.send(x, {"n": 1})
    (m,) = mem.transport.receive(Q, 1, 0)
    assert handle.id in m.body
    mem.transport.delete_batch(Q, [m.receipt_handle])
    mem.transport.send_batch(Q, [OutgoingMessage(i, m.body) for i in "abcd"])
    worker = Worker(mem.app, ["default"], concurrency=2, prefetch=10, wait_time_seconds=0, burst=True,
                    dlq_sweep_interval_seconds=0)
    _run_to_the_end(worker, timeout_seconds=60)
    assert saw_y == [True], "task y did not start while x ran: the deliveries waiting behind x held the slots"
    assert worker.stats.waited_for_same_task == 3
    assert mem.results.get(handle.id).status is Status.SUCCESS  # type: ignore[union-attr]


def test_a_second_delivery_of_a_task_id_behind_the_first_in_its_fifo_group_is_acknowledged_not_run_again(
    mem: MemoryApp,
) -> None:
    # In one FIFO message group the group gate holds the second delivery back (the duplicate gate never sees it
    # wait), then submits it after the first one's outcome: a plain task on its first receive read no record and ran
    # the task body again.
    mem.app.declare_queue("orders", fifo=True, consumer="worker")
    orders = mem.app.queue_name("orders")
    assert orders.endswith(".fifo")
    mem.transport.create_queue(orders, visibility_timeout_seconds=1)
    ran: list[int] = []

    @mem.app.task(queue="orders", group_key=lambda args: "g")
    def step(n: int) -> int:
        ran.append(n)
        return n

    handle = sqsq.send(step, {"n": 5})
    (m,) = mem.transport.receive(orders, 1, 0)
    mem.transport.delete_batch(orders, [m.receipt_handle])
    mem.transport.send_batch(orders, [OutgoingMessage(i, m.body, group_id="g", deduplication_id=i) for i in "ab"])
    worker = Worker(mem.app, ["orders"], concurrency=2, prefetch=0, wait_time_seconds=0, burst=True,
                    dlq_sweep_interval_seconds=0)
    _run_to_the_end(worker, timeout_seconds=30)
    assert ran == [5], "the delivery held behind the first one of its group ran the task again"
    assert worker.stats.succeeded == 1 and worker.stats.duplicates == 1
    assert handle.get(timeout_seconds=1) == 5


def test_waiters_behind_their_task_id_take_no_slot_up_to_the_slot_count_then_take_slots_again() -> None:
    # A flood of one task id cannot make a worker hold without bound: past ``size`` waiters, each takes a slot.
    info = QueueInfo(url="http://q/unit-default", arn="arn:aws:sqs:us-east-1:0:unit-default",
                     max_message_size_bytes=262_144, visibility_timeout_seconds=30, max_receive_count=3,
                     dead_letter_target_arn=None, fifo=False)
    slots = Slots(2, threading.Event())
    for n in range(5):
        m = ReceivedMessage(Q, f"m{n}", f"r{n}", "{}", 1, 0.0, {})
        slots.held[m.message_id] = Held(m, info, m.receipt_handle, 0.0, 30.0, waiting_for_same_task=n > 0)
    with slots.cond:
        assert slots.unfinished() == 1 + (4 - 2)  # the first delivery, and the two waiters past the slot count
    slots.held["m4"].waiting_for_same_task = False  # submitted: it takes its slot again
    with slots.cond:
        assert slots.unfinished() == 2 + (3 - 2)
