"""Every constraint declared on a task's parameters holds, at send and at the worker, as pydantic would hold it."""

from __future__ import annotations

from typing import Annotated

import annotated_types
import pytest
from pydantic import Field

import sqsq
from sqsq.executor import DeadLetter, Executor
from sqsq.message import Envelope
from sqsq.results import Status
from sqsq.transport import OutgoingMessage
from sqsq.worker import Worker
from tests.unit.conftest import MemoryApp


def _register(mem: MemoryApp) -> dict[str, sqsq.Task[..., object]]:
    @mem.app.task(name="c.field")
    def field_gt(x: Annotated[int, Field(gt=0)]) -> int:
        return x

    @mem.app.task(name="c.annotated_types")
    def at_gt(x: Annotated[int, annotated_types.Gt(0)]) -> int:
        return x

    @mem.app.task(name="c.text")
    def text(name: Annotated[str, Field(min_length=2, max_length=5, pattern=r"^[a-z]+$")]) -> str:
        return name

    return {"c.field": field_gt, "c.annotated_types": at_gt, "c.text": text}


@pytest.mark.parametrize(("name", "args"), [
    ("c.field", {"x": -5}), ("c.field", {"x": 0}), ("c.annotated_types", {"x": -5}),
    ("c.text", {"name": "a"}), ("c.text", {"name": "abcdef"}), ("c.text", {"name": "AB"}),
])
def test_a_declared_constraint_is_enforced_at_send(mem: MemoryApp, name: str, args: dict[str, object]) -> None:
    tasks = _register(mem)
    with pytest.raises(sqsq.ValidationError):
        sqsq.send(tasks[name], args)
    assert mem.transport.depth("unit-default").visible == 0


@pytest.mark.parametrize(("name", "args"), [
    ("c.field", {"x": -5}), ("c.annotated_types", {"x": -5}), ("c.text", {"name": "abcdef"}),
])
def test_a_declared_constraint_is_enforced_at_the_worker(mem: MemoryApp, name: str, args: dict[str, object]) -> None:
    _register(mem)  # a message from another producer, who did not validate
    body = Envelope(id="foreign", task=name, args=args).to_body()
    mem.transport.send_batch("unit-default", [OutgoingMessage("0", body)])
    (m,) = mem.transport.receive("unit-default", 1, 0)
    outcome = Executor(mem.app).execute(m, 3)
    assert isinstance(outcome, DeadLetter) and outcome.error_type == "ValidationError"
    record = mem.results.get("foreign")
    assert record is not None and record.status is Status.FAILURE


def test_values_within_the_constraints_run(mem: MemoryApp) -> None:
    tasks = _register(mem)
    handles = [sqsq.send(tasks["c.field"], {"x": 3}), sqsq.send(tasks["c.text"], {"name": "abc"})]
    Worker(mem.app, burst=True, wait_time_seconds=0).run()
    assert [h.get(timeout_seconds=1) for h in handles] == [3, "abc"]


def test_defaults_declared_with_field_apply_and_are_constrained(mem: MemoryApp) -> None:
    @mem.app.task()
    def paged(
        page: Annotated[int, Field(default=1, ge=1)],
        tags: Annotated[list[str], Field(default_factory=list)],
        size: int = Field(default=20, le=100),
    ) -> dict[str, object]:
        return {"page": page, "size": size, "tags": tags}

    with pytest.raises(sqsq.ValidationError, match="size"):
        sqsq.send(paged, {"size": 500})
    handle = sqsq.send(paged, {})
    Worker(mem.app, burst=True, wait_time_seconds=0).run()
    assert handle.get(timeout_seconds=1) == {"page": 1, "size": 20, "tags": []}


def test_a_constrained_return_annotation_that_fails_is_a_failure_not_a_success(mem: MemoryApp) -> None:
    @mem.app.task()
    def count() -> Annotated[int, Field(ge=0)]:
        return -1

    handle = sqsq.send(count, {})
    Worker(mem.app, burst=True, wait_time_seconds=0).run()
    with pytest.raises(sqsq.TaskFailed) as err:
        handle.get(timeout_seconds=1)
    assert err.value.error_type == "ResultNotReadable"


def test_an_aliased_parameter_can_be_sent_by_alias_or_by_name(mem: MemoryApp) -> None:
    @mem.app.task()
    def greet(user_name: Annotated[str, Field(alias="userName")]) -> str:
        return f"hi {user_name}"

    handles = [sqsq.send(greet, {"userName": "ada"}), sqsq.send(greet, {"user_name": "bob"})]
    Worker(mem.app, burst=True, wait_time_seconds=0).run()
    assert [h.get(timeout_seconds=1) for h in handles] == ["hi ada", "hi bob"]


def test_a_positional_only_parameter_runs(mem: MemoryApp) -> None:
    @mem.app.task()
    def double(x: int, /, times: int = 2) -> int:
        return x * times

    handle = sqsq.send(double, {"x": 21})
    Worker(mem.app, burst=True, wait_time_seconds=0).run()
    assert handle.get(timeout_seconds=1) == 42
