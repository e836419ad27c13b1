"""sqsq.testing and its pytest plugin: eager and in-memory modes, used here through the plugin's own fixtures."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import sqsq
from sqsq.results.memory import MemoryResults
from sqsq.testing import DrainTimeout, EagerEnv, InMemoryEnv, eager, in_memory
from sqsq.transport.memory import MemoryTransport

app = sqsq.App("tm", max_receive_count=3)
calls: list[str] = []
failures_left: dict[str, int] = {}


@app.task(name="tm.add")
def add(x: int, y: int) -> int:
    calls.append("add")
    return x + y


@app.task(name="tm.flaky", max_retries=5, retry_on=(ConnectionError,))
def flaky(key: str) -> str:
    """Raises ConnectionError while failures_left[key] > 0, then returns the key."""
    calls.append(key)
    if failures_left.get(key, 0) > 0:
        failures_left[key] -= 1
        raise ConnectionError(f"{key} is down")
    return key


@app.task(name="tm.broken", max_retries=1, retry_on=(RuntimeError,))
def broken(reason: str) -> None:
    calls.append("broken")
    raise RuntimeError(reason)


@app.task(name="tm.always_down", retry_on=(ConnectionError,))
def always_down() -> None:
    calls.append("always_down")
    raise ConnectionError("never up")


@app.task(name="tm.permanent", max_retries=5, retry_on=(ConnectionError,))
def permanent() -> None:
    calls.append("permanent")
    raise ValueError("not retryable")


@app.task(name="tm.later", max_retries=3)
def later(key: str) -> str:
    calls.append(key)
    if calls.count(key) == 1:
        raise sqsq.Retry(delay_seconds=600)
    return key


@app.task(name="tm.fan_out")
def fan_out(n: int) -> list[str]:
    return [sqsq.send(add, {"x": i, "y": i}).id for i in range(n)]


@app.task(name="tm.aadd")
async def aadd(x: int, y: int) -> int:
    await asyncio.sleep(0)
    return x + y


@app.task(name="tm.blocks")
def blocks(seconds: float) -> None:
    released.wait(seconds)


released = threading.Event()


@pytest.fixture
def sqsq_app() -> Iterator[sqsq.App]:
    """The plugin's sqsq_app, overridden as a user does in conftest.py."""
    calls.clear()
    failures_left.clear()
    yield app


# -- eager ------------------------------------------------------------------------------------------------------


def test_eager_send_runs_the_task_and_get_returns_its_value(sqsq_eager: EagerEnv) -> None:
    handle = sqsq.send(add, {"x": 1, "y": 2})
    assert calls == ["add"]  # ran before send returned
    assert handle.status is sqsq.Status.SUCCESS
    assert handle.get() == 3


def test_eager_invalid_arguments_raise_at_send_and_run_nothing(sqsq_eager: EagerEnv) -> None:
    with pytest.raises(sqsq.ValidationError, match="x: Input should be a valid integer"):
        sqsq.send(add, {"x": "one", "y": 2})
    with pytest.raises(sqsq.TaskNotRegistered):
        app.send("tm.nope", {})
    assert calls == []


def test_eager_retries_at_once_until_the_task_succeeds(sqsq_eager: EagerEnv) -> None:
    failures_left["k"] = 2
    handle = sqsq.send(flaky, {"key": "k"})
    assert handle.get() == "k"
    assert calls == ["k", "k", "k"]
    record = sqsq_eager.record(handle.id)
    assert record is not None and record.attempts == 3


def test_eager_retry_with_a_delay_is_not_waited(sqsq_eager: EagerEnv) -> None:
    handle = sqsq.send(later, {"key": "r"})  # Retry(delay_seconds=600) on the first attempt
    assert handle.get(timeout_seconds=0) == "r"
    assert calls == ["r", "r"]


def test_eager_task_out_of_retries_is_recorded_as_failure_and_dead_lettered(sqsq_eager: EagerEnv) -> None:
    handle = sqsq.send(broken, {"reason": "disk full"})
    assert calls == ["broken", "broken"]  # max_retries=1: two attempts
    assert handle.status is sqsq.Status.FAILURE
    with pytest.raises(sqsq.TaskFailed, match="disk full"):
        handle.get()
    [letter] = sqsq_eager.dead_letters()
    assert (letter.task_id, letter.task_name, letter.error_type, letter.attempts) == (
        handle.id, "tm.broken", "RuntimeError", 2,
    )


def test_eager_attempts_are_capped_by_the_queues_max_receive_count(sqsq_eager: EagerEnv) -> None:
    handle = sqsq.send(always_down, {})  # no max_retries: the queue's maxReceiveCount (3) bounds it
    assert calls == ["always_down"] * 3
    assert handle.status is sqsq.Status.FAILURE
    assert [e.attempts for e in sqsq_eager.dead_letters("default")] == [3]


def test_eager_exception_outside_retry_on_fails_at_the_first_attempt(sqsq_eager: EagerEnv) -> None:
    handle = sqsq.send(permanent, {})
    assert calls == ["permanent"]
    with pytest.raises(sqsq.TaskFailed, match="not retryable"):
        handle.get()


def test_eager_task_that_sends_tasks_runs_them_within_its_own_run(sqsq_eager: EagerEnv) -> None:
    ids = sqsq.send(fan_out, {"n": 3}).get()
    assert [sqsq.AsyncResult(i, app=app).get(timeout_seconds=0) for i in ids] == [0, 2, 4]


def test_eager_sends_inside_a_batch_run_when_it_flushes(sqsq_eager: EagerEnv) -> None:
    with app.batch():
        handles = [sqsq.send(add, {"x": i, "y": 1}) for i in range(3)]
        assert calls == []
    assert [h.get() for h in handles] == [1, 2, 3]


def test_eager_async_task_runs_when_sent_from_a_running_event_loop(sqsq_eager: EagerEnv) -> None:
    async def endpoint() -> Any:
        return sqsq.send(aadd, {"x": 2, "y": 3}).get(timeout_seconds=0)

    assert asyncio.run(endpoint()) == 5


def test_eager_with_max_receive_count_given_overrides_the_apps_setting() -> None:
    with eager(app, max_receive_count=2) as env:
        sqsq.send(always_down, {})
    assert [e.attempts for e in env.dead_letters()] == [2]  # readable after the block too


def test_modes_restore_the_apps_backends_and_settings_on_exit() -> None:
    transport, results = MemoryTransport(), MemoryResults()
    own = sqsq.App("own", transport=transport, results=results, queue_prefix="p-")
    for mode in (eager, in_memory):
        with mode(own) as env:
            assert own.transport is env.transport and own.results is env.results
        assert own.transport is transport and own.results is results
    with pytest.raises(RuntimeError), own.using(queue_prefix="q-"):
        assert own.settings.queue_prefix == "q-"
        raise RuntimeError("restored even so")
    assert (own.transport, own.results, own.settings.queue_prefix) == (transport, results, "p-")


# -- in memory --------------------------------------------------------------------------------------------------


def test_in_memory_send_is_queued_and_drain_runs_it_on_a_worker(sqsq_in_memory: InMemoryEnv) -> None:
    handles = [sqsq.send(add, {"x": i, "y": 10}) for i in range(12)]
    assert calls == [] and handles[0].status is sqsq.Status.PENDING
    assert sqsq_in_memory.depth().visible == 12
    stats = sqsq_in_memory.drain()
    assert (stats.received, stats.succeeded) == (12, 12)
    assert [h.get(timeout_seconds=0) for h in handles] == [i + 10 for i in range(12)]
    assert sqsq_in_memory.depth() == sqsq_in_memory.depth().__class__(0, 0, 0)


def test_in_memory_failing_task_reaches_the_dlq_after_max_receive_count(sqsq_in_memory: InMemoryEnv) -> None:
    handle = sqsq.send(always_down, {})
    ok = sqsq.send(add, {"x": 1, "y": 1})
    stats = sqsq_in_memory.drain()
    assert calls.count("always_down") == 3 and (stats.retried, stats.dead_lettered) == (2, 1)
    [letter] = sqsq_in_memory.dead_letters()
    assert (letter.task_id, letter.error_type, letter.error_message, letter.attempts) == (
        handle.id, "ConnectionError", "never up", 3,
    )
    assert ok.get(timeout_seconds=0) == 2


def test_in_memory_redrive_policy_moves_a_message_no_consumer_recorded(sqsq_in_memory: InMemoryEnv) -> None:
    handle = sqsq.send(add, {"x": 1, "y": 1})
    queue = sqsq_in_memory.queue_name()
    for _ in range(3):  # three receives that end without an outcome (a consumer that died)
        [m] = sqsq_in_memory.transport.receive(queue, 1, 0)
        sqsq_in_memory.transport.change_visibility_batch(queue, [(m.receipt_handle, 0)])
    sqsq_in_memory.drain()  # the fourth receive: SQS's redrive moves it instead
    assert calls == []
    [letter] = sqsq_in_memory.dead_letters()
    assert (letter.task_id, letter.no_outcome) == (handle.id, True)


def test_in_memory_delays_and_backoffs_are_shortened_to_the_visibility_timeout(sqsq_in_memory: InMemoryEnv) -> None:
    delayed = sqsq.send(add, {"x": 1, "y": 2}, delay_seconds=900)
    retried = sqsq.send(later, {"key": "d"})  # Retry(delay_seconds=600) once
    assert sqsq_in_memory.depth().delayed == 1
    sqsq_in_memory.drain(timeout_seconds=20)  # DrainTimeout if either delay were kept
    assert (delayed.get(timeout_seconds=0), retried.get(timeout_seconds=0)) == (3, "d")


def test_in_memory_drain_raises_drain_timeout_when_a_task_does_not_finish(sqsq_in_memory: InMemoryEnv) -> None:
    released.clear()
    sqsq.send(blocks, {"seconds": 30})
    unblock = threading.Timer(1.0, released.set)  # lets the stopped worker's task end within its grace
    unblock.start()
    try:
        with pytest.raises(DrainTimeout, match=r"not drained within 0.2 s \(default: [01] visible, [01] in flight"):
            sqsq_in_memory.drain(timeout_seconds=0.2)
    finally:
        released.set()
        unblock.cancel()


def test_in_memory_running_worker_lets_code_wait_on_get(sqsq_in_memory: InMemoryEnv) -> None:
    with sqsq_in_memory.running() as worker:
        assert sqsq.send(add, {"x": 20, "y": 22}).get(timeout_seconds=20) == 42
    assert worker.stats.succeeded == 1


# -- the plugin -------------------------------------------------------------------------------------------------


def test_plugin_is_registered_and_its_import_loads_neither_the_worker_nor_boto3_nor_moto(
    pytestconfig: pytest.Config,
) -> None:
    assert pytestconfig.pluginmanager.has_plugin("sqsq")
    code = (
        "import sys, sqsq.testing.pytest_plugin\n"
        "print(sorted(m for m in ('sqsq.worker', 'sqsq.executor', 'sqsq.testing._eager', 'boto3', 'botocore', "
        "'moto') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


other = sqsq.App("tm2")


@other.task(name="tm2.double")
def double(x: int) -> int:
    return 2 * x


@pytest.mark.parametrize("sqsq_app", [other])
def test_sqsq_app_can_be_parametrized_per_test(sqsq_eager: EagerEnv) -> None:
    assert sqsq_eager.app is other
    assert sqsq.send(double, {"x": 21}).get() == 42
