"""No dead letter without a reason, whatever the route; no innocent task dead-lettered for receives it never used.

Routes pinned here on the in-memory twins (the moto-server versions are in tests/integration/test_dead_letter_routes.py):
a receive given back without a run on the last receive is rescued as a fresh copy; a run on the last receive leaves
a ConsumerDied marker; the DLQ sweep rescues what SQS's redrive moved without an outcome and records FAILURE once
the rescues are spent; a results-store outage on the last receive rescues instead of dead-lettering.
"""

from __future__ import annotations

import threading
import time

import pytest

import sqsq
from sqsq.dlq import DeadLetterQueue
from sqsq.errors import AwsError
from sqsq.executor import CONSUMER_DIED, Executor
from sqsq.message import Envelope
from sqsq.rescue import MAX_RESCUES, rescued_body
from sqsq.results import ResultRecord, Status
from sqsq.sweep import RECEIVES_EXHAUSTED, sweep_dead_letters
from sqsq.transport import ReceivedMessage
from sqsq.worker import Worker
from tests.unit.conftest import MemoryApp
from tests.unit.test_worker_reliability import _wait_for, running

Q, DLQ = "unit-default", "unit-default-dlq"  # max_receive_count 3


def _exhaust_receives(mem: MemoryApp) -> None:
    """Receive the queue's messages until SQS's redrive has moved them all to the DLQ (no consumer runs them)."""
    for _ in range(10):
        got = mem.transport.receive(Q, 10, 0)
        if got:
            mem.transport.change_visibility_batch(Q, [(m.receipt_handle, 0) for m in got])
        elif mem.transport.depth(Q).visible == 0:
            return


def _dlq_envelopes(mem: MemoryApp) -> list[Envelope]:
    got = mem.transport.receive(DLQ, 10, 0)
    mem.transport.change_visibility_batch(DLQ, [(m.receipt_handle, 0) for m in got])
    return [Envelope.from_body(m.body) for m in got]


def test_the_last_receive_writes_a_consumer_died_marker_before_running(mem: MemoryApp) -> None:
    seen: list[ResultRecord | None] = []

    @mem.app.task(name="t")
    def t() -> None:
        seen.append(mem.results.get(h.id))

    h = sqsq.send(t, {})
    (m,) = mem.transport.receive(Q, 1, 0)
    last = ReceivedMessage(m.queue_name, m.message_id, m.receipt_handle, m.body, 3, m.sent_timestamp_seconds)
    Executor(mem.app).execute(last, max_receive_count=3)
    assert seen[0] is not None and (seen[0].status, seen[0].error_type) == (Status.STARTED, CONSUMER_DIED)
    assert "last receive (3 of maxReceiveCount 3)" in (seen[0].error_message or "")
    record = mem.results.get(h.id)
    assert record is not None and record.status is Status.SUCCESS


def test_an_earlier_receive_writes_nothing_before_running(mem: MemoryApp) -> None:
    @mem.app.task(name="t")
    def t() -> None:
        assert mem.results.get(h.id) is None

    h = sqsq.send(t, {})
    (m,) = mem.transport.receive(Q, 1, 0)
    Executor(mem.app).execute(m, max_receive_count=3)
    assert h.status is Status.SUCCESS


def test_a_rescued_copy_keeps_id_and_generation_and_is_bounded() -> None:
    body = Envelope(id="a", task="t", args={"x": 1}, generation=2).to_body()
    copies = [body]
    for _ in range(MAX_RESCUES):
        nxt = rescued_body(copies[-1])
        assert nxt is not None
        copies.append(nxt)
    last = Envelope.from_body(copies[-1])
    assert (last.id, last.generation, last.rescues, last.args) == ("a", 2, MAX_RESCUES, {"x": 1})
    assert rescued_body(copies[-1]) is None
    assert rescued_body("not an envelope") is None


def test_a_rescued_copy_of_a_task_that_already_succeeded_is_acknowledged_without_running(mem: MemoryApp) -> None:
    runs: list[int] = []

    @mem.app.task(name="t")
    def t() -> int:
        runs.append(1)
        return 7

    h = sqsq.send(t, {})
    (m,) = mem.transport.receive(Q, 1, 0)
    Executor(mem.app).execute(m, max_receive_count=3)
    body = rescued_body(m.body)
    assert body is not None
    copy = ReceivedMessage(Q, "copy", "rh", body, 1, m.sent_timestamp_seconds)
    outcome = Executor(mem.app).execute(copy, max_receive_count=3)
    assert runs == [1] and type(outcome).__name__ == "Ack" and getattr(outcome, "duplicate", False)
    assert h.get(timeout_seconds=1) == 7


def test_messages_given_back_at_shutdown_on_their_last_receive_are_rescued_not_dead_lettered(mem: MemoryApp) -> None:
    started = threading.Event()

    @mem.app.task(name="slow")
    def slow(n: int) -> int:
        started.set()
        time.sleep(0.5)
        return n

    handles = sqsq.send_many(slow, [{"n": i} for i in range(4)])
    for _ in range(2):  # burn two receives of every message: the next one is their last (maxReceiveCount 3)
        got = mem.transport.receive(Q, 10, 0)
        mem.transport.change_visibility_batch(Q, [(m.receipt_handle, 0) for m in got])
    worker = Worker(mem.app, ["default"], concurrency=1, prefetch=3, wait_time_seconds=0, dlq_sweep_interval_seconds=0)
    with running(worker):
        assert started.wait(5)
        _wait_for(lambda: mem.transport.depth(Q).visible == 0)
        worker.stop()
    assert worker.stats.rescued == 3
    assert mem.transport.depth(DLQ).visible == 0
    worker = Worker(mem.app, ["default"], concurrency=2, wait_time_seconds=0, burst=True)
    worker.run()
    assert sorted(h.get(timeout_seconds=5) for h in handles) == [0, 1, 2, 3]
    assert mem.transport.depth(DLQ).visible == 0


def test_a_results_store_outage_on_the_last_receive_rescues_the_message(
    mem: MemoryApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sqsq.executor.recording.STORE_UNAVAILABLE_RETRY_SECONDS", 0)
    monkeypatch.setattr("sqsq.executor.recording.FINAL_WRITE_RETRY_SECONDS", 0.0)
    original_put = mem.results.put
    outage = [True]

    def put(record: ResultRecord) -> bool:
        if outage[0]:
            raise AwsError("DynamoDB unavailable", code="InternalServerError")
        return original_put(record)

    mem.results.put = put  # type: ignore[method-assign]

    @mem.app.task(name="t")
    def t(x: int) -> int:
        return x

    h = sqsq.send(t, {"x": 5})
    worker = Worker(mem.app, ["default"], concurrency=1, wait_time_seconds=0, dlq_sweep_interval_seconds=0)
    with running(worker):
        _wait_for(lambda: worker.stats.rescued >= 1, 20)
        outage[0] = False
        assert h.get(timeout_seconds=30) == 5
    assert mem.transport.depth(DLQ).visible == 0


def test_sweep_rescues_what_sqs_moved_without_an_outcome_and_records_failure_once_rescues_are_spent(
    mem: MemoryApp,
) -> None:
    @mem.app.task(name="t")
    def t() -> None: ...

    h = sqsq.send(t, {})
    spent_rescues = 2
    for round_ in range(spent_rescues + 1):
        _exhaust_receives(mem)  # no consumer ever ran it: its receives were all spent
        report = sweep_dead_letters(mem.app, "default", max_spent_rescues=spent_rescues)
        if round_ < spent_rescues:
            assert (report.rescued, report.recorded) == ([h.id], {})
            assert mem.transport.depth(DLQ).visible == 0 and mem.transport.depth(Q).visible == 1
    assert report.recorded == {h.id: RECEIVES_EXHAUSTED}
    record = mem.results.get(h.id)
    assert record is not None and record.status is Status.FAILURE and record.error_type == RECEIVES_EXHAUSTED
    assert f"{spent_rescues + 1} time(s)" in (record.error_message or "")
    (entry,) = DeadLetterQueue(mem.app, "default").entries()
    assert entry.error_type == RECEIVES_EXHAUSTED


def test_sweep_records_consumer_died_for_a_task_whose_run_never_ended_on_its_last_receive(mem: MemoryApp) -> None:
    @mem.app.task(name="t")
    def t() -> None: ...

    h = sqsq.send(t, {})
    executor = Executor(mem.app)
    _exhaust_receives(mem)
    # the DLQ tools already show why before any sweep, from the marker a run on the last receive leaves
    (letter,) = DeadLetterQueue(mem.app, "default").entries()
    assert letter.envelope is not None
    marker = executor._put(ResultRecord(h.id, Status.STARTED, "t", error_type=CONSUMER_DIED, error_message="died",
                                        attempts=3, sent_at=letter.envelope.sent_at))
    assert marker
    (entry,) = DeadLetterQueue(mem.app, "default").entries()
    assert entry.error_type == CONSUMER_DIED
    report = sweep_dead_letters(mem.app, "default", max_rescues=0)
    assert report.recorded == {h.id: CONSUMER_DIED}
    record = mem.results.get(h.id)
    assert record is not None and record.status is Status.FAILURE and "stopped while running it" in (
        record.error_message or "")


def test_sweep_leaves_dead_letters_that_have_their_failure_recorded(mem: MemoryApp) -> None:
    @mem.app.task(name="boom", max_retries=0)
    def boom() -> None:
        raise ValueError("bad")

    sqsq.send(boom, {})
    Worker(mem.app, ["default"], wait_time_seconds=0, burst=True, dlq_sweep_interval_seconds=0).run()
    report = sweep_dead_letters(mem.app, "default")
    assert (report.scanned, report.rescued, report.recorded) == (1, [], {})
    assert [e.args for e in _dlq_envelopes(mem)] == [{}]


def test_a_thread_pool_run_past_its_time_limit_is_recorded_and_dead_lettered_while_the_thread_runs_on(
    mem: MemoryApp, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()

    @mem.app.task(name="stuck", time_limit_seconds=1, max_retries=0)
    def stuck() -> str:
        release.wait(10)
        return "late"

    h = sqsq.send(stuck, {})
    worker = Worker(mem.app, ["default"], concurrency=1, wait_time_seconds=0, dlq_sweep_interval_seconds=0)
    with running(worker):
        _wait_for(lambda: mem.transport.depth(DLQ).visible == 1, 10)
        record = mem.results.get(h.id)
        assert record is not None and (record.status, record.error_type) == (Status.FAILURE, "TimeLimitExceeded")
        assert "the thread runs on" in caplog.text
        release.set()
        _wait_for(lambda: "discarded" in caplog.text, 10)
    record = mem.results.get(h.id)
    assert record is not None and record.status is Status.FAILURE  # the late "late" is not recorded
    assert mem.transport.depth(Q).visible + mem.transport.depth(Q).in_flight == 0


def test_an_async_run_past_its_time_limit_is_cancelled_and_recorded(mem: MemoryApp) -> None:
    import asyncio

    cancelled = threading.Event()

    @mem.app.task(name="slow_async", time_limit_seconds=0.5, max_retries=0)
    async def slow_async() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    h = sqsq.send(slow_async, {})
    worker = Worker(mem.app, ["default"], concurrency=2, wait_time_seconds=0, burst=True, dlq_sweep_interval_seconds=0)
    worker.run()
    assert cancelled.is_set()
    record = mem.results.get(h.id)
    assert record is not None and (record.status, record.error_type) == (Status.FAILURE, "TimeLimitExceeded")
    assert mem.transport.depth(DLQ).visible == 1


def test_sweep_removes_a_dead_letter_whose_task_has_succeeded_since(mem: MemoryApp) -> None:
    @mem.app.task(name="t")
    def t() -> int:
        return 1

    h = sqsq.send(t, {})
    _exhaust_receives(mem)
    Executor(mem.app)._put(ResultRecord(h.id, Status.SUCCESS, "t", result_json="1", attempts=1))
    report = sweep_dead_letters(mem.app, "default")
    assert (report.removed, report.rescued, report.recorded) == ([h.id], [], {})
    assert mem.transport.depth(DLQ).visible == 0


def test_a_message_on_its_last_receive_runs_alone(mem: MemoryApp) -> None:
    running: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    lock = threading.Lock()

    @mem.app.task(name="t")
    def t(tag: str) -> None:
        with lock:
            running.append(tag)
            overlaps.append(tuple(running))
        time.sleep(0.2)
        with lock:
            running.remove(tag)

    sqsq.send(t, {"tag": "last"})
    for _ in range(2):  # two receives spent: the next is its last (maxReceiveCount 3)
        (m,) = mem.transport.receive(Q, 1, 0)
        mem.transport.change_visibility_batch(Q, [(m.receipt_handle, 0)])
    sqsq.send_many(t, [{"tag": f"n{i}"} for i in range(6)])
    Worker(mem.app, ["default"], concurrency=4, wait_time_seconds=0, burst=True, dlq_sweep_interval_seconds=0).run()
    assert len(overlaps) == 7
    assert [o for o in overlaps if "last" in o] == [("last",)]  # nothing ran beside it
    assert any(len(o) > 1 for o in overlaps)  # the others did run side by side
