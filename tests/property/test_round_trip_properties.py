"""Property: whatever value send accepts for an identity task comes back identical from get() after a worker ran
it; anything else is refused at send with sqsq.ValidationError, before any I/O. On the in-memory twins."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import sqsq
from sqsq.app import App
from sqsq.executor import Ack, Executor
from sqsq.results.memory import MemoryResults
from sqsq.transport.memory import MemoryTransport

# Text of every kind: any code point, lone surrogates, C0 controls, the non-characters SQS refuses, astral planes.
any_text = st.text(st.characters(codec=None, categories=None), max_size=30) | st.sampled_from(
    ["", "\x00", "\ud800", "a\udfffb", "\ufffe\uffff", "\U0010ffff", "\x7f\x1b[31m", "\r\n\t", "\\u0000", '"']
)
# Numbers of every size: whole numbers up to and past the digit limit, every float (subnormals, -0.0, NaN, inf).
any_int = st.integers() | st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**4298, -(10**4298), 10**4299, -(10**4299)])
any_float = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True) | st.sampled_from(
    [-0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]
)
scalars = st.none() | st.booleans() | any_int | any_float | any_text
keys = any_text | st.integers(-3, 3)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)


def _deep(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


deep_values = st.builds(_deep, st.integers(95, 105), scalars)
typed = st.one_of(
    st.tuples(st.just("dec"), st.decimals(allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("dt"), st.datetimes(timezones=st.none() | st.timezones())),
    st.tuples(st.just("bytes"), st.binary(max_size=12)),
    st.tuples(st.just("td"), st.timedeltas()),
    st.tuples(st.just("float"), any_float),
    st.tuples(st.just("str"), any_text),
    st.tuples(st.just("tuple"), st.tuples(any_int, any_text)),
)


def identical(a: Any, b: Any) -> bool:
    """The test's own notion of "the same value": same type at every level; floats, Decimals by repr."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, Decimal):
        return repr(a) == repr(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(identical(v, b[k]) for k, v in a.items())
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dt.datetime):
        return a == b and a.utcoffset() == b.utcoffset() and a.fold == b.fold and repr(a)[:40] == repr(b)[:40]
    return bool(a == b)


def _app() -> App:
    transport, results = MemoryTransport(), MemoryResults()
    transport.create_queue("rt-default-dlq")
    transport.create_queue("rt-default", visibility_timeout_seconds=5, dlq_name="rt-default-dlq", max_receive_count=3)
    app = App("rt", transport=transport, results=results, endpoint_url="http://unused.invalid")
    annotations: dict[str, Any] = {"any": Any, "dec": Decimal, "dt": dt.datetime, "bytes": bytes,
                                   "td": dt.timedelta, "float": float, "str": str, "tuple": tuple[int, str]}
    for name, annotation in annotations.items():
        def echo(v):  # type: ignore[no-untyped-def]
            return v

        echo.__annotations__ = {"v": annotation, "return": annotation}
        app.task(name=name)(echo)
    return app


_APP = _app()


def _check(cases: list[tuple[str, Any]]) -> None:
    app = _APP
    sent: list[tuple[sqsq.AsyncResult, Any]] = []
    for name, value in cases:
        try:
            sent.append((app.send(name, {"v": value}), value))
        except sqsq.ValidationError:
            event("refused")
            continue  # refused before any I/O: allowed
        event("sent")
    assert app.transport.depth("rt-default").visible == len(sent)  # refused ones sent nothing
    # The executor a worker runs each message through (the worker's own loop is covered elsewhere; it is slower).
    executor = Executor(app)
    while messages := app.transport.receive("rt-default", 10, 0):
        for message in messages:
            assert isinstance(executor.execute(message, 3), Ack)
        app.transport.delete_batch("rt-default", [m.receipt_handle for m in messages])
    for handle, value in sent:
        got = handle.get(timeout_seconds=1)  # a FAILURE here (TaskFailed) fails the property
        assert identical(value, got), (value, got)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=1, max_size=5))
def test_any_value_either_round_trips_exactly_or_is_refused_at_send(batch: list[Any]) -> None:
    _check([("any", v) for v in batch])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(deep_values, min_size=1, max_size=3))
def test_nesting_around_the_limit_either_round_trips_or_is_refused(batch: list[Any]) -> None:
    _check([("any", v) for v in batch])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(typed, min_size=1, max_size=5))
def test_typed_values_either_round_trip_exactly_or_are_refused(batch: list[tuple[str, Any]]) -> None:
    _check(batch)


def test_the_property_can_fail() -> None:
    # The oracle is strict enough to see what JSON loses (so a passing property means something).
    assert not identical((1, 2), [1, 2]) and not identical(-0.0, 0.0) and not identical(1, 1.0)
    assert not identical(Decimal("1.10"), Decimal("1.1")) and not identical({1: 2}, {"1": 2})
    with pytest.raises(AssertionError):
        assert identical(True, 1)
