"""Task registration, argument validation at send, and what goes on the queue."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from pydantic import BaseModel

import sqsq
from sqsq.message import Envelope
from tests.unit.conftest import MemoryApp


class Order(BaseModel):
    when: dt.datetime
    order_id: uuid.UUID
    amount: Decimal
    tags: set[str]


class Resize(BaseModel):
    key: str
    width: int = 256


def test_task_is_registered_under_module_and_function_name(mem: MemoryApp) -> None:
    @mem.app.task()
    def add(x: int, y: int) -> int:
        return x + y

    assert add.name == f"{__name__}.test_task_is_registered_under_module_and_function_name.<locals>.add"
    assert mem.app.tasks[add.name] is add
    assert add(1, 2) == 3  # calling the task runs it here, no queue


def test_explicit_name_and_queue(mem: MemoryApp) -> None:
    @mem.app.task(name="img.resize", queue="images")
    def resize(args: Resize) -> dict[str, int]:
        return {"w": args.width}

    h = sqsq.send(resize, Resize(key="a.png"))
    (m,) = mem.transport.receive("unit-images", 10, 0)
    env = Envelope.from_body(m.body)
    assert (env.task, env.id, env.args) == ("img.resize", h.id, {"key": "a.png", "width": 256})


def test_invalid_args_raise_before_anything_is_sent(mem: MemoryApp) -> None:
    @mem.app.task()
    def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(sqsq.ValidationError) as err:
        sqsq.send(add, {"x": "not a number", "y": 1})
    assert err.value.task_name == add.name and err.value.errors[0]["loc"] == ("x",)
    with pytest.raises(sqsq.ValidationError):
        sqsq.send(add, {"x": 1, "y": 2, "z": 3})  # extra keys are refused
    with pytest.raises(sqsq.ValidationError):
        sqsq.send_many(add, [{"x": 1, "y": 2}, {"x": 1}])  # one bad call: none of the batch is sent
    assert mem.transport.depth("unit-default").visible == 0


def test_unknown_task_name_raises_before_sending(mem: MemoryApp) -> None:
    with pytest.raises(sqsq.TaskNotRegistered):
        mem.app.send("no.such.task", {})
    assert mem.transport.depth("unit-default").visible == 0


def test_send_by_registered_name(mem: MemoryApp) -> None:
    @mem.app.task(name="tests.add")
    def add(x: int, y: int) -> int:
        return x + y

    h = mem.app.send("tests.add", {"x": 1, "y": 2})
    (m,) = mem.transport.receive("unit-default", 10, 0)
    assert json.loads(m.body)["id"] == h.id


def test_delay_seconds_is_checked_against_the_365_day_limit(mem: MemoryApp) -> None:
    # Issue 12: past SQS's 900 s a delay goes through a one-time schedule, up to 365 days.
    @mem.app.task()
    def noop() -> None:
        return None

    with pytest.raises(sqsq.LimitExceeded, match="365 days"):
        sqsq.send(noop, {}, delay_seconds=365 * 86_400 + 1)
    with pytest.raises(sqsq.LimitExceeded):
        sqsq.send(noop, {}, delay_seconds=-1)
    sqsq.send(noop, {}, delay_seconds=900)
    assert mem.transport.depth("unit-default").delayed == 1


def test_non_json_native_args_round_trip_exactly(mem: MemoryApp) -> None:
    seen: list[Order] = []

    @mem.app.task()
    def take(order: Order) -> None:
        seen.append(order)

    order = Order(
        when=dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        order_id=uuid.uuid4(),
        amount=Decimal("0.10"),
        tags={"a", "b"},
    )
    sqsq.send(take, order)
    (m,) = mem.transport.receive("unit-default", 1, 0)
    decoded = take.validate_args(Envelope.from_body(m.body).args)
    take.run(decoded)
    assert seen[0] == order
    assert str(seen[0].amount) == "0.10"
    assert seen[0].when.utcoffset() == dt.timedelta(hours=5, minutes=30)


def test_payload_over_queue_maximum_message_size_is_refused_before_sending(mem: MemoryApp) -> None:
    mem.transport.create_queue("unit-small", max_message_size_bytes=1024)

    @mem.app.task(queue="small")
    def store(text: str) -> None:
        return None

    sqsq.send(store, {"text": "a" * 600})
    with pytest.raises(sqsq.PayloadTooLarge) as err:
        sqsq.send(store, {"text": "é" * 600})  # 600 characters but 1,200 bytes: sizes are counted in bytes
    assert err.value.limit_bytes == 1024 and err.value.size_bytes > 1024
    assert mem.transport.depth("unit-small").visible == 1


def test_send_many_splits_batches_by_total_size(mem: MemoryApp) -> None:
    mem.transport.create_queue("unit-mid", max_message_size_bytes=262_144)

    @mem.app.task(queue="mid")
    def store(text: str) -> None:
        return None

    handles = sqsq.send_many(store, [{"text": "x" * 60_000} for _ in range(10)])  # ~600 KB in all
    assert len(handles) == 10
    assert mem.transport.depth("unit-mid").visible == 10


def test_batch_context_turns_single_sends_into_batches(mem: MemoryApp) -> None:
    calls: list[int] = []
    original = mem.transport.send_batch

    def counting(queue_name: str, messages: list) -> list:  # type: ignore[type-arg]
        calls.append(len(messages))
        return original(queue_name, messages)

    mem.transport.send_batch = counting  # type: ignore[method-assign]

    @mem.app.task()
    def add(x: int, y: int) -> int:
        return x + y

    with mem.app.batch():
        handles = [sqsq.send(add, {"x": i, "y": i}) for i in range(25)]
    assert calls == [10, 10, 5]
    assert len({h.id for h in handles}) == 25


def test_forbidden_characters_are_escaped_not_sent_raw(mem: MemoryApp) -> None:
    @mem.app.task()
    def echo(text: str) -> str:
        return text

    sqsq.send(echo, {"text": "a\ufffeb\x00c"})
    (m,) = mem.transport.receive("unit-default", 1, 0)
    assert "\ufffe" not in m.body and "\x00" not in m.body
    assert Envelope.from_body(m.body).args == {"text": "a\ufffeb\x00c"}


def test_envelope_rejects_foreign_and_future_bodies() -> None:
    for body in ["not json", "[1,2]", '{"v": 99, "id": "a", "task": "t", "args": {}}', '{"v": 1}']:
        with pytest.raises(sqsq.MessageDecodeError):
            Envelope.from_body(body)


def test_unannotated_parameter_is_refused_at_decoration(mem: MemoryApp) -> None:
    with pytest.raises(TypeError, match="annotation"):

        @mem.app.task()
        def bad(x) -> None:  # type: ignore[no-untyped-def]
            return None
