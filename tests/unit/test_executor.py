"""The executor: one message in, one outcome out, with the outcome recorded before it may be acknowledged."""

from __future__ import annotations

from decimal import Decimal

import pytest

import sqsq
from sqsq.errors import AwsError
from sqsq.executor import Ack, DeadLetter, Executor, Release, RetryAfter, attempts_allowed
from sqsq.message import undecodable_id
from sqsq.results import ResultRecord, Status
from sqsq.transport import ReceivedMessage
from tests.unit.conftest import MemoryApp


def _receive(mem: MemoryApp, queue: str = "unit-default") -> ReceivedMessage:
    (m,) = mem.transport.receive(queue, 1, 1)
    return m


def _as_attempt(m: ReceivedMessage, attempt: int) -> ReceivedMessage:
    return ReceivedMessage(m.queue_name, m.message_id, m.receipt_handle, m.body, attempt, m.sent_timestamp_seconds)


def test_success_is_recorded_then_acknowledged(mem: MemoryApp) -> None:
    @mem.app.task()
    def add(x: int, y: int) -> int:
        return x + y

    h = sqsq.send(add, {"x": 2, "y": 3})
    assert Executor(mem.app).execute(_receive(mem), 3) == Ack()
    record = mem.results.get(h.id)
    assert record is not None and record.status is Status.SUCCESS and record.attempts == 1
    assert h.get(timeout_seconds=1) == 5
    assert mem.results.writes == 1  # one write per task: no STARTED write unless asked


def test_failing_attempt_records_retry_with_the_error(mem: MemoryApp) -> None:
    @mem.app.task(retry_on=(Exception,))
    def boom() -> None:
        raise RuntimeError("disk full")

    h = sqsq.send(boom, {})
    outcome = Executor(mem.app).execute(_receive(mem), 3)
    assert isinstance(outcome, RetryAfter) and outcome.delay_seconds is None
    record = h.record()
    assert record is not None and record.status is Status.RETRY
    assert (record.error_type, record.error_message, record.attempts) == ("RuntimeError", "disk full", 1)


def test_last_attempt_records_failure_and_dead_letters(mem: MemoryApp) -> None:
    @mem.app.task()
    def boom() -> None:
        raise RuntimeError("disk full")

    h = sqsq.send(boom, {})
    outcome = Executor(mem.app).execute(_as_attempt(_receive(mem), 3), 3)
    assert outcome == DeadLetter("RuntimeError", "disk full")
    with pytest.raises(sqsq.TaskFailed) as err:
        h.get(timeout_seconds=1)
    assert err.value.error_type == "RuntimeError" and "disk full" in (err.value.traceback or "")


def test_exception_outside_retry_on_fails_at_once(mem: MemoryApp) -> None:
    @mem.app.task(retry_on=(ConnectionError,))
    def strict() -> None:
        raise ValueError("bad input")

    sqsq.send(strict, {})
    assert isinstance(Executor(mem.app).execute(_receive(mem), 5), DeadLetter)


def test_retry_raised_by_task_sets_its_own_delay(mem: MemoryApp) -> None:
    @mem.app.task()
    def later() -> None:
        raise sqsq.Retry(delay_seconds=7, reason="rate limited")

    sqsq.send(later, {})
    outcome = Executor(mem.app).execute(_receive(mem), 5)
    assert isinstance(outcome, RetryAfter) and outcome.delay_seconds == 7


def test_backoff_sets_the_delay_between_attempts(mem: MemoryApp) -> None:
    @mem.app.task(retry_on=(ConnectionError,), backoff=sqsq.Backoff(base_seconds=2, factor=3, max_seconds=100, jitter=False))
    def flaky() -> None:
        raise ConnectionError("reset")

    sqsq.send(flaky, {})
    m = _receive(mem)
    delays = [Executor(mem.app).execute(_as_attempt(m, n), 10) for n in (1, 2, 3)]
    assert [d.delay_seconds for d in delays if isinstance(d, RetryAfter)] == [2, 6, 18]


def test_attempts_are_bounded_by_max_retries_and_max_receive_count() -> None:
    assert attempts_allowed(None, 5) == 5
    assert attempts_allowed(2, 5) == 3
    assert attempts_allowed(10, 5) == 5
    assert attempts_allowed(0, None) == 1
    assert attempts_allowed(None, None) == 4


def test_unknown_task_is_recorded_as_failure_and_dead_lettered(mem: MemoryApp) -> None:
    body = '{"v":1,"id":"t-unknown","task":"no.such","args":{}}'
    mem.transport.send_batch("unit-default", [sqsq.transport.OutgoingMessage("0", body)])
    outcome = Executor(mem.app).execute(_receive(mem), 3)
    assert isinstance(outcome, DeadLetter) and outcome.error_type == "TaskNotRegistered"
    record = mem.results.get("t-unknown")
    assert record is not None and record.status is Status.FAILURE and record.task_name == "no.such"


def test_invalid_args_in_a_message_are_recorded_as_failure(mem: MemoryApp) -> None:
    @mem.app.task(name="adder")
    def add(x: int) -> int:
        return x

    body = '{"v":1,"id":"t-bad","task":"adder","args":{"x":"nope"}}'
    mem.transport.send_batch("unit-default", [sqsq.transport.OutgoingMessage("0", body)])
    outcome = Executor(mem.app).execute(_receive(mem), 3)
    assert isinstance(outcome, DeadLetter) and outcome.error_type == "ValidationError"


def test_malformed_body_is_recorded_under_an_id_derived_from_the_body(mem: MemoryApp) -> None:
    mem.transport.send_batch("unit-default", [sqsq.transport.OutgoingMessage("0", "<xml/>")])
    m = _receive(mem)
    outcome = Executor(mem.app).execute(m, 3)
    assert isinstance(outcome, DeadLetter) and outcome.error_type == "MessageDecodeError"
    record = mem.results.get(undecodable_id("<xml/>"))
    assert record is not None and record.status is Status.FAILURE


def test_redelivery_of_a_finished_task_is_acknowledged_without_running_it(mem: MemoryApp) -> None:
    runs: list[int] = []

    @mem.app.task()
    def once(n: int) -> int:
        runs.append(n)
        return n

    sqsq.send(once, {"n": 1})
    m = _receive(mem)
    assert Executor(mem.app).execute(m, 3) == Ack()
    assert Executor(mem.app).execute(_as_attempt(m, 2), 3) == Ack(duplicate=True)
    assert runs == [1]


def test_result_store_outage_keeps_the_message(mem: MemoryApp) -> None:
    @mem.app.task()
    def add(x: int, y: int) -> int:
        return x + y

    def down(record: ResultRecord) -> bool:
        raise AwsError("DynamoDB is down", code="InternalServerError")

    sqsq.send(add, {"x": 1, "y": 1})
    mem.results.put = down  # type: ignore[method-assign]
    assert isinstance(Executor(mem.app).execute(_receive(mem), 3), Release)


def test_result_too_large_is_a_recorded_failure(mem: MemoryApp) -> None:
    @mem.app.task()
    def huge() -> str:
        return "x" * 500_000

    h = sqsq.send(huge, {})
    outcome = Executor(mem.app).execute(_receive(mem), 3)
    assert isinstance(outcome, DeadLetter) and outcome.error_type == "ResultTooLarge"
    with pytest.raises(sqsq.TaskFailed, match="ResultTooLarge"):
        h.get(timeout_seconds=1)


def test_ignore_result_stores_no_success(mem: MemoryApp) -> None:
    @mem.app.task(ignore_result=True)
    def fire() -> int:
        return 1

    h = sqsq.send(fire, {})
    assert Executor(mem.app).execute(_receive(mem), 3) == Ack()
    assert mem.results.writes == 0
    with pytest.raises(sqsq.SqsqError, match="ignore_result"):
        h.get(timeout_seconds=1)


def test_ignore_result_with_track_started_stores_no_state_so_the_task_is_not_left_started(mem: MemoryApp) -> None:
    @mem.app.task(ignore_result=True, track_started=True)
    def fire() -> int:
        return 1

    h = sqsq.send(fire, {})
    assert Executor(mem.app).execute(_receive(mem), 3) == Ack()
    assert mem.results.writes == 0
    assert h.record() is None  # not a STARTED record that never ends
    with pytest.raises(sqsq.SqsqError, match="ignore_result"):  # not a misleading ResultTimeout
        h.get(timeout_seconds=1)


def test_float_decimal_and_big_int_results_survive(mem: MemoryApp) -> None:
    @mem.app.task()
    def precise() -> dict[str, float | Decimal | int]:
        return {"f": 0.1, "d": Decimal("0.10"), "big": 2**80}

    h = sqsq.send(precise, {})
    Executor(mem.app).execute(_receive(mem), 3)
    value = h.get(timeout_seconds=1)
    assert value["f"] == 0.1 and value["big"] == 2**80 and str(value["d"]) == "0.10"


def test_async_task_runs(mem: MemoryApp) -> None:
    @mem.app.task()
    async def double(x: int) -> int:
        return 2 * x

    h = sqsq.send(double, {"x": 21})
    Executor(mem.app).execute(_receive(mem), 3)
    assert h.get(timeout_seconds=1) == 42
