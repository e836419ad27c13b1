"""Round trip or refusal: what send accepts reaches the task and comes back from get() as it was; what cannot is
refused at send (before any I/O), and a return value get() could not read back is recorded as FAILURE."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

import sqsq
from sqsq.executor import DeadLetter, Executor
from sqsq.message import Envelope
from sqsq.results import ResultRecord, Status
from sqsq.transport import OutgoingMessage
from sqsq.worker import Worker
from tests.unit.conftest import MemoryApp


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _echo(mem: MemoryApp) -> sqsq.Task[Any, Any]:
    @mem.app.task(name="rt.echo")
    def echo(v: Any) -> Any:
        return v

    return echo


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ((1, 2), "a tuple arrives as a list"),
        ([1, (2, 3)], "v.1: a tuple arrives as a list"),
        (b"raw", "a bytes arrives as a str"),
        ({1: "a"}, "keys arrive changed"),
        ({1, 2}, "a set arrives as a list"),
        (Decimal("1.10"), "a Decimal arrives as a str"),
        (dt.datetime(2026, 1, 1), "a datetime arrives as a str"),
        ("file-\udcff.txt", "lone surrogate"),
        ({"k": ["\ud800"]}, "v.k.0: text holds a lone surrogate"),
        (_nested(101), "nested more than 100 levels"),
        (10**4300, "more than 4299 digits"),
        (float("nan"), "NaN"),
    ],
    ids=["tuple", "nested-tuple", "bytes", "int-key", "set", "decimal", "datetime", "surrogate", "deep-surrogate",
         "too-deep", "huge-int", "nan"],
)
def test_value_json_cannot_carry_under_any_is_refused_at_send(mem: MemoryApp, value: Any, why: str) -> None:
    echo = _echo(mem)
    with pytest.raises(sqsq.ValidationError, match=why):
        sqsq.send(echo, {"v": value})
    assert mem.transport.depth("unit-default").visible == 0


@pytest.mark.parametrize(
    "value",
    ["a\x00b\x01\x1f\x7f", "\ufffe\uffff\U0010ffff", "\U0001f600", -0.0, 5e-324, 1e308, 2**64, -(10**4298),
     _nested(100), {"": None, "k": [True, 1, 1.5, "x"]}],
    ids=["controls", "non-characters", "emoji", "minus-zero", "subnormal", "huge-float", "u64", "4299-digits",
         "100-deep", "mixed"],
)
def test_edge_values_round_trip_exactly_through_a_worker(mem: MemoryApp, value: Any) -> None:
    echo = _echo(mem)
    handle = sqsq.send(echo, {"v": value})
    Worker(mem.app, burst=True, wait_time_seconds=0).run()
    got = handle.get(timeout_seconds=1)
    assert got == value and repr(got) == repr(value)


@pytest.mark.parametrize(
    ("annotation", "value"),
    [(Decimal, Decimal("1E+5")), (Decimal, Decimal("-0.000")), (bytes, b"\x00abc"), (tuple[int, str], (1, "a")),
     (frozenset[int], frozenset({3})), (dict[int, str], {1: "a"}), (dt.datetime, dt.datetime(1, 1, 1)),
     (dt.timedelta, dt.timedelta(days=-1, microseconds=1)), (float, -0.0)],
    ids=["decimal-exponent", "decimal-zero", "bytes", "tuple", "frozenset", "int-keys", "datetime-min",
         "timedelta", "minus-zero"],
)
def test_typed_parameters_carry_what_any_cannot(mem: MemoryApp, annotation: Any, value: Any) -> None:
    def typed(v):  # type: ignore[no-untyped-def]
        return v

    typed.__annotations__ = {"v": annotation, "return": annotation}
    task = mem.app.task(name="rt.typed")(typed)
    handle = sqsq.send(task, {"v": value})
    Worker(mem.app, burst=True, wait_time_seconds=0).run()
    got = handle.get(timeout_seconds=1)
    assert got == value and type(got) is type(value) and repr(got) == repr(value)


def test_a_datetime_whose_offset_has_seconds_is_refused_not_shifted(mem: MemoryApp) -> None:
    @mem.app.task()
    def when(at: dt.datetime) -> None:
        return None

    odd = dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(seconds=30)))  # JSON (ISO 8601) drops the 30 s
    with pytest.raises(sqsq.ValidationError, match="at: the datetime arrives changed"):
        sqsq.send(when, {"at": odd})


class StrictWhen(BaseModel):
    model_config = ConfigDict(strict=True)
    at: dt.datetime
    amount: Decimal


def test_a_strict_model_argument_runs_at_the_worker(mem: MemoryApp) -> None:
    @mem.app.task()
    def book(order: StrictWhen) -> StrictWhen:
        return order

    order = StrictWhen(at=dt.datetime(2026, 5, 1, 12, 30), amount=Decimal("9.99"))
    handle = sqsq.send(book, order)
    Worker(mem.app, burst=True, wait_time_seconds=0).run()
    assert handle.get(timeout_seconds=1) == order


@pytest.fixture
def unlimited_int_digits() -> Iterator[None]:
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(before)


def test_a_producer_that_lifted_pythons_int_digit_limit_is_still_held_to_sqsqs(
    mem: MemoryApp, unlimited_int_digits: None
) -> None:
    echo = _echo(mem)
    with pytest.raises(sqsq.ValidationError, match="more than 4299 digits"):
        sqsq.send(echo, {"v": 10**5000})


def _run_one(mem: MemoryApp) -> Any:
    (m,) = mem.transport.receive("unit-default", 1, 0)
    return Executor(mem.app).execute(m, 3)


@pytest.mark.parametrize(
    ("returned", "annotation", "why"),
    [
        (1.5, int, "does not match the return annotation"),
        ("file-\udcff.txt", str, "lone surrogate"),
        (_nested(150), Any, "nested more than 100 levels"),
        (10**4301, int, "more than 4299 digits"),
        (dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(seconds=30))), dt.datetime,
         "the datetime arrives changed"),
        (float("inf"), float, "NaN and infinite"),
    ],
    ids=["float-for-int", "surrogate", "too-deep", "huge-int", "offset-seconds", "infinity"],
)
def test_a_result_get_could_not_read_back_is_recorded_as_failure(
    mem: MemoryApp, returned: Any, annotation: Any, why: str
) -> None:
    def returns():  # type: ignore[no-untyped-def]
        return returned

    returns.__annotations__ = {"return": annotation}
    handle = sqsq.send(mem.app.task(name="rt.returns")(returns), {})
    outcome = _run_one(mem)
    assert isinstance(outcome, DeadLetter) and outcome.error_type == "ResultNotReadable"
    record = handle.record()
    assert record is not None and record.status is Status.FAILURE and record.result_json is None
    with pytest.raises(sqsq.TaskFailed, match=why) as err:
        handle.get(timeout_seconds=1)
    assert err.value.error_type == "ResultNotReadable"


def test_a_loosely_annotated_result_comes_back_as_its_json_form(mem: MemoryApp) -> None:
    @mem.app.task()
    def loose() -> dict[str, object]:
        return {"decimal": Decimal("0.10"), "pair": (1, 2), "keys": {1: "a"}, "at": dt.datetime(2026, 1, 1)}

    handle = sqsq.send(loose, {})
    Worker(mem.app, burst=True, wait_time_seconds=0).run()
    assert handle.get(timeout_seconds=1) == {
        "decimal": "0.10", "pair": [1, 2], "keys": {"1": "a"}, "at": "2026-01-01T00:00:00"
    }


def test_a_result_pydantic_coerces_by_its_annotation_is_still_stored(mem: MemoryApp) -> None:
    @mem.app.task()
    def pair() -> list[int]:
        return (1, 2)  # type: ignore[return-value]  # pydantic reads it as [1, 2], as the annotation says

    handle = sqsq.send(pair, {})
    Worker(mem.app, burst=True, wait_time_seconds=0).run()
    assert handle.get(timeout_seconds=1) == [1, 2]


def test_an_unreadable_stored_result_does_not_blame_the_arguments(mem: MemoryApp) -> None:
    @mem.app.task()
    def number() -> int:
        return 1

    mem.results.put(ResultRecord("t-odd", Status.SUCCESS, number.name, result_json="1.5", attempts=1).stamped(3600))
    with pytest.raises(sqsq.ResultNotReadable) as err:
        sqsq.AsyncResult("t-odd", app=mem.app, task=number).get(timeout_seconds=1)
    assert "invalid arguments" not in str(err.value) and "cannot be rebuilt" in str(err.value)


def test_the_worker_refuses_what_send_refuses_from_another_producer(mem: MemoryApp) -> None:
    echo = _echo(mem)
    too_deep = Envelope(id="foreign-1", task=echo.name, args={"v": _nested(101)}).to_body()
    mem.transport.send_batch("unit-default", [OutgoingMessage("0", too_deep)])
    outcome = _run_one(mem)
    assert isinstance(outcome, DeadLetter) and outcome.error_type == "ValidationError"
    record = mem.results.get("foreign-1")
    assert record is not None and "nested more than 100 levels" in (record.error_message or "")
