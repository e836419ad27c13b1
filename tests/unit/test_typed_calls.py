"""Typed calls: mypy checks task calls against the function's signature (tests/typing/calls.py), and they send."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import sqsq
from sqsq.task import TaskCall
from tests.unit.conftest import MemoryApp

SAMPLE = Path(__file__).resolve().parents[1] / "typing" / "calls.py"


def _expected_errors() -> dict[int, str]:
    wrong = {}
    for number, line in enumerate(SAMPLE.read_text().splitlines(), start=1):
        if "# wrong: " in line:
            wrong[number] = line.split("# wrong: ", 1)[1]
    return wrong


def test_mypy_reports_each_wrong_call_at_its_line_and_nothing_else() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--hide-error-context",
         "--no-error-summary", str(SAMPLE)],
        capture_output=True, text=True, timeout=300,
    )
    errors: dict[int, list[str]] = {}
    for line in run.stdout.splitlines():
        match = re.match(r".*calls\.py:(\d+): error: (.*)", line)
        if match:
            errors.setdefault(int(match[1]), []).append(match[2])
    expected = _expected_errors()
    assert len(expected) >= 15, "the sample lost its wrong calls"
    assert sorted(errors) == sorted(expected), run.stdout
    for number, fragment in expected.items():
        assert any(fragment in message for message in errors[number]), (number, fragment, errors[number])


class Resize(BaseModel):
    key: str
    width: int = 256


@pytest.fixture
def tasks(mem: MemoryApp) -> Any:
    @mem.app.task
    def add(x: int, y: int) -> int:
        return x + y

    @mem.app.task(name="tests.resize")
    def resize(args: Resize) -> int:
        return args.width

    return add, resize


def _sent_args(mem: MemoryApp, queue: str = "unit-default") -> list[dict[str, Any]]:
    return [json.loads(m.body)["args"] for m in mem.transport.receive(queue, 10, 0)]


def test_delay_sends_keyword_and_positional_arguments_by_parameter_name(mem: MemoryApp, tasks: Any) -> None:
    add, _ = tasks
    add.delay(x=1, y=2)
    add.delay(3, y=4)
    add.send(5, 6)
    assert sorted(_sent_args(mem), key=lambda a: a["x"]) == [{"x": 1, "y": 2}, {"x": 3, "y": 4}, {"x": 5, "y": 6}]


def test_a_model_argument_task_takes_its_model(mem: MemoryApp, tasks: Any) -> None:
    _, resize = tasks
    resize.delay(Resize(key="a.png"))
    resize.delay(args=Resize(key="b.png", width=9))
    assert sorted(_sent_args(mem), key=lambda a: a["key"]) == [
        {"key": "a.png", "width": 256}, {"key": "b.png", "width": 9}
    ]


def test_options_are_keyword_only_and_apart_from_the_arguments(mem: MemoryApp, tasks: Any) -> None:
    add, _ = tasks
    add.options(queue="images").delay(x=1, y=2)
    assert _sent_args(mem, "unit-images") == [{"x": 1, "y": 2}] and _sent_args(mem) == []
    with pytest.raises(TypeError):
        add.options(30)  # type: ignore[misc]
    with pytest.raises(sqsq.LimitExceeded, match="delay_seconds=31536001"):  # issue 12: 365 days is the limit
        add.options(delay_seconds=31_536_001).delay(x=1, y=2)


@pytest.mark.parametrize("queue", ["", 5])
def test_a_queue_that_is_not_a_non_empty_string_is_refused_at_options_and_at_send(
    mem: MemoryApp, tasks: Any, queue: Any
) -> None:
    add, _ = tasks
    with pytest.raises(sqsq.ConfigError, match="non-empty logical queue name"):
        add.options(queue=queue)
    with pytest.raises(sqsq.ConfigError, match="non-empty logical queue name"):
        sqsq.send(add, {"x": 1, "y": 2}, queue=queue)
    with pytest.raises(sqsq.ConfigError, match="non-empty logical queue name"):
        mem.app.send_many(add, [{"x": 1, "y": 2}], queue=queue)
    assert _sent_args(mem) == []  # nothing went to the default queue (nor to "<app>-5")


def test_delay_refuses_what_the_worker_would_refuse(tasks: Any) -> None:
    add, resize = tasks
    with pytest.raises(sqsq.ValidationError, match="x"):
        add.delay(x="one", y=2)
    with pytest.raises(sqsq.ValidationError, match="z"):
        add.delay(x=1, y=2, z=3)
    with pytest.raises(sqsq.ValidationError, match="given both by position and by name"):
        add.delay(1, x=1)
    with pytest.raises(sqsq.ValidationError, match="3 were given positionally"):
        add.delay(1, 2, 3)
    with pytest.raises(sqsq.ValidationError, match="expected Resize, got int"):
        resize.delay(5)


def test_send_takes_a_checked_task_call_and_keyword_options(mem: MemoryApp, tasks: Any) -> None:
    add, _ = tasks
    call = add.s(x=1, y=2)
    assert isinstance(call, TaskCall) and call.args == {"x": 1, "y": 2}
    handle = sqsq.send(call, delay_seconds=0)
    assert handle.task is add and _sent_args(mem) == [{"x": 1, "y": 2}]
    with pytest.raises(sqsq.ValidationError, match="takes no second argument"):
        sqsq.send(call, {"x": 1})  # type: ignore[call-overload]


def test_send_names_a_plain_function_that_missed_the_decorator() -> None:
    def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(sqsq.ValidationError, match=r"plain function .*add: decorate it with @app.task"):
        sqsq.send(add, {"x": 1, "y": 2})  # type: ignore[call-overload]
