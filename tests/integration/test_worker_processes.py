"""``sqsq worker --processes N``: N worker processes under one supervisor, as real processes against moto server.

Queues here have VisibilityTimeout 2 s and maxReceiveCount 3 (see tests/conftest.py). Every process is stopped by
PID (its process group) at teardown; the waits below are bounds on progress, not timings asserted.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import sqsq
from sqsq.local.server import LocalAwsServer
from sqsq.results import Status
from tests.apps import procs
from tests.conftest import ROOT, Deployed, deploy, stop_process

APP = "tests.apps.procs:app"
TWO = ("worker", APP, "--processes", "2", "--wait-time-seconds", "1")
ONE_MESSAGE_EACH = ("-c", "1", "--prefetch", "0")  # a child holds one message at a time


@pytest.fixture
def deployed(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[Deployed]:
    d = deploy(procs.app, local_aws, tmp_path)
    try:
        yield d
    finally:
        d.close()


def spawn_logged(d: Deployed, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``python -m sqsq.cli ARGS`` in its own process group, its output (and its children's) in a file."""
    log_path = d.tmp / f"supervisor-{uuid.uuid4().hex[:6]}.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sqsq.cli", *args], cwd=ROOT, env={**d.env, **(extra_env or {})},
                                stdout=out, stderr=out, start_new_session=True)
    proc.log_path = log_path  # type: ignore[attr-defined]
    d.procs.append(proc)
    return proc


def log_of(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def sink(d: Deployed) -> list[list[str]]:
    path = d.tmp / "sink.txt"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def started_children(proc: subprocess.Popen[bytes]) -> list[int]:
    return [int(pid) for pid in re.findall(r"worker process \d+/\d+ started \(pid (\d+)\)", log_of(proc))]


def wait_for(predicate: Callable[[], object], what: str, proc: subprocess.Popen[bytes], bound_seconds: float = 90) -> None:
    deadline = time.monotonic() + bound_seconds
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} within {bound_seconds} s; log:\n{log_of(proc)[-3000:]}"
        time.sleep(0.1)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_each_of_n_worker_processes_consumes(deployed: Deployed) -> None:
    # Each `meet` runs until tasks have started in two distinct processes, and each child holds one message at a
    # time: both finish only if both children consume.
    handles = [sqsq.send(procs.meet, {"tag": tag, "processes": 2}) for tag in ("a", "b")]
    proc = spawn_logged(deployed, *TWO, *ONE_MESSAGE_EACH)
    pids = {h.get(timeout_seconds=120) for h in handles}
    assert stop_process(proc) == 0, log_of(proc)[-3000:]
    assert len(pids) == 2
    assert pids == set(started_children(proc))
    assert "supervisor: all 2 worker processes have exited; exit code 0" in log_of(proc)


def test_a_sigkilled_worker_process_is_restarted_and_its_message_runs_again(deployed: Deployed) -> None:
    release = deployed.tmp / "release"
    handle = sqsq.send(procs.hold, {"tag": "held", "release_path": str(release)})
    proc = spawn_logged(deployed, *TWO, *ONE_MESSAGE_EACH)
    wait_for(lambda: sink(deployed), "task start", proc)
    [[_, _, victim]] = sink(deployed)
    os.kill(int(victim), signal.SIGKILL)
    wait_for(lambda: len(started_children(proc)) == 3, "restarted child", proc)
    release.touch()
    runner = handle.get(timeout_seconds=120)  # the message came back after its visibility timeout
    assert stop_process(proc) == 0, log_of(proc)[-3000:]
    assert runner != int(victim)
    assert [e[0] for e in sink(deployed)] == ["start", "start", "done"]
    assert f"(pid {victim}) died unexpectedly (killed by SIGKILL)" in log_of(proc)
    depth = deployed.app.transport.depth(deployed.queue())
    assert (depth.visible, depth.in_flight) == (0, 0)


def test_sigterm_to_the_supervisor_lets_every_started_task_finish_and_be_deleted(deployed: Deployed) -> None:
    release = deployed.tmp / "release"
    handles = [sqsq.send(procs.hold, {"tag": tag, "release_path": str(release)}) for tag in ("a", "b")]
    proc = spawn_logged(deployed, *TWO, *ONE_MESSAGE_EACH)
    wait_for(lambda: len(sink(deployed)) == 2, "both tasks started", proc)
    os.kill(proc.pid, signal.SIGTERM)  # the supervisor alone; it forwards the signal
    wait_for(lambda: log_of(proc).count("signal 15: stopping (grace") == 2, "both children stopping", proc)
    release.touch()  # the running tasks finish only now, inside the grace period
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    assert [h.status for h in handles] == [Status.SUCCESS, Status.SUCCESS]
    assert sorted((event, tag) for event, tag, _ in sink(deployed)) == [
        ("done", "a"), ("done", "b"), ("start", "a"), ("start", "b")]  # each ran once
    depth = deployed.app.transport.depth(deployed.queue())
    assert (depth.visible, depth.in_flight) == (0, 0)
    assert all(gone(pid) for pid in started_children(proc))
    assert log_of(proc).count("worker stopped:") == 2


def exited(pid: int) -> bool:
    """Gone, or a zombie its new parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_worker_processes_stop_when_their_supervisor_is_sigkilled(deployed: Deployed) -> None:
    proc = spawn_logged(deployed, *TWO)
    wait_for(lambda: log_of(proc).count("sqsq.worker: worker: ") == 2, "both children started", proc)
    children = started_children(proc)
    os.kill(proc.pid, signal.SIGKILL)  # the supervisor alone
    proc.wait(timeout=30)
    wait_for(lambda: all(exited(pid) for pid in children), "children to stop", proc)
    assert log_of(proc).count(f"the supervisor (pid {proc.pid}) is gone: stopping") == 2
    assert log_of(proc).count("worker stopped:") == 2


def test_burst_with_worker_processes_exits_0_once_the_queues_are_drained(deployed: Deployed) -> None:
    handles = sqsq.send_many(procs.whoami, [{"tag": str(i)} for i in range(20)])
    proc = spawn_logged(deployed, *TWO, "--burst")
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    assert all(h.status is Status.SUCCESS for h in handles)
    depth = deployed.app.transport.depth(deployed.queue())
    assert (depth.visible, depth.in_flight) == (0, 0)
    log = log_of(proc)
    assert log.count("drained its queues and exited 0: not restarted") == 2
    assert len(started_children(proc)) == 2


def imports_of_the_app(d: Deployed) -> list[int]:
    path = d.tmp / "sink.txt.imports"
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def test_worker_processes_are_forked_from_the_supervisor_and_do_not_import_the_app_again(deployed: Deployed) -> None:
    handles = sqsq.send_many(procs.whoami, [{"tag": str(i)} for i in range(20)])
    proc = spawn_logged(deployed, *TWO, "--burst")
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    assert all(h.status is Status.SUCCESS for h in handles)
    assert imports_of_the_app(deployed) == [proc.pid]  # once, in the supervisor; its children started from there
    assert len(started_children(proc)) == 2
    assert "not by fork" not in log_of(proc)


def test_forked_worker_processes_run_a_process_pool_of_their_own(deployed: Deployed) -> None:
    handles = sqsq.send_many(procs.whoami, [{"tag": str(i)} for i in range(6)])
    proc = spawn_logged(deployed, *TWO, "--burst", "--pool", "process", "-c", "1")
    assert proc.wait(timeout=180) == 0, log_of(proc)[-3000:]
    runners = {h.get(timeout_seconds=10) for h in handles}
    assert not runners & {proc.pid, *started_children(proc)}  # the bodies ran in the pools' spawned processes
    assert "not by fork" not in log_of(proc)


def test_with_process_start_exec_each_worker_process_is_a_fresh_interpreter(deployed: Deployed) -> None:
    handles = sqsq.send_many(procs.whoami, [{"tag": str(i)} for i in range(20)])
    proc = spawn_logged(deployed, *TWO, "--burst", extra_env={"SQSQ_PROCESS_START": "exec"})
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    assert all(h.status is Status.SUCCESS for h in handles)
    assert sorted(imports_of_the_app(deployed)) == sorted([proc.pid, *started_children(proc)])
    assert "as a fresh interpreter, not by fork: SQSQ_PROCESS_START=exec" in log_of(proc)


def test_an_app_that_starts_a_thread_at_import_gets_fresh_interpreters_not_forks(deployed: Deployed) -> None:
    handles = sqsq.send_many(procs.whoami, [{"tag": str(i)} for i in range(20)])
    proc = spawn_logged(deployed, *TWO, "--burst", extra_env={"PROCS_THREAD_AT_IMPORT": "1"})
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    assert all(h.status is Status.SUCCESS for h in handles)
    assert "WARNING sqsq.supervisor: starting each worker process as a fresh interpreter, not by fork: threads are " \
           "running in this process (procs-import-thread)" in log_of(proc)
    assert sorted(imports_of_the_app(deployed)) == sorted([proc.pid, *started_children(proc)])


def test_a_forked_worker_process_that_fails_at_start_up_is_restarted_then_given_up_on_with_its_exit_code(
    deployed: Deployed,
) -> None:
    # Every child fails its first call (nothing listens on port 9): exit code 4, an AWS error, which is restarted.
    proc = spawn_logged(deployed, *TWO, extra_env={"SQSQ_ENDPOINT_URL": "http://127.0.0.1:9",
                                                   "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert proc.wait(timeout=180) == 4, log_of(proc)[-3000:]
    log = log_of(proc)
    assert "error: cannot reach http://127.0.0.1:9" in log  # the child's one-line error, as the command prints it
    assert "Traceback" not in log
    assert re.search(r"worker process \d/2 \(pid \d+\) died 5 times in a row, each within 30 s of starting \(last: "
                     r"exit code 4\): giving up", log), log[-3000:]
    assert "restarting in 4.0 s (failure 4 in a row; giving up at 5)" in log
    assert imports_of_the_app(deployed) == [proc.pid]


def test_a_crash_looping_worker_process_makes_the_supervisor_give_up_with_a_clear_error(deployed: Deployed) -> None:
    # children die at import: so they must import it, as fresh interpreters do (forked ones never import it)
    proc = spawn_logged(deployed, "worker", "tests.apps.crashing:app", "--processes", "2",
                        extra_env={"SQSQ_PROCESS_START": "exec"})
    assert proc.wait(timeout=180) == 70, log_of(proc)[-3000:]
    log = log_of(proc)
    assert re.search(r"ERROR sqsq.supervisor: worker process \d/2 \(pid \d+\) died 5 times in a row, each within 30 s "
                     r"of starting \(last: exit code 70\): giving up, not restarting", log), log[-3000:]
    assert "restarting in 4.0 s (failure 4 in a row; giving up at 5)" in log  # it backed off before giving up
