"""A pool child that dies is replaced alone: the runs in the other children finish once; the death says why."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from sqsq.app import App
from sqsq.pools.process import ChildEnded, ChildProcessDied, ProcessPool, death_reason

SPEC = "tests.unit.test_pool_child_death:child_app"
child_app = App("childdeath")


@child_app.task(name="death.slow")
def slow(log: str, tag: str, seconds: float) -> int:
    time.sleep(seconds)
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"{tag} {os.getpid()}\n")
    return os.getpid()


@child_app.task(name="death.killed")
def killed(seconds: float) -> None:
    time.sleep(seconds)
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.timeout(120)
def test_sigkilled_child_fails_only_its_run_and_says_why(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    pool = ProcessPool(SPEC, size=3)
    pool.start()
    ended: dict[str, ChildEnded] = {}
    try:
        runners = [
            threading.Thread(target=lambda t=tag: ended.__setitem__(t, pool.run("death.slow", {
                "log": str(log), "tag": t, "seconds": 2.0})))
            for tag in ("a", "b")
        ]
        for t in runners:
            t.start()
        with pytest.raises(ChildProcessDied) as died:
            pool.run("death.killed", {"seconds": 0.3})
        for t in runners:
            t.join(timeout=60)
        after = pool.run("death.slow", {"log": str(log), "tag": "after", "seconds": 0.0})
    finally:
        pool.close(kill=True)
    assert died.value.exit_code == -signal.SIGKILL and died.value.reason == "pool child died (SIGKILL)"
    assert "pool child died (SIGKILL) while running death.killed" in str(died.value)
    runs = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(runs) == ["a", "after", "b"]  # the others ran once and finished
    assert all(e.result_json is not None for e in ended.values()) and after.result_json is not None
    assert pool.restarts == 1


@pytest.mark.parametrize(("exit_code", "reason"), [
    (-9, "pool child died (SIGKILL)"), (-15, "pool child died (SIGTERM)"), (137, "pool child died (exit code 137)"),
    (-200, "pool child died (signal 200)"), (None, "pool child died (exit status unknown)"),
])
def test_death_reason_names_the_signal_or_exit_code(exit_code: int | None, reason: str) -> None:
    assert death_reason(exit_code) == reason


@pytest.mark.timeout(120)
def test_child_killed_while_idle_does_not_stop_the_pool(tmp_path: Path) -> None:
    pool = ProcessPool(SPEC, size=2)
    pool.start()
    try:
        pid = int(pool.run("death.slow", {"log": str(tmp_path / "l"), "tag": "x", "seconds": 0.0}).result_json or 0)
        os.kill(pid, signal.SIGKILL)  # an idle child dies (the OOM killer, an operator)
        deadline = time.monotonic() + 30
        while True:
            try:
                ended = pool.run("death.slow", {"log": str(tmp_path / "l"), "tag": "y", "seconds": 0.0})
                break
            except ChildProcessDied:  # pebble noticed the death while this run waited: it comes back, and runs
                assert time.monotonic() < deadline
    finally:
        pool.close(kill=True)
    assert ended.result_json is not None and int(ended.result_json) != pid
