"""Delivery semantics of the executor and the worker on the in-memory twins: claims and leases (B25), the
visibility heartbeat's bounds (B14), shutdown release, and what happens when an SQS call fails (B06, B27, B29/B31).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

import sqsq
from sqsq.errors import AwsError
from sqsq.executor import (
    CLAIM_LEASE_MIN_SECONDS,
    CONSUMER_DIED,
    Ack,
    Executor,
    LogThrottle,
    Release,
    claim_lease_seconds,
)
from sqsq.results import ResultRecord, Status
from sqsq.results.memory import MemoryResults
from sqsq.transport import BatchFailure, ReceivedMessage
from sqsq.worker import Worker, heartbeat_extension_seconds
from tests.unit.conftest import MemoryApp

Q = "unit-default"


class FakeClock:
    """Epoch seconds that only move when told to."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _receive(mem: MemoryApp) -> ReceivedMessage:
    (m,) = mem.transport.receive(Q, 1, 1)
    return m


def _redelivered(m: ReceivedMessage, attempt: int) -> ReceivedMessage:
    return ReceivedMessage(m.queue_name, m.message_id, m.receipt_handle, m.body, attempt, m.sent_timestamp_seconds)


@contextmanager
def running(worker: Worker) -> Iterator[threading.Thread]:
    """Run ``worker`` in a thread; stop it and wait for it on exit."""
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        worker.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "worker did not stop"
        assert codes == [0]


def _wait_for(predicate: Any, timeout_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


# -- claims and leases (B25) -------------------------------------------------------------------------------


def test_claim_lease_is_the_shorter_of_remaining_time_and_time_limit_with_a_floor() -> None:
    assert claim_lease_seconds(600, 120) == 120
    assert claim_lease_seconds(60, 900) == 60
    assert claim_lease_seconds(None, None) == 900
    assert claim_lease_seconds(600, 0) == CLAIM_LEASE_MIN_SECONDS  # B25(b): remaining time reads 0
    assert claim_lease_seconds(600, -3) == CLAIM_LEASE_MIN_SECONDS


def _claim_app(mem: MemoryApp, clock: FakeClock) -> tuple[MemoryResults, list[str]]:
    results = MemoryResults(clock=clock)
    mem.app._results = results
    runs: list[str] = []
    return results, runs


class _Killed(BaseException):
    """Stands for the process dying after the task ran and before its outcome was written (SIGKILL, timeout)."""


def _dies_when_recording(results: MemoryResults, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    original = results.put
    left = [times]

    def put(record: ResultRecord) -> bool:
        if left[0] > 0:
            left[0] -= 1
            raise _Killed()
        return original(record)

    monkeypatch.setattr(results, "put", put)


def test_claimed_task_killed_mid_run_is_taken_over_after_its_lease_and_succeeds(
    mem: MemoryApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # B25(a): the first run writes its claim and then dies outside sqsq's completion path.
    clock = FakeClock()
    results, runs = _claim_app(mem, clock)

    @mem.app.task(claim=True, time_limit_seconds=60)
    def charge(order: str) -> str:
        runs.append(order)
        return "charged"

    h = sqsq.send(charge, {"order": "o-1"})
    m = _receive(mem)
    _dies_when_recording(results, monkeypatch, times=1)
    with pytest.raises(_Killed):
        Executor(mem.app, clock=clock).execute(m, 5)
    held = results.get(h.id)
    assert held is not None and held.status is Status.STARTED and held.lease_expires_at == clock.now + 60

    clock.now += 30  # redelivered while the lease still lives: deferred until it ends, not run
    early = Executor(mem.app, clock=clock).execute(_redelivered(m, 2), 5)
    assert isinstance(early, Release) and early.deferred and 30 <= early.delay_seconds <= 32
    clock.now += 31  # the lease has run out: the next delivery takes over and completes
    assert Executor(mem.app, clock=clock).execute(_redelivered(m, 3), 5) == Ack()
    done = results.get(h.id)
    assert done is not None and done.status is Status.SUCCESS and done.attempts == 3 and done.lease_expires_at is None
    assert runs == ["o-1", "o-1"]


def test_claim_written_with_zero_remaining_time_still_expires_after_the_floor(
    mem: MemoryApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # B25(b): the remaining invocation time reads 0 when the claim is written.
    clock = FakeClock()
    results, runs = _claim_app(mem, clock)

    @mem.app.task(claim=True, time_limit_seconds=300)
    def ship(order: str) -> str:
        runs.append(order)
        return "shipped"

    h = sqsq.send(ship, {"order": "o-2"})
    m = _receive(mem)
    _dies_when_recording(results, monkeypatch, times=2)  # the invocation times out each time
    with pytest.raises(_Killed):
        Executor(mem.app, clock=clock).execute(m, 5, remaining_time_seconds=0)
    record = results.get(h.id)
    assert record is not None and record.lease_expires_at == clock.now + CLAIM_LEASE_MIN_SECONDS
    clock.now += CLAIM_LEASE_MIN_SECONDS + 0.1
    with pytest.raises(_Killed):  # taken over (it runs again), not "already in progress" until the TTL
        Executor(mem.app, clock=clock).execute(_redelivered(m, 2), 5, remaining_time_seconds=0)
    assert runs == ["o-2", "o-2"]


def test_duplicate_arriving_while_the_first_runs_is_deferred_not_failed(mem: MemoryApp) -> None:
    # B25(c): a second delivery arrives while the first is genuinely still running.
    clock = FakeClock()
    results, runs = _claim_app(mem, clock)
    inside = threading.Event()
    finish = threading.Event()

    @mem.app.task(claim=True, time_limit_seconds=20, max_retries=0)
    def refund(order: str) -> str:
        runs.append(order)
        inside.set()
        assert finish.wait(10)
        return "refunded"

    h = sqsq.send(refund, {"order": "o-3"})
    m = _receive(mem)
    first: list[object] = []
    t = threading.Thread(target=lambda: first.append(Executor(mem.app, clock=clock).execute(m, 1)))
    t.start()
    assert inside.wait(10)
    # max_retries=0 and maxReceiveCount 1: a failed attempt here would be dead-lettered at once.
    second = Executor(mem.app, clock=clock).execute(_redelivered(m, 2), 1)
    assert isinstance(second, Release) and second.deferred and second.delay_seconds >= 20
    record = results.get(h.id)
    # still the first delivery's claim (with maxReceiveCount 1 its receive is the last: the ConsumerDied marker says
    # why, should that run never end); the deferred duplicate recorded nothing
    assert record is not None and (record.status, record.attempts, record.error_type) == (
        Status.STARTED, 1, CONSUMER_DIED)
    finish.set()
    t.join(10)
    assert first == [Ack()]
    assert Executor(mem.app, clock=clock).execute(_redelivered(m, 3), 1) == Ack(duplicate=True)
    assert runs == ["o-3"]


def test_claimed_task_with_ignore_result_still_records_success_to_end_its_lease(mem: MemoryApp) -> None:
    clock = FakeClock()
    results, _ = _claim_app(mem, clock)

    @mem.app.task(claim=True, ignore_result=True)
    def fire() -> int:
        return 7

    h = sqsq.send(fire, {})
    m = _receive(mem)
    assert Executor(mem.app, clock=clock).execute(m, 3) == Ack()
    record = results.get(h.id)
    assert record is not None and record.status is Status.SUCCESS and record.result_json is None
    assert Executor(mem.app, clock=clock).execute(_redelivered(m, 2), 3) == Ack(duplicate=True)


def test_unclaimed_first_delivery_reads_nothing_and_writes_once(mem: MemoryApp) -> None:
    reads: list[str] = []
    original_get = mem.results.get

    def counting_get(task_id: str) -> ResultRecord | None:
        reads.append(task_id)
        return original_get(task_id)

    mem.results.get = counting_get  # type: ignore[method-assign]

    @mem.app.task()
    def add(x: int) -> int:
        return x

    sqsq.send(add, {"x": 1})
    assert Executor(mem.app).execute(_receive(mem), 3) == Ack()
    assert reads == [] and mem.results.writes == 1


# -- heartbeat bounds (B14) --------------------------------------------------------------------------------


def test_heartbeat_extends_a_held_message_once_half_its_visibility_has_passed() -> None:
    kw: dict[str, Any] = {"received_at": 0.0, "visibility_timeout_seconds": 30}
    assert heartbeat_extension_seconds(now=10, visible_until=30, **kw) is None
    assert heartbeat_extension_seconds(now=16, visible_until=30, **kw) == 30
    # a message waiting to start is kept too (it is either started or released, never left to lapse)
    assert heartbeat_extension_seconds(now=16, visible_until=30, started_at=None, time_limit_seconds=5, **kw) == 30


def test_heartbeat_never_extends_past_the_task_time_limit() -> None:
    kw: dict[str, Any] = {"received_at": 0.0, "visibility_timeout_seconds": 30, "started_at": 0.0}
    # up to the limit + TIME_LIMIT_GRACE_SECONDS (5): the worker records TimeLimitExceeded before the message lapses
    assert heartbeat_extension_seconds(now=16, visible_until=30, time_limit_seconds=40, **kw) == 29
    assert heartbeat_extension_seconds(now=31, visible_until=46, time_limit_seconds=40, **kw) is None
    assert heartbeat_extension_seconds(now=45, visible_until=46, time_limit_seconds=40, **kw) is None


def test_heartbeat_never_extends_past_twelve_hours_from_the_receive() -> None:
    twelve_hours = 43_200
    got = heartbeat_extension_seconds(
        now=twelve_hours - 20, received_at=0.0, visible_until=twelve_hours - 5, visibility_timeout_seconds=30
    )
    assert got == 19
    assert heartbeat_extension_seconds(
        now=twelve_hours - 1, received_at=0.0, visible_until=twelve_hours, visibility_timeout_seconds=30
    ) is None


def test_task_longer_than_the_visibility_timeout_runs_once_and_its_message_stays_hidden(mem: MemoryApp) -> None:
    runs: list[int] = []

    @mem.app.task(time_limit_seconds=10)
    def slow(n: int) -> int:
        runs.append(n)
        time.sleep(3.2)  # more than 3 x the queue's 1 s visibility timeout
        return n

    h = sqsq.send(slow, {"n": 1})
    worker = Worker(mem.app, ["default"], concurrency=2, prefetch=0, wait_time_seconds=0)
    with running(worker):
        _wait_for(lambda: runs, 5)
        for _ in range(6):
            time.sleep(0.5)
            depth = mem.transport.depth(Q)
            assert depth.visible == 0 and depth.in_flight == 1  # never visible to another worker meanwhile
        _wait_for(lambda: mem.transport.depth(Q).in_flight == 0, 5)
    assert h.get(timeout_seconds=1) == 1 and runs == [1]


def test_worker_logs_when_a_time_limit_exceeds_the_visibility_timeout_and_when_retries_are_cut(
    mem: MemoryApp, caplog: pytest.LogCaptureFixture
) -> None:
    @mem.app.task(time_limit_seconds=600)
    def report() -> None: ...

    @mem.app.task(max_retries=9)
    def hopeful() -> None: ...

    caplog.set_level(logging.INFO, logger="sqsq")
    worker = Worker(mem.app, ["default"], wait_time_seconds=0, burst=True)
    assert worker.run() == 0
    text = caplog.text
    assert "time_limit_seconds=600 exceeds queue unit-default's VisibilityTimeout=1 s" in text
    assert "heartbeat" in text
    assert "asks for 9 retries but queue unit-default has maxReceiveCount=3: it gets 3 attempts" in text


# -- shutdown ----------------------------------------------------------------------------------------------


def test_stop_releases_unstarted_messages_at_once_and_lets_running_tasks_finish(mem: MemoryApp) -> None:
    for q in ("unit-slowq-dlq",):
        mem.transport.create_queue(q)
    mem.transport.create_queue("unit-slowq", visibility_timeout_seconds=60, dlq_name="unit-slowq-dlq", max_receive_count=5)
    started = threading.Event()
    runs: list[int] = []

    @mem.app.task(queue="slowq")
    def slow(n: int) -> int:
        runs.append(n)
        started.set()
        time.sleep(1.0)
        return n

    handles = sqsq.send_many(slow, [{"n": i} for i in range(6)])
    worker = Worker(mem.app, ["slowq"], concurrency=1, prefetch=5, wait_time_seconds=0, shutdown_grace_seconds=10)
    with running(worker) as thread:
        assert started.wait(5)
        _wait_for(lambda: mem.transport.depth("unit-slowq").visible == 0)
        worker.stop()
        # the 5 unstarted messages are visible again within moments, not after the 60 s visibility timeout
        _wait_for(lambda: mem.transport.depth("unit-slowq").visible == 5, 3)
        thread.join(10)
    assert len(runs) == 1
    assert handles[runs[0]].get(timeout_seconds=1) == runs[0]
    depth = mem.transport.depth("unit-slowq")
    assert (depth.visible, depth.in_flight) == (5, 0)  # the finished one was deleted, nothing else


def test_task_still_running_after_the_grace_period_is_released_not_deleted(mem: MemoryApp) -> None:
    mem.transport.create_queue("unit-stuck-dlq")
    mem.transport.create_queue("unit-stuck", visibility_timeout_seconds=60, dlq_name="unit-stuck-dlq", max_receive_count=5)
    started = threading.Event()

    @mem.app.task(queue="stuck")
    def stuck() -> None:
        started.set()
        time.sleep(5)

    h = sqsq.send(stuck, {})
    worker = Worker(mem.app, ["stuck"], concurrency=1, prefetch=0, wait_time_seconds=0, shutdown_grace_seconds=0.3)
    t0 = time.monotonic()
    with running(worker):
        assert started.wait(5)
    assert time.monotonic() - t0 < 4.5  # returned without waiting for the task
    assert mem.transport.depth("unit-stuck").visible == 1
    assert h.record() is None


# -- failing SQS calls -------------------------------------------------------------------------------------


class FlakyTransport:
    """Wraps a transport; named calls fail (raise or report failed entries) a number of times."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.raise_on: dict[str, list[AwsError]] = {}
        self.fail_entries: dict[str, int] = {}
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _enter(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        errors = self.raise_on.get(name)
        if errors:
            raise errors.pop(0)

    def receive(self, *args: Any, **kwargs: Any) -> list[ReceivedMessage]:
        self._enter("receive")
        result: list[ReceivedMessage] = self.inner.receive(*args, **kwargs)
        return result

    def delete_batch(self, queue_name: str, handles: Sequence[str]) -> list[BatchFailure]:
        self._enter("delete_batch")
        if self.fail_entries.get("delete_batch", 0) > 0:
            self.fail_entries["delete_batch"] -= 1
            return [BatchFailure(str(i), "InternalError", "injected", False) for i in range(len(handles))]
        result: list[BatchFailure] = self.inner.delete_batch(queue_name, handles)
        return result

    def change_visibility_batch(self, queue_name: str, changes: Sequence[tuple[str, int]]) -> list[BatchFailure]:
        self._enter("change_visibility_batch")
        result: list[BatchFailure] = self.inner.change_visibility_batch(queue_name, changes)
        return result


def _flaky(mem: MemoryApp) -> FlakyTransport:
    flaky = FlakyTransport(mem.transport)
    mem.app._transport = flaky  # type: ignore[assignment]
    return flaky


def test_failed_delete_is_retried_then_logged_and_the_redelivery_is_acknowledged_without_running(
    mem: MemoryApp, caplog: pytest.LogCaptureFixture
) -> None:
    # B29/B31: every delete attempt of the first flush fails.
    flaky = _flaky(mem)
    flaky.fail_entries["delete_batch"] = 3
    runs: list[int] = []

    @mem.app.task()
    def once(n: int) -> int:
        runs.append(n)
        return n

    h = sqsq.send(once, {"n": 1})
    caplog.set_level(logging.INFO, logger="sqsq")
    worker = Worker(mem.app, ["default"], concurrency=1, prefetch=0, wait_time_seconds=0)
    with running(worker):
        _wait_for(lambda: worker.stats.duplicates == 1, 10)  # came back after the 1 s visibility timeout
        _wait_for(lambda: mem.transport.depth(Q).in_flight == 0 and mem.transport.depth(Q).visible == 0, 5)
    assert runs == [1] and h.get(timeout_seconds=1) == 1
    assert flaky.calls["delete_batch"] == 3 + 1
    (message_line,) = [r.getMessage() for r in caplog.records if "delete on unit-default failed" in r.getMessage()]
    assert "InternalError" in message_line
    assert caplog.text.count("duplicate delivery acknowledged") == 1
    assert mem.transport.depth("unit-default-dlq").visible == 0


def test_retry_whose_visibility_change_fails_is_not_deleted_and_runs_again(mem: MemoryApp) -> None:
    # B06: the retry cannot be scheduled; the message must not be acknowledged.
    flaky = _flaky(mem)
    flaky.raise_on["change_visibility_batch"] = [AwsError("throttled", code="ThrottlingException")] * 3
    runs: list[int] = []

    @mem.app.task(retry_on=(ConnectionError,), backoff=sqsq.Backoff(base_seconds=0.1, jitter=False))
    def flaky_task(n: int) -> int:
        runs.append(n)
        if len(runs) == 1:
            raise ConnectionError("reset")
        return n

    h = sqsq.send(flaky_task, {"n": 5})
    worker = Worker(mem.app, ["default"], concurrency=1, prefetch=0, wait_time_seconds=0)
    with running(worker):
        _wait_for(lambda: len(runs) == 2, 10)
        assert h.get(timeout_seconds=5) == 5
    assert worker.stats.visibility_changes_failed == 1


def test_receive_failures_back_off_log_once_with_a_clock_skew_hint_and_recover(
    mem: MemoryApp, caplog: pytest.LogCaptureFixture
) -> None:
    # B27(a): five signature-expired receives, then the calls succeed.
    flaky = _flaky(mem)
    flaky.raise_on["receive"] = [
        AwsError("Signature expired: 20260101T000000Z is now earlier than ...", code="SignatureDoesNotMatch")
        for _ in range(5)
    ]
    sleeps: list[float] = []

    @mem.app.task()
    def add(x: int) -> int:
        return x

    h = sqsq.send(add, {"x": 3})
    caplog.set_level(logging.INFO, logger="sqsq")
    worker = Worker(mem.app, ["default"], wait_time_seconds=0)
    original_wait = worker._stopping.wait

    def fast_wait(timeout: float | None = None) -> bool:  # record the backoff instead of sleeping it
        if timeout is not None and timeout >= 1:
            sleeps.append(timeout)
            timeout = 0.01
        return original_wait(timeout)

    worker._stopping.wait = fast_wait  # type: ignore[method-assign]
    with running(worker):
        assert h.get(timeout_seconds=10) == 3
    assert sleeps[:5] == [1, 2, 4, 8, 16]  # growing, capped at 30 s
    failures = [r.getMessage() for r in caplog.records if "receive from unit-default failed" in r.getMessage()]
    assert len(failures) == 1 and "clock skew" in failures[0]
    assert "works again after 5 failure(s)" in caplog.text


def test_results_store_outage_pauses_receiving_and_loses_nothing(
    mem: MemoryApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sqsq.executor.recording.STORE_UNAVAILABLE_RETRY_SECONDS", 1)
    outage = [True]
    original_put = mem.results.put

    def put(record: ResultRecord) -> bool:
        if outage[0]:
            raise AwsError("DynamoDB unavailable", code="InternalServerError")
        return original_put(record)

    mem.results.put = put  # type: ignore[method-assign]

    @mem.app.task()
    def add(x: int) -> int:
        return x

    handles = sqsq.send_many(add, [{"x": i} for i in range(3)])
    worker = Worker(mem.app, ["default"], concurrency=1, prefetch=2, wait_time_seconds=0)
    with running(worker):
        _wait_for(lambda: worker.stats.released >= 1, 10)
        assert worker._paused_until > time.monotonic()
        outage[0] = False
        assert [h.get(timeout_seconds=60) for h in handles] == [0, 1, 2]
    assert mem.transport.depth("unit-default-dlq").visible == 0


def test_message_redelivered_while_held_is_not_run_twice_by_the_same_worker(mem: MemoryApp) -> None:
    # The heartbeat's visibility change fails, the 1 s visibility lapses and SQS hands the message out again.
    flaky = _flaky(mem)
    flaky.raise_on["change_visibility_batch"] = [AwsError("throttled", code="ThrottlingException")] * 100
    runs: list[int] = []

    @mem.app.task()
    def slow(n: int) -> int:
        runs.append(n)
        time.sleep(2.5)
        return n

    h = sqsq.send(slow, {"n": 1})
    worker = Worker(mem.app, ["default"], concurrency=2, prefetch=10, wait_time_seconds=0)
    with running(worker):
        assert h.get(timeout_seconds=10) == 1
        _wait_for(lambda: mem.transport.depth(Q).in_flight == 0 and mem.transport.depth(Q).visible == 0, 5)
    assert runs == [1]
    assert worker.stats.redelivered_while_held >= 1


def test_log_throttle_logs_once_per_interval_and_counts_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttle = LogThrottle(logging.getLogger("sqsq.test"), interval_seconds=30, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="sqsq.test")
    assert throttle.log(logging.ERROR, "k", "down %d", 1)
    for i in range(1000):
        assert not throttle.log(logging.ERROR, "k", "down %d", i)
    now[0] = 31
    assert throttle.log(logging.ERROR, "k", "down %d", 2)
    assert [r.getMessage() for r in caplog.records] == ["down 1", "down 2 (1000 more like this in the last 30 s)"]
