"""Send options are typed once (sqsq.send_options, PEP 692 ``**options``); at run time an unknown one is still a
TypeError, as it was when every signature spelled the keywords out, and nothing is sent."""

from __future__ import annotations

from typing import Any

import pytest

import sqsq
from tests.unit.conftest import MemoryApp


@pytest.fixture
def add(mem: MemoryApp) -> Any:
    @mem.app.task
    def add(x: int, y: int) -> int:
        return x + y

    return add


def _queued(mem: MemoryApp) -> int:
    return len(mem.transport.receive("unit-default", 10, 0))


@pytest.mark.parametrize("send", [
    lambda app, add: app.send(add, {"x": 1, "y": 2}, countdown=5),
    lambda app, add: app.send_many(add, [{"x": 1, "y": 2}], countdown=5),
    lambda app, add: app.send_many(add, [{"x": 1, "y": 2}], deduplication_id="d"),
    lambda app, add: sqsq.send(add, {"x": 1, "y": 2}, countdown=5),
    lambda app, add: sqsq.send(add.s(x=1, y=2), countdown=5),
    lambda app, add: sqsq.send_many(add, [{"x": 1, "y": 2}], countdown=5),
    lambda app, add: add.options(countdown=5),
], ids=["app.send", "app.send_many", "send_many-dedup", "sqsq.send", "sqsq.send-call", "sqsq.send_many", "options"])
def test_an_unknown_send_option_is_a_type_error_and_sends_nothing(mem: MemoryApp, add: Any, send: Any) -> None:
    with pytest.raises(TypeError, match="got an unexpected keyword argument"):
        send(mem.app, add)
    assert _queued(mem) == 0


def test_options_given_once_reach_the_message(mem: MemoryApp, add: Any) -> None:
    h = add.options(delay_seconds=0, queue="images", attributes={"source": "unit"}).delay(x=1, y=2)
    sqsq.send(add.s(x=3, y=4), queue="images")
    bodies = [m.body for m in mem.transport.receive("unit-images", 10, 0)]
    assert len(bodies) == 2 and any(h.id in b for b in bodies)
    assert _queued(mem) == 0


def test_the_typed_send_options_name_exactly_the_fields_of_send_options() -> None:
    from dataclasses import fields

    from sqsq.send_options import SendKwargs, SendManyKwargs, SendOptions

    assert list(SendKwargs.__annotations__) == [f.name for f in fields(SendOptions)]
    assert set(SendManyKwargs.__annotations__) == set(SendKwargs.__annotations__) - {"deduplication_id"}
