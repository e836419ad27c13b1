"""Celery habits: ``@app.task`` with or without parentheses; AsyncResult's state/result/traceback/ready/..."""

from __future__ import annotations

from typing import Any

import pytest

import sqsq
from sqsq.app import App
from sqsq.results import ResultRecord, Status
from tests.unit.conftest import MemoryApp


def test_a_bare_decorator_registers_the_task() -> None:
    app = App("bare")

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    assert isinstance(add, sqsq.Task)
    assert app.tasks == {add.name: add} and add.name.endswith("add")
    assert add(1, 2) == 3


def test_the_decorator_with_parentheses_takes_a_name_and_options() -> None:
    app = App("parens")

    @app.task("shop.add", queue="slow")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task()
    def sub(x: int, y: int) -> int:
        return x - y

    assert app.get_task("shop.add").queue == "slow" and sub.name in app.tasks


def test_a_misused_decorator_names_the_cause() -> None:
    app = App("misuse")
    with pytest.raises(TypeError, match=r"app.task takes a task name \(str\) or, as a bare @app.task, a function; "
                                        r"got int 5"):
        app.task(5)  # type: ignore[call-overload]

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(TypeError, match="already a task"):
        app.task(add)
    with pytest.raises(TypeError, match="decorates a function; got str 'oops'"):
        app.task(queue="q")("oops")  # type: ignore[arg-type]


@pytest.fixture
def add(mem: MemoryApp) -> sqsq.Task[[int, int], int]:
    @mem.app.task(name="tests.add")
    def add(x: int, y: int) -> int:
        return x + y

    return add


def _record(mem: MemoryApp, task_id: str, status: Status, **fields: Any) -> None:
    mem.results.put(ResultRecord(task_id, status, "tests.add", **fields).stamped(3600))


def test_a_pending_handle_is_not_ready_and_has_no_result(mem: MemoryApp, add: Any) -> None:
    h = add.delay(x=1, y=2)
    assert (h.state, h.ready(), h.successful(), h.failed(), h.result, h.traceback) == (
        "PENDING", False, False, False, None, None
    )


def test_a_successful_handle_has_the_return_value_as_result(mem: MemoryApp, add: Any) -> None:
    h = add.delay(x=1, y=2)
    _record(mem, h.id, Status.SUCCESS, result_json="3")
    assert (h.state, h.ready(), h.successful(), h.failed(), h.result, h.traceback) == (
        "SUCCESS", True, True, False, 3, None
    )
    assert isinstance(h.state, str) and h.state == sqsq.Status.SUCCESS.value


def test_a_failed_handle_has_the_error_as_result_and_its_traceback(mem: MemoryApp, add: Any) -> None:
    h = add.delay(x=1, y=2)
    _record(mem, h.id, Status.FAILURE, error_type="ZeroDivisionError", error_message="division by zero",
            traceback="Traceback (most recent call last): ...")
    assert (h.state, h.ready(), h.successful(), h.failed()) == ("FAILURE", True, False, True)
    assert isinstance(h.result, sqsq.TaskFailed) and h.result.error_type == "ZeroDivisionError"
    assert h.traceback == "Traceback (most recent call last): ..."
    with pytest.raises(sqsq.TaskFailed, match="division by zero"):
        h.get(timeout_seconds=0)


def test_a_retrying_handle_has_the_last_attempts_error_and_is_not_ready(mem: MemoryApp, add: Any) -> None:
    h = add.delay(x=1, y=2)
    _record(mem, h.id, Status.RETRY, error_type="TimeoutError", error_message="slow", traceback="tb", attempts=1)
    assert (h.state, h.ready(), h.successful(), h.failed(), h.traceback) == ("RETRY", False, False, False, "tb")
    assert isinstance(h.result, sqsq.TaskFailed) and h.result.error_message == "slow"


def test_a_started_handle_has_no_result_yet(mem: MemoryApp, add: Any) -> None:
    h = add.delay(x=1, y=2)
    _record(mem, h.id, Status.STARTED)
    assert (h.state, h.ready(), h.result, h.traceback) == ("STARTED", False, None, None)


def test_a_handle_by_id_alone_reads_the_result_through_the_registry(mem: MemoryApp, add: Any) -> None:
    h = add.delay(x=1, y=2)
    _record(mem, h.id, Status.SUCCESS, result_json="3")
    by_id = sqsq.AsyncResult(h.id, app=mem.app)
    assert (by_id.result, by_id.get(timeout_seconds=0)) == (3, 3)


def test_a_decorated_class_is_refused_not_registered() -> None:
    app = App("klass")

    with pytest.raises(TypeError, match="decorates a function; got the class 'Resize'"):
        @app.task
        class Resize:
            def __init__(self, key: str) -> None:
                self.key = key

    assert app.tasks == {}
