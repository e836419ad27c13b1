"""What sqsq relies on from a queue: the in-memory twin and SQS (moto server over HTTP) behave alike."""

from __future__ import annotations

import time

import pytest

from sqsq.errors import AwsError
from sqsq.transport import OutgoingMessage
from tests.contract.conftest import QueueFactory, name_of


def _send(q: QueueFactory, name: str, *bodies: str, delay_seconds: int = 0) -> None:
    failed = q.transport.send_batch(
        name, [OutgoingMessage(str(i), b, delay_seconds) for i, b in enumerate(bodies)]
    )
    assert failed == []


def test_queue_info_reads_size_limit_visibility_and_redrive(queues: QueueFactory) -> None:
    info = queues.create(vt=7, mrc=4, max_size=100_000)
    assert info.visibility_timeout_seconds == 7
    assert info.max_message_size_bytes == 100_000
    assert info.max_receive_count == 4
    assert info.dead_letter_target_arn is not None and info.dead_letter_target_arn.endswith("-dlq")


def test_queue_url_is_the_url_queue_info_reads_and_a_missing_queue_is_queue_not_found(queues: QueueFactory) -> None:
    from sqsq.errors import QueueNotFound

    info = queues.create()
    assert queues.transport.queue_url(name_of(info)) == info.url
    with pytest.raises(QueueNotFound):
        queues.transport.queue_url(f"{name_of(info)}-missing")


def test_received_message_is_invisible_until_its_visibility_timeout(queues: QueueFactory) -> None:
    name = name_of(queues.create(vt=1))
    _send(queues, name, "a")
    first = queues.transport.receive(name, 10, 0)
    assert [m.body for m in first] == ["a"]
    assert first[0].receive_count == 1
    assert queues.transport.receive(name, 10, 0) == []
    time.sleep(1.3)
    again = queues.transport.receive(name, 10, 1)
    assert [m.body for m in again] == ["a"]
    assert again[0].receive_count == 2
    assert again[0].message_id == first[0].message_id


def test_deleted_message_is_never_received_again(queues: QueueFactory) -> None:
    name = name_of(queues.create(vt=1))
    _send(queues, name, "a", "b")
    got = queues.transport.receive(name, 10, 1)
    got += queues.transport.receive(name, 10, 0) if len(got) < 2 else []
    assert sorted(m.body for m in got) == ["a", "b"]
    assert queues.transport.delete_batch(name, [m.receipt_handle for m in got]) == []
    time.sleep(1.3)
    assert queues.transport.receive(name, 10, 1) == []
    depth = queues.transport.depth(name)
    assert (depth.visible, depth.in_flight, depth.delayed) == (0, 0, 0)


def test_change_visibility_zero_releases_at_once(queues: QueueFactory) -> None:
    name = name_of(queues.create(vt=30))
    _send(queues, name, "a")
    (m,) = queues.transport.receive(name, 1, 0)
    assert queues.transport.change_visibility_batch(name, [(m.receipt_handle, 0)]) == []
    (again,) = queues.transport.receive(name, 1, 1)
    assert again.body == "a" and again.receive_count == 2


def test_change_visibility_extends_a_message_in_flight(queues: QueueFactory) -> None:
    name = name_of(queues.create(vt=1))
    _send(queues, name, "a")
    (m,) = queues.transport.receive(name, 1, 0)
    assert queues.transport.change_visibility_batch(name, [(m.receipt_handle, 5)]) == []
    time.sleep(1.3)
    assert queues.transport.receive(name, 1, 0) == []
    assert queues.transport.depth(name).in_flight == 1


def test_delayed_message_is_counted_as_delayed_then_delivered(queues: QueueFactory) -> None:
    name = name_of(queues.create())
    _send(queues, name, "later", delay_seconds=1)
    assert queues.transport.depth(name).delayed == 1
    assert queues.transport.receive(name, 1, 0) == []
    got = queues.transport.receive(name, 1, 3)
    assert [m.body for m in got] == ["later"]


def test_long_poll_waits_for_a_message_and_returns_empty_after_wait(queues: QueueFactory) -> None:
    name = name_of(queues.create())
    started = time.monotonic()
    assert queues.transport.receive(name, 10, 1) == []
    assert time.monotonic() - started >= 0.9


def test_message_moves_to_dlq_after_max_receive_count(queues: QueueFactory) -> None:
    info = queues.create(vt=1, mrc=2)
    name = name_of(info)
    assert info.dead_letter_target_arn is not None
    dlq = info.dead_letter_target_arn.rsplit(":", 1)[1]
    _send(queues, name, "poison")
    counts = []
    for _ in range(2):
        (m,) = queues.transport.receive(name, 1, 3)
        counts.append(m.receive_count)
        queues.transport.change_visibility_batch(name, [(m.receipt_handle, 0)])
    assert counts == [1, 2]
    assert queues.transport.receive(name, 1, 1) == []  # the third receive moves it instead of delivering it
    moved = queues.transport.receive(dlq, 1, 2)
    assert [m.body for m in moved] == ["poison"]


def test_unicode_body_round_trips_exactly(queues: QueueFactory) -> None:
    name = name_of(queues.create())
    body = '{"s":"é 漢字 🎉 \\ud800"}'
    _send(queues, name, body)
    (m,) = queues.transport.receive(name, 1, 1)
    assert m.body == body


def test_batch_over_the_size_limit_is_refused_whole(queues: QueueFactory) -> None:
    name = name_of(queues.create(max_size=1024))
    with pytest.raises(AwsError) as err:
        queues.transport.send_batch(name, [OutgoingMessage("ok", "x" * 100), OutgoingMessage("big", "y" * 2000)])
    # AWS answers BatchRequestTooLong or InvalidParameterValue ("Message must be shorter than…") for the request.
    assert err.value.code in ("AWS.SimpleQueueService.BatchRequestTooLong", "BatchRequestTooLong", "InvalidParameterValue")
    assert queues.transport.depth(name).visible == 0  # so sqsq must size its batches itself


def test_a_message_group_id_passes_through_a_standard_queue(queues: QueueFactory) -> None:
    # Fair queues (issue 14): a standard queue takes MessageGroupId (the tenant) and returns it on receive.
    name = name_of(queues.create())
    assert queues.transport.send_batch(name, [OutgoingMessage("0", "a", group_id="tenant-1"),
                                              OutgoingMessage("1", "b")]) == []
    got = queues.transport.receive(name, 10, 1)
    got += queues.transport.receive(name, 10, 0) if len(got) < 2 else []
    groups = {m.body: m.attributes.get("MessageGroupId") for m in got}
    assert groups == {"a": "tenant-1", "b": None}
