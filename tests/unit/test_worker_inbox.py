"""The acknowledger's inbox wakes it for a first outcome, a full batch, or an outcome that is not a plain Ack."""

from __future__ import annotations

import pytest

from sqsq.executor import Ack, Release
from sqsq.transport import QueueInfo, ReceivedMessage
from sqsq.worker.inbox import OutcomeInbox
from sqsq.worker.slots import Held


def _held(i: int) -> Held:
    m = ReceivedMessage(queue_name="q", message_id=f"m{i}", receipt_handle=f"r{i}", body="{}", receive_count=1,
                        sent_timestamp_seconds=0.0, attributes={}, message_attributes={})
    info = QueueInfo(url="u", arn="a", max_message_size_bytes=1024, visibility_timeout_seconds=30,
                     max_receive_count=None, dead_letter_target_arn=None)
    return Held(m, info, m.receipt_handle, received_at=0.0, visible_until=30.0)


@pytest.fixture
def wakes(monkeypatch: pytest.MonkeyPatch) -> tuple[OutcomeInbox, list[int]]:
    inbox = OutcomeInbox()
    count: list[int] = []
    real = inbox._cond.notify
    monkeypatch.setattr(inbox._cond, "notify", lambda n=1: (count.append(1), real(n)))
    return inbox, count


def test_acks_wake_the_acknowledger_for_the_first_and_for_a_full_batch_only(wakes: tuple[OutcomeInbox, list[int]]) -> None:
    inbox, count = wakes
    inbox.put(_held(0), Ack())
    assert len(count) == 1  # the first: it starts the flush clock
    items, closed = inbox.take(0, held_entries=0)
    assert [h.message.message_id for h, _ in items] == ["m0"] and not closed
    assert inbox.take(0, held_entries=1) == ([], False)  # it holds m0 now and waits for its deadline
    for i in range(1, 9):  # 8 more: 9 with the one it holds, not a batch
        inbox.put(_held(i), Ack())
    assert len(count) == 1  # a queue.Queue would have woken it 8 more times
    inbox.put(_held(9), Ack())
    assert len(count) == 2  # 9 waiting + 1 held: a batch of 10
    items, _ = inbox.take(0, held_entries=1)
    assert [h.message.message_id for h, _ in items] == [f"m{i}" for i in range(1, 10)]


def test_an_outcome_that_is_not_an_ack_wakes_the_acknowledger_at_once(wakes: tuple[OutcomeInbox, list[int]]) -> None:
    inbox, count = wakes
    inbox.take(0, held_entries=3)
    inbox.put(_held(0), Ack())
    assert count == []
    inbox.put(_held(1), Release(5, "store down"))
    assert len(count) == 1


def test_close_is_reported_once_and_outcomes_keep_their_order() -> None:
    inbox = OutcomeInbox()
    inbox.put(_held(0), Ack())
    inbox.put(_held(1), Ack())
    inbox.close()
    items, closed = inbox.take(5, held_entries=0)
    assert closed and [h.message.message_id for h, _ in items] == ["m0", "m1"]
    items, closed = inbox.take(0, held_entries=0)  # waits out its timeout (0) instead of spinning
    assert closed and items == []


def test_take_waits_when_the_acknowledger_holds_ten_entries_and_nothing_new_came(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 5 deletes for one queue and 5 for another (or 6 deletes and 4 visibility changes): 10 entries held, no full
    # batch to send. take() returned at once here, and the acknowledger spun on it until its flush deadline.
    inbox = OutcomeInbox()
    waits: list[float | None] = []
    monkeypatch.setattr(inbox._cond, "wait", lambda timeout=None: (waits.append(timeout), False)[1])
    assert inbox.take(0.2, held_entries=10) == ([], False)
    assert waits == [0.2]
    inbox.put(_held(0), Ack())  # a new outcome on top of 10 held: a batch may be full now, so no wait
    items, _ = inbox.take(0.2, held_entries=10)
    assert [h.message.message_id for h, _ in items] == ["m0"] and waits == [0.2]
