"""Bad input and misbehaving tasks: refused at send, or recorded as failures; never a crash, never a lost task."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

import sqsq
from sqsq.errors import AwsError
from sqsq.executor import DeadLetter, Executor
from sqsq.message import Envelope, undecodable_id
from sqsq.results import ResultRecord, Status
from sqsq.transport import OutgoingMessage
from sqsq.worker import Worker
from tests.unit.conftest import MemoryApp

DEEP_JSON = "[" * 100_000 + "]" * 100_000


def test_deeply_nested_json_body_is_an_undecodable_failure() -> None:
    with pytest.raises(sqsq.MessageDecodeError):
        Envelope.from_body(DEEP_JSON)


def test_worker_survives_a_deeply_nested_body_and_runs_the_rest(mem: MemoryApp) -> None:
    @mem.app.task()
    def add(x: int, y: int) -> int:
        return x + y

    mem.transport.send_batch("unit-default", [OutgoingMessage("0", DEEP_JSON)])
    handles = [sqsq.send(add, {"x": i, "y": 1}) for i in range(5)]
    Worker(mem.app, burst=True, wait_time_seconds=0).run()
    assert [h.get(timeout_seconds=1) for h in handles] == [1, 2, 3, 4, 5]
    record = mem.results.get(undecodable_id(DEEP_JSON))
    assert record is not None and record.error_type == "MessageDecodeError"
    assert mem.transport.depth("unit-default-dlq").visible == 1


@pytest.mark.parametrize("raised", [SystemExit(3), KeyboardInterrupt(), BaseException("odd")])
def test_task_raising_a_base_exception_is_a_recorded_failure_and_the_worker_goes_on(
    mem: MemoryApp, raised: BaseException
) -> None:
    @mem.app.task()
    def quits() -> None:
        raise raised

    @mem.app.task()
    def add(x: int, y: int) -> int:
        return x + y

    bad = sqsq.send(quits, {})
    good = sqsq.send(add, {"x": 1, "y": 2})
    Worker(mem.app, concurrency=1, burst=True, wait_time_seconds=0).run()
    assert good.get(timeout_seconds=1) == 3
    with pytest.raises(sqsq.TaskFailed) as err:
        bad.get(timeout_seconds=1)
    assert err.value.error_type == type(raised).__name__


def test_exception_whose_str_raises_is_still_recorded(mem: MemoryApp) -> None:
    class Nasty(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    @mem.app.task(max_retries=0)
    def nasty() -> None:
        raise Nasty()

    h = sqsq.send(nasty, {})
    (m,) = mem.transport.receive("unit-default", 1, 0)
    assert isinstance(Executor(mem.app).execute(m, 3), DeadLetter)
    record = h.record()
    assert record is not None and record.status is Status.FAILURE and record.error_type == "Nasty"


def test_nan_and_infinite_arguments_are_refused_at_send(mem: MemoryApp) -> None:
    @mem.app.task()
    def price(p: float, extra: dict[str, Any]) -> None:
        return None

    for args in ({"p": float("nan"), "extra": {}}, {"p": 1.0, "extra": {"limit": float("inf")}}):
        with pytest.raises(sqsq.ValidationError, match="NaN and infinite"):
            sqsq.send(price, args)
    assert mem.transport.depth("unit-default").visible == 0


def test_an_int_too_long_for_json_is_refused_at_send(mem: MemoryApp) -> None:
    @mem.app.task()
    def big(n: int) -> None:
        return None

    with pytest.raises(sqsq.ValidationError, match="more than 4299 digits cannot travel as JSON"):
        sqsq.send(big, {"n": 10**5000})


def test_nan_result_is_a_recorded_failure_not_a_silent_null(mem: MemoryApp) -> None:
    @mem.app.task()
    def ratio() -> float:
        return float("nan")

    h = sqsq.send(ratio, {})
    (m,) = mem.transport.receive("unit-default", 1, 0)
    assert isinstance(Executor(mem.app).execute(m, 3), DeadLetter)
    with pytest.raises(sqsq.TaskFailed, match="NaN"):
        h.get(timeout_seconds=1)


@pytest.mark.parametrize("sent_at", ["Infinity", "-Infinity", "NaN", "1e300", "-5"])
def test_envelope_with_an_impossible_sent_at_is_undecodable(sent_at: str) -> None:
    body = f'{{"v":1,"id":"a","task":"t","args":{{}},"sent_at":{sent_at}}}'
    with pytest.raises(sqsq.MessageDecodeError):
        Envelope.from_body(body)


def test_retry_with_a_nan_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="delay_seconds"):
        sqsq.Retry(delay_seconds=float("nan"))


def test_unreadable_stored_result_raises_a_sqsq_error(mem: MemoryApp) -> None:
    @mem.app.task()
    def number() -> int:
        return 1

    mem.results.put(ResultRecord("t-odd", Status.SUCCESS, number.name, result_json='"not a number"', attempts=1
                                 ).stamped(3600))
    with pytest.raises(sqsq.ValidationError, match="cannot be rebuilt"):
        sqsq.AsyncResult("t-odd", app=mem.app, task=number).get(timeout_seconds=1)


def test_send_many_that_breaks_midway_reports_exactly_what_was_sent(mem: MemoryApp) -> None:
    @mem.app.task()
    def add(x: int, y: int) -> int:
        return x + y

    calls = {"n": 0}
    original = mem.transport.send_batch

    def third_request_fails(queue_name: str, messages: list[OutgoingMessage]) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise AwsError("SendMessageBatch failed: InternalError", code="InternalError")
        return original(queue_name, messages)

    mem.transport.send_batch = third_request_fails  # type: ignore[method-assign]
    with pytest.raises(sqsq.SendFailed) as err:
        sqsq.send_many(add, [{"x": i, "y": 0} for i in range(50)])
    assert len(err.value.sent_ids) == 20 and len(err.value.failures) == 30
    assert set(err.value.sent_ids).isdisjoint(err.value.failures)
    queued = []
    while got := mem.transport.receive("unit-default", 10, 0):
        queued += [json.loads(m.body)["id"] for m in got]
    assert sorted(queued) == sorted(err.value.sent_ids)  # each sent once, none of the failed ones


def test_send_whose_first_request_fails_raises_the_aws_error(mem: MemoryApp) -> None:
    @mem.app.task()
    def add(x: int, y: int) -> int:
        return x + y

    def down(queue_name: str, messages: list[OutgoingMessage]) -> list[Any]:
        raise AwsError("cannot reach the endpoint", code=None)

    mem.transport.send_batch = down  # type: ignore[method-assign]
    with pytest.raises(AwsError, match="cannot reach") as err:
        sqsq.send_many(add, [{"x": 1, "y": 1}])
    assert not isinstance(err.value, sqsq.SendFailed)


class Plant(BaseModel):
    name: str
    days: int


def test_a_model_task_sent_its_model_under_the_parameter_name_is_told_to_send_the_fields(mem: MemoryApp) -> None:
    @mem.app.task()
    def water(plant: Plant) -> str:
        return plant.name

    with pytest.raises(sqsq.ValidationError) as refused:
        sqsq.send(water, {"plant": {"name": "fern", "days": 3}})
    text = str(refused.value)
    assert "name: Field required" in text  # pydantic's errors first, then what to do
    assert "takes one Plant: send its fields (name, days) as the arguments, or a Plant instance" in text
    assert "plant is not one of them" in text and "fern" not in text  # never the values
    assert [e["loc"] for e in refused.value.errors] == [("name",), ("days",)]
    assert sqsq.send(water, {"name": "fern", "days": 3}).id  # the fields themselves are right
    assert mem.transport.depth("unit-default").visible == 1
