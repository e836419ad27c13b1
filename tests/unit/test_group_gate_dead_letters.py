"""Security fix F4: a FIFO group's next message starts only once the dead-lettered one's copy is in the DLQ.

Before the fix the gate started the next message as soon as the outcome was DeadLetter; when the copy to the DLQ
then failed, the failed message came back after later messages of its group had already run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import pytest

from sqsq.errors import AwsError
from sqsq.executor import DeadLetter, LogThrottle
from sqsq.transport import BatchFailure, OutgoingMessage, QueueInfo, ReceivedMessage
from sqsq.worker.acknowledger import Acknowledger
from sqsq.worker.groups import GroupGate
from sqsq.worker.slots import Held, Slots
from sqsq.worker.stats import WorkerStats
from tests.unit.conftest import MemoryApp

FIFO = "unit-orders.fifo"
INFO = QueueInfo(url="http://q/unit-orders.fifo", arn="arn:aws:sqs:us-east-1:0:unit-orders.fifo",
                 max_message_size_bytes=262_144, visibility_timeout_seconds=30, max_receive_count=3,
                 dead_letter_target_arn="arn:aws:sqs:us-east-1:0:unit-default-dlq", fifo=True)


def held(n: int) -> Held:
    m = ReceivedMessage(FIFO, f"m{n}", f"r{n}", "{}", 1, 0.0, {"MessageGroupId": "g"})
    now = time.monotonic()
    return Held(m, INFO, m.receipt_handle, now, now + 30)


class Group:
    """A gate whose pool and release are recorded, wired to an acknowledger as the worker wires them."""

    def __init__(self, mem: MemoryApp):
        self.submitted: list[str] = []
        self.released: list[str] = []
        self.given_back = threading.Event()
        self.gate = GroupGate(submit=lambda h: self.submitted.append(h.message.message_id), release=self._release)
        self.slots = Slots(10, threading.Event())
        self.acks = Acknowledger(mem.app, self.slots, WorkerStats(), LogThrottle(logging.getLogger("test")),
                                 after_move=self.gate.moved)

    def _release(self, items: Sequence[Held]) -> None:
        self.released.extend(h.message.message_id for h in items)
        self.given_back.set()

    def dead_letter(self, first: Held) -> None:
        """What the dispatcher does with a DeadLetter outcome (hand it over, then tell the gate), acknowledged."""
        self.slots.held[first.message.message_id] = first
        thread = threading.Thread(target=self.acks.run, daemon=True)
        self.acks.put(first, DeadLetter("RuntimeError", "boom"))
        self.gate.finished(first, DeadLetter("RuntimeError", "boom"))
        thread.start()
        self.acks.close()
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_when_the_dlq_copy_fails_the_groups_next_message_is_given_back_not_started(
    mem: MemoryApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    def send_batch(queue_name: str, messages: Sequence[OutgoingMessage]) -> list[BatchFailure]:
        raise AwsError("SendMessageBatch failed (injected)")

    monkeypatch.setattr(mem.transport, "send_batch", send_batch)
    group = Group(mem)
    first, second = held(1), held(2)
    group.gate.dispatch(first)
    group.gate.dispatch(second)  # waits behind the first
    group.dead_letter(first)
    assert group.submitted == ["m1"]  # m2 never ran before m1, which comes back first
    assert group.given_back.wait(timeout=30)
    assert group.released == ["m2"]


def test_when_the_dlq_copy_succeeds_the_groups_next_message_starts(mem: MemoryApp) -> None:
    group = Group(mem)
    first, second = held(1), held(2)
    group.gate.dispatch(first)
    group.gate.dispatch(second)
    group.dead_letter(first)
    assert group.submitted == ["m1", "m2"] and group.released == []
    assert len(mem.transport.receive("unit-default-dlq", 10, 0)) == 1


def test_the_move_report_may_come_before_the_outcome_reaches_the_gate(mem: MemoryApp) -> None:
    group = Group(mem)
    first, second = held(1), held(2)
    group.gate.dispatch(first)
    group.gate.dispatch(second)
    group.gate.moved(first, True)  # the acknowledger was faster than the dispatcher's call
    assert group.submitted == ["m1"]
    group.gate.finished(first, DeadLetter("RuntimeError", "boom"))
    assert group.submitted == ["m1", "m2"]
