"""``sqsq worker --processes N`` with apps whose import does what pre-fork servers trip over, and signals at odd
moments. Real processes against moto server; every process is stopped by PID (its group) at teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqsq
from sqsq.local.server import LocalAwsServer
from sqsq.results import Status
from tests.apps import fork_hostile
from tests.conftest import ROOT, Deployed, deploy
from tests.integration.test_worker_processes import log_of, spawn_logged, started_children, wait_for

APP = "tests.apps.fork_hostile:app"
TWO_BURST = ("worker", APP, "--processes", "2", "--wait-time-seconds", "1", "--burst")


@pytest.fixture
def deployed(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[Deployed]:
    d = deploy(fork_hostile.app, local_aws, tmp_path)
    try:
        yield d
    finally:
        d.close()


def sink(d: Deployed) -> list[list[str]]:
    path = d.tmp / "sink.txt"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []



def spawn_buffered(d: Deployed, *args: str, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    """As ``spawn_logged``, with stdout block-buffered (no PYTHONUNBUFFERED), as under a service manager."""
    env = {k: v for k, v in {**d.env, **extra_env}.items() if k != "PYTHONUNBUFFERED"}
    log_path = d.tmp / f"supervisor-{uuid.uuid4().hex[:6]}.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sqsq.cli", *args], cwd=ROOT, env=env,
                                stdout=out, stderr=out, start_new_session=True)
    proc.log_path = log_path  # type: ignore[attr-defined]
    d.procs.append(proc)
    return proc





def group_members(pgid: int) -> list[str]:
    """The processes still in the process group ``pgid`` (the supervisor's, started in its own session)."""
    out = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_atexit_handlers_of_the_app_run_once_in_each_process(deployed: Deployed) -> None:
    handles = sqsq.send_many(fork_hostile.sample, [{"tag": str(i)} for i in range(6)])
    proc = spawn_logged(deployed, *TWO_BURST, extra_env={"FH_ATEXIT": "1"})
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    assert all(h.status is Status.SUCCESS for h in handles)
    ran_atexit = sorted(int(pid) for event, _, pid, *_ in sink(deployed) if event == "atexit")
    assert ran_atexit == sorted([proc.pid, *started_children(proc)])  # as re-executed children do; none twice


def test_buffered_output_of_the_app_and_its_log_file_are_not_duplicated_by_the_fork(deployed: Deployed) -> None:
    handles = sqsq.send_many(fork_hostile.sample, [{"tag": str(i)} for i in range(6)])
    log_file = deployed.tmp / "app.log"
    proc = spawn_buffered(deployed, *TWO_BURST, extra_env={"FH_PRINT": "1", "FH_LOG_FILE": str(log_file)})
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    assert all(h.status is Status.SUCCESS for h in handles)
    output = log_of(proc)
    assert output.count("fork_hostile imported in") == 1, output
    assert sorted(line for line in output.splitlines() if line.endswith(" stdout")) == [
        f"task {i} stdout" for i in range(6)]
    lines = log_file.read_text().splitlines()
    assert len(lines) == len(set(lines)), lines  # no line written twice (by a parent and its fork)
    assert sum("fork_hostile: sample" in line for line in lines) == 6
    assert "not by fork" not in output


def test_an_app_that_keeps_a_connection_open_from_its_import_gets_fresh_interpreters(deployed: Deployed) -> None:
    handles = sqsq.send_many(fork_hostile.sample, [{"tag": str(i)} for i in range(6)])
    proc = spawn_logged(deployed, *TWO_BURST, extra_env={"FH_SOCKET": "1"})
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    assert all(h.status is Status.SUCCESS for h in handles)
    assert "not by fork: 1 socket(s) are open in this process" in log_of(proc)


def test_sigkilled_forked_children_lose_and_repeat_no_task_of_a_burst(deployed: Deployed) -> None:
    handles = sqsq.send_many(fork_hostile.slow, [{"tag": str(i)} for i in range(30)])
    proc = spawn_logged(deployed, "worker", APP, "--processes", "2", "--wait-time-seconds", "1", "--burst", "-c", "2",
                        "--prefetch", "0")
    killed: list[int] = []

    def kill_a_busy_child() -> bool:
        busy = [int(pid) for event, _, pid, _ in sink(deployed) if event == "start" and int(pid) not in killed]
        if busy:
            os.kill(busy[-1], signal.SIGKILL)
            killed.append(busy[-1])
        return len(killed) == 2

    wait_for(kill_a_busy_child, "two busy children killed", proc)
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    assert all(h.status is Status.SUCCESS for h in handles)
    ran = [tag for event, tag, _, _ in sink(deployed) if event == "ran"]
    assert sorted(ran, key=int) == [str(i) for i in range(30)]  # each finished once (the killed ones never finished)
    assert len(started_children(proc)) >= 4
    depth = deployed.app.transport.depth(deployed.queue())
    assert (depth.visible, depth.in_flight) == (0, 0)
    assert group_members(proc.pid) == []  # no child left behind


@pytest.mark.parametrize("how", ["sigterm", "sigint-to-the-group"])
def test_a_stop_while_the_children_start_exits_0_and_leaves_no_process(deployed: Deployed, how: str) -> None:
    proc = spawn_logged(deployed, "worker", APP, "--processes", "2", "--wait-time-seconds", "1")
    wait_for(lambda: "worker process 2/2 started" in log_of(proc), "the second fork", proc)
    if how == "sigterm":
        os.kill(proc.pid, signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    assert log_of(proc).count("worker stopped:") == 2
    assert group_members(proc.pid) == []
