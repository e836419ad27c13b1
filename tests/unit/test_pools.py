"""Pools on the in-memory twins: the process pool (CPU tasks in child processes, a child that dies, exceptions
coming back from a child) and async tasks awaited together on the worker's one event loop.

The process-pool tests spawn real child processes, which import this module's ``pool_app`` by its spec; the
worker itself runs on an app bound to the memory twins holding the same tasks under the same names.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqsq
from sqsq.app import App
from sqsq.results import Status
from sqsq.worker import Worker
from tests.unit.conftest import MemoryApp

SPEC = "tests.unit.test_pools:pool_app"
pool_app = App("unit", endpoint_url="http://unused.invalid")


@pool_app.task(name="pools.spin")
def spin(loops: int) -> dict[str, int]:
    acc = 0
    for k in range(loops):
        acc = (acc * 31 + k) % 1_000_003
    return {"checksum": acc, "pid": os.getpid()}


@pool_app.task(name="pools.die_once")
def die_once(marker: str) -> str:
    if not os.path.exists(marker):
        Path(marker).write_text("died")
        os._exit(137)
    return "recovered"


class Unpicklable(Exception):
    def __init__(self, code: int, detail: str):
        super().__init__(f"{code}: {detail}")


@pool_app.task(name="pools.raises", max_retries=0)
def raises() -> None:
    raise Unpicklable(7, "bad input")


def _checksum(loops: int) -> int:
    acc = 0
    for k in range(loops):
        acc = (acc * 31 + k) % 1_000_003
    return acc


@pytest.fixture
def pooled(mem: MemoryApp) -> Iterator[MemoryApp]:
    """``mem`` with ``pool_app``'s tasks registered under the same names."""
    for t in pool_app.tasks.values():
        mem.app.task(name=t.name, max_retries=t.max_retries)(t.fn)
    yield mem


def _run_burst(worker: Worker, timeout_seconds: float = 60) -> None:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    thread.start()
    thread.join(timeout=timeout_seconds)
    if thread.is_alive():
        worker.stop()
        thread.join(timeout=30)
        pytest.fail("burst worker did not finish")
    assert codes == [0]


def test_process_pool_runs_cpu_tasks_in_child_processes_and_records_their_results(pooled: MemoryApp) -> None:
    handles = pooled.app.send_many("pools.spin", [{"loops": 20_000 + i} for i in range(6)])
    worker = Worker(pooled.app, concurrency=2, burst=True, wait_time_seconds=1, pool="process", app_spec=SPEC)
    _run_burst(worker)
    values = [h.get(timeout_seconds=1) for h in handles]
    assert [v["checksum"] for v in values] == [_checksum(20_000 + i) for i in range(6)]
    assert os.getpid() not in {v["pid"] for v in values}  # ran in child processes
    assert worker.stats.succeeded == 6 and worker.stats.child_deaths == 0
    depth = pooled.transport.depth("unit-default")
    assert (depth.visible, depth.in_flight) == (0, 0)


def test_child_process_that_dies_mid_task_loses_nothing_and_the_pool_recovers(
    pooled: MemoryApp, tmp_path: Path
) -> None:
    marker = tmp_path / "died-once"
    dying = pooled.app.send("pools.die_once", {"marker": str(marker)})
    worker = Worker(pooled.app, concurrency=1, prefetch=0, burst=True, wait_time_seconds=1, pool="process",
                    app_spec=SPEC)
    after = []

    def send_more_once_it_died() -> None:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        after.extend(pooled.app.send_many("pools.spin", [{"loops": 1000}, {"loops": 2000}]))

    sender = threading.Thread(target=send_more_once_it_died)
    sender.start()
    _run_burst(worker)
    sender.join()
    assert marker.exists()
    assert dying.get(timeout_seconds=1) == "recovered"
    record = dying.record()
    assert record is not None and record.attempts == 2  # the first delivery died with its child, nothing recorded
    assert [h.get(timeout_seconds=1)["checksum"] for h in after] == [_checksum(1000), _checksum(2000)]
    assert worker.stats.child_deaths == 1
    assert worker._procs is not None and worker._procs.restarts == 1
    assert pooled.transport.depth("unit-default-dlq").visible == 0


def test_exception_raised_in_a_child_is_recorded_with_its_type_and_the_childs_traceback(pooled: MemoryApp) -> None:
    h = pooled.app.send("pools.raises", {})
    worker = Worker(pooled.app, concurrency=1, burst=True, wait_time_seconds=1, pool="process", app_spec=SPEC)
    _run_burst(worker)
    record = h.record()
    assert record is not None and record.status is Status.FAILURE
    assert record.error_type == "Unpicklable" and record.error_message.endswith("7: bad input")
    assert "in raises" in (record.traceback or "")  # the frame from the child process
    assert worker.stats.child_deaths == 0 and worker.stats.dead_lettered == 1


def test_process_pool_needs_an_importable_app_spec(mem: MemoryApp) -> None:
    with pytest.raises(ValueError, match="module:attribute"):
        Worker(mem.app, pool="process")


# -- async tasks on one event loop ---------------------------------------------------------------------------------


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    now = best = 0
    for _, d in events:
        now += d
        best = max(best, now)
    return best


def _register_nap(mem: MemoryApp) -> tuple[sqsq.Task[..., str], list[tuple[float, float, str]]]:
    spans: list[tuple[float, float, str]] = []

    @mem.app.task(name="nap")
    async def nap(i: int) -> str:
        started = time.monotonic()
        await asyncio.sleep(0.2)
        spans.append((started, time.monotonic(), threading.current_thread().name))
        return f"n{i}"

    return nap, spans


def test_async_tasks_run_concurrently_on_one_event_loop_thread(mem: MemoryApp) -> None:
    nap, spans = _register_nap(mem)
    handles = sqsq.send_many(nap, [{"i": i} for i in range(20)])
    worker = Worker(mem.app, concurrency=20, prefetch=0, burst=True, wait_time_seconds=1)
    _run_burst(worker)
    assert [h.get(timeout_seconds=1) for h in handles] == [f"n{i}" for i in range(20)]
    assert len(spans) == 20
    assert {name for _, _, name in spans} == {"sqsq-loop"}  # one thread for all of them, not a thread each
    # At least two receives' worth (10 each) were awaiting at the same moment.
    assert _max_overlap([(s, e) for s, e, _ in spans]) > 10


def test_async_tasks_in_flight_are_bounded_by_the_concurrency(mem: MemoryApp) -> None:
    nap, spans = _register_nap(mem)
    sqsq.send_many(nap, [{"i": i} for i in range(9)])
    worker = Worker(mem.app, concurrency=3, prefetch=10, burst=True, wait_time_seconds=1)
    _run_burst(worker)
    assert len(spans) == 9
    assert _max_overlap([(s, e) for s, e, _ in spans]) <= 3


def test_async_task_called_standalone_runs_on_a_fresh_loop(mem: MemoryApp) -> None:
    nap, _ = _register_nap(mem)
    assert nap.run(nap.validate_args({"i": 4})) == "n4"
