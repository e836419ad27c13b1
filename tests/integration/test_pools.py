"""``sqsq worker --pool process`` as a real subprocess against moto server: CPU tasks run in child processes to
SUCCESS, async tasks on the event loop, a child that dies loses nothing, and SIGTERM releases unstarted messages,
lets running ones finish, stops the children and exits 0.
"""

from __future__ import annotations

import re
import signal
from collections import Counter

import psutil

import sqsq
from tests.apps import shop as shop_app
from tests.conftest import Deployed, stop_process
from tests.integration.test_reliability_delivery import log_of, sink, spawn_logged, wait_for

PROCESS_WORKER = ("worker", "tests.apps.shop:app", "--pool", "process", "--wait-time-seconds", "1")


def test_process_pool_worker_runs_cpu_and_async_tasks_to_success(shop: Deployed) -> None:
    spins = sqsq.send_many(shop_app.cpu_spin, [{"loops": 50_000 + i} for i in range(8)])
    adds = sqsq.send_many(shop_app.add, [{"x": i, "y": 1} for i in range(5)])
    naps = sqsq.send_many(shop_app.async_nap, [{"seconds": 0.2, "tag": f"n{i}"} for i in range(4)])
    proc = spawn_logged(shop, *PROCESS_WORKER, "--burst", "-c", "2")
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    values = [h.get(timeout_seconds=5) for h in spins]
    assert len({v["checksum"] for v in values}) == 8
    assert proc.pid not in {v["pid"] for v in values}  # the bodies ran in child processes
    assert [h.get(timeout_seconds=5) for h in adds] == [i + 1 for i in range(5)]
    assert [h.get(timeout_seconds=5) for h in naps] == [f"n{i}" for i in range(4)]
    assert "pool process (2 processes running tests.apps.shop:app)" in log_of(proc)
    depth = shop.app.transport.depth(shop.queue())
    assert (depth.visible, depth.in_flight) == (0, 0)


def test_child_process_killed_mid_task_loses_nothing_and_the_worker_keeps_running(shop: Deployed) -> None:
    marker = shop.tmp / "crashed-once"
    h = sqsq.send(shop_app.crash_once, {"marker": str(marker)})
    later = sqsq.send_many(shop_app.add, [{"x": i, "y": 2} for i in range(3)])
    proc = spawn_logged(shop, *PROCESS_WORKER, "--burst", "-c", "2")
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]  # the worker survived its child's os._exit(137)
    assert marker.exists()
    assert h.get(timeout_seconds=5) == "recovered"
    record = h.record()
    assert record is not None and record.attempts == 2
    assert [x.get(timeout_seconds=5) for x in later] == [2, 3, 4]
    assert "pool child died (exit code 137)" in log_of(proc)
    assert re.search(r"[1-9]\d* pool process deaths", log_of(proc))


def test_sigterm_with_process_pool_releases_unstarted_messages_and_exits_0_with_nothing_lost(shop: Deployed) -> None:
    n = 40
    handles = sqsq.send_many(shop_app.mark, [{"tag": f"m{i}", "seconds": 0.3} for i in range(n)])
    first = spawn_logged(shop, *PROCESS_WORKER, "-c", "2", "--prefetch", "10", name="first")
    wait_for(lambda: sum(line.startswith("mark ") for line in sink(shop)) >= 5, 60, "5 tasks done")
    children = psutil.Process(first.pid).children(recursive=True)
    assert len(children) >= 2  # the pool processes
    assert stop_process(first, signal.SIGTERM, timeout_seconds=30) == 0, log_of(first)[-3000:]
    first_log = log_of(first)
    stopped = re.search(r"worker stopped: (\d+) received, (\d+) succeeded.*?, (\d+) released", first_log)
    assert stopped is not None, first_log[-3000:]
    received, succeeded, released = (int(g) for g in stopped.groups())
    assert released > 0 and received == succeeded + released, first_log[-2000:]
    wait_for(lambda: not any(c.is_running() for c in children), 10, "the pool processes to exit")

    second = spawn_logged(shop, *PROCESS_WORKER, "--burst", "-c", "2", name="second")
    assert second.wait(timeout=120) == 0, log_of(second)[-3000:]
    counts = Counter(line.split()[1] for line in sink(shop) if line.startswith("mark "))
    assert set(counts) == {f"m{i}" for i in range(n)}, "lost tasks"
    assert max(counts.values()) == 1, [t for t, c in counts.items() if c > 1]
    assert handles[-1].get(timeout_seconds=5) == f"m{n - 1}"
    depth = shop.app.transport.depth(shop.queue())
    assert (depth.visible, depth.in_flight, depth.delayed) == (0, 0, 0)
