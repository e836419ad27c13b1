"""Forking supervised worker processes (:mod:`sqsq.prefork`): when it is refused, and the supervisor over forks."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

import pytest

from sqsq import prefork
from sqsq.errors import ConfigError
from sqsq.prefork import ForkedChild
from sqsq.retry import Backoff
from sqsq.supervisor import Supervisor

QUICK = Backoff(base_seconds=0.01, factor=1.0, max_seconds=0.01, jitter=False)


def run_forking(supervisor: Supervisor, child_exit: int) -> int:
    """``supervisor.run()`` whose forked children exit at once with ``child_exit`` (they must never return here)."""
    try:
        return supervisor.run()
    except ForkedChild:
        os._exit(child_exit)


def test_fork_is_refused_while_another_thread_runs() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="app-started-this")
    thread.start()
    try:
        assert "app-started-this" in (prefork.fork_unsafe_reason({}) or "")
    finally:
        stop.set()
        thread.join()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="sockets are counted from /proc")
def test_fork_is_refused_while_a_socket_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threading, "enumerate", lambda: [threading.current_thread()])  # pytest may run threads
    monkeypatch.setattr(prefork, "_count", lambda folder: 1)
    # The test process may hold sockets of its own (the suite's local AWS clients): count relative to them.
    before = prefork._sockets()
    monkeypatch.setattr(prefork, "_sockets", lambda real=prefork._sockets: real() - before)
    with socket.socket() as sock:
        assert "1 socket(s) are open" in (prefork.fork_unsafe_reason({}) or "")
        sock.close()
    assert prefork.fork_unsafe_reason({}) is None


def test_process_start_exec_is_honoured_and_an_unknown_method_is_an_error() -> None:
    assert prefork.fork_unsafe_reason({prefork.START_METHOD_VARIABLE: "exec"}) == "SQSQ_PROCESS_START=exec"
    with pytest.raises(ConfigError, match="SQSQ_PROCESS_START='spawn': use one of fork, exec"):
        prefork.fork_unsafe_reason({prefork.START_METHOD_VARIABLE: "spawn"})


def test_a_forked_child_that_exits_0_ends_a_burst_run_with_0(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "sqsq.supervisor")
    assert run_forking(Supervisor(None, 2, burst=True, backoff=QUICK), 0) == 0
    assert caplog.text.count("drained its queues and exited 0: not restarted") == 2


def test_a_forked_child_that_keeps_failing_is_restarted_then_given_up_on_with_its_exit_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "sqsq.supervisor")
    assert run_forking(Supervisor(None, 1, backoff=QUICK, give_up_after=3), 9) == 9
    assert caplog.text.count("started (pid") == 3
    assert "died 3 times in a row, each within 30 s of starting (last: exit code 9): giving up" in caplog.text


def test_a_forked_child_with_a_configuration_error_is_not_restarted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "sqsq.supervisor")
    assert run_forking(Supervisor(None, 1, backoff=QUICK), 3) == 3
    assert caplog.text.count("started (pid") == 1


def test_a_forked_child_keeps_stop_signals_blocked_until_it_installs_its_own_handlers() -> None:
    read, write = os.pipe()
    proc = None
    try:
        proc = prefork.fork()
    except ForkedChild:  # the child: a SIGTERM sent now must wait, not run the parent's handlers or kill it
        os.close(read)
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        os.write(write, b"1" if {signal.SIGTERM, signal.SIGINT} <= blocked else b"0")
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
        assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the parent's are unblocked
    finally:
        os.close(read)
        while proc.poll() is None:
            time.sleep(0.01)
    assert proc.returncode == 0


def test_a_forked_process_reports_a_signal_death_as_popen_does() -> None:
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    child = prefork.ForkedProcess(pid)
    assert child.poll() is None
    child.send_signal(signal.SIGKILL)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # exited; still to be reaped by poll()
    assert child.poll() == -signal.SIGKILL
    child.send_signal(signal.SIGTERM)  # known to be gone: nothing is sent (its pid may be someone else's now)
