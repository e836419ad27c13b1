"""``sqsq worker --processes N``: N single-process workers under one supervisor, restarted when they die.

Each child is the single-process worker, unchanged, with its own receivers, slots, heartbeat, acknowledger and
pool. The supervisor holds no AWS client, no thread and no message; it starts the children, watches them, restarts
one that dies and stops them all.

How a child starts (:mod:`sqsq.prefork`): by ``os.fork()`` of the supervisor, which has imported the app and the
worker's modules once, so a child starts in milliseconds instead of importing them again; the forked child returns
from the ``sqsq worker`` command as ``--processes 1`` does (same handlers installed from its main thread, same
one-line errors and named exit codes, which the supervisor reads: 2 usage and 3 configuration are not restarted;
no pickled options). Where forking is not safe (a thread or socket in the supervisor, no ``os.fork``, or
``SQSQ_PROCESS_START=exec``) each child is a fresh ``python -m sqsq.cli worker APP ... --processes 1`` instead.
Not ``multiprocessing``: spawn costs a fresh interpreter per child (and a resource-tracker process), and its fork
start method gives nothing the plain fork does not, while pickling the options.

Signals: the first SIGTERM/SIGINT to the supervisor is forwarded (SIGTERM) to every child, which stops as a single
worker does (stops receiving, releases what has not started, lets running tasks finish within
``--shutdown-grace-seconds``, flushes deletes); the supervisor waits for them all. A child under a supervisor takes
every SIGTERM/SIGINT as that graceful stop (so a signal sent to the whole process group, e.g. Ctrl-C or systemd's
control-group kill, plus the forwarded one, is not taken as "exit at once"); the second signal to the supervisor
is: it SIGKILLs the children and exits 1 (their messages return after their visibility timeout, as with a single
worker). A child whose supervisor is gone (SIGKILLed alone) notices within a second and stops gracefully.

Restarts: a child that exits when it was not asked to is restarted after a backoff (0.5 s, doubling, at most
30 s); one that ran :data:`STABLE_SECONDS` before dying starts the count again. After
:data:`GIVE_UP_AFTER_FAILURES` failures in a row, each within :data:`STABLE_SECONDS` of its start, the supervisor
logs one error line, stops the other children and exits with the child's exit code (1 if it was killed by a
signal). What a dead child held comes back after its visibility timeout and is taken by a live child (as when a
single worker is killed).

Burst (``--burst``): a child that exits 0 has drained its queues and is not restarted; the supervisor exits when
every child has exited.

Exit code: 0, or non-zero when the supervisor gave up (above), or a child's last exit (one not followed by a
restart) was a failure: that child's code, or 1 for a signal other than the SIGTERM/SIGINT of a stop.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from sqsq import prefork, startup_gc
from sqsq.prefork import ForkedChild, ForkedProcess
from sqsq.retry import Backoff

if TYPE_CHECKING:
    from sqsq.worker import Worker

log = logging.getLogger("sqsq.supervisor")

SUPERVISOR_PID_VARIABLE = "SQSQ_SUPERVISOR_PID"
"""Set by the supervisor in each child's environment: the child takes signals as a graceful stop only and stops
when this process is gone."""
PROCESSES_VARIABLE = "SQSQ_PROCESSES"
"""``sqsq worker``'s ``--processes`` when the option is not given (read by the CLI option)."""
RESTART_BACKOFF = Backoff(base_seconds=0.5, factor=2.0, max_seconds=30.0, jitter=False)
"""Delay before restarting a child after its n-th failure in a row: 0.5, 1, 2, 4 ... 30 s."""
STABLE_SECONDS = 30.0
"""A child that ran this long before it died was not crash-looping: its count of failures in a row restarts."""
GIVE_UP_AFTER_FAILURES = 5
"""Failures in a row of one child, each within :data:`STABLE_SECONDS` of its start, before the supervisor gives up."""
NOT_RESTARTED = {2: "usage error", 3: "configuration error"}
"""Exit codes of ``sqsq worker`` (see :mod:`sqsq.cli`) that a restart would only repeat."""
POLL_SECONDS = 0.1
"""How often the supervisor looks at its children."""
PARENT_CHECK_SECONDS = 1.0
"""How often a child looks whether its supervisor is still there."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def default_processes() -> int:
    """The number of worker processes when neither ``--processes`` nor ``SQSQ_PROCESSES`` is given: the CPUs."""
    return os.cpu_count() or 1


def run_worker(
    build: Callable[[], Worker],
    *,
    processes: int | None,
    child_args: Sequence[str],
    burst: bool,
    environ: Mapping[str, str] | None = None,
    in_child: Callable[[], None] | None = None,
) -> int:
    """Run one worker in this process, or ``processes`` of them under a :class:`Supervisor`. Returns the exit code.

    Args:
        build: makes the single-process worker (here when ``processes`` is 1, else in each forked child).
        processes: worker processes, >= 1; None: :func:`default_processes`.
        child_args: the ``sqsq`` command line of one child, without the interpreter (it ends ``--processes 1``).
        burst: exit once the queues are empty (children that exit 0 are not restarted).
        environ: the environment; default ``os.environ``.
        in_child: called first in a forked child, before ``build`` (e.g. to set up its logging).

    Raises:
        QueueNotFound, ResultsTableNotFound, EndpointUnreachable: single process, at start-up (see
            :meth:`sqsq.worker.Worker.run`); under a supervisor the children report them and exit.
        ConfigError: ``SQSQ_PROCESS_START`` is neither ``fork`` nor ``exec``.
    """
    env = os.environ if environ is None else environ
    count = default_processes() if processes is None else processes
    if count > 1:
        startup_gc.finish()  # the supervisor's start-up ends here (its children have their own)
        supervisor_pid = os.getpid()
        why_not_fork = prefork.fork_unsafe_reason(env)
        if why_not_fork is not None:
            log.log(logging.INFO if why_not_fork.startswith(prefork.START_METHOD_VARIABLE) else logging.WARNING,
                    "starting each worker process as a fresh interpreter, not by fork: %s", why_not_fork)
        command = [sys.executable, "-m", "sqsq.cli", *child_args] if why_not_fork else None
        supervisor = Supervisor(command, count, burst=burst)
        supervisor.install_signal_handlers()
        try:
            return supervisor.run()
        except ForkedChild:  # this process is a child the supervisor forked: it runs one worker, below
            pass
        return _run_forked_child(build, supervisor_pid, in_child)
    worker = build()
    supervisor_pid_text = env.get(SUPERVISOR_PID_VARIABLE)
    if supervisor_pid_text:
        install_child_handlers(worker, int(supervisor_pid_text))
    else:
        worker.install_signal_handlers()
    return worker.run()


def _run_forked_child(build: Callable[[], Worker], supervisor_pid: int, in_child: Callable[[], None] | None) -> int:
    """A forked child's worker: built here, stopped by every signal and by the supervisor's death (see the module)."""
    os.environ[SUPERVISOR_PID_VARIABLE] = str(supervisor_pid)  # as a re-executed child has it (its own children too)
    startup_gc.pause()  # until its first receive, as a single worker's start-up
    if in_child is not None:
        in_child()
    worker = build()
    install_child_handlers(worker, supervisor_pid)
    prefork.unblock_signals()
    return worker.run()


def install_child_handlers(worker: Worker, supervisor_pid: int) -> None:
    """Under a supervisor: every SIGTERM/SIGINT stops ``worker`` gracefully, and so does the supervisor's death.

    Call from the main thread. The supervisor owns "exit at once" (it SIGKILLs on its second signal), so the same
    signal arriving twice (from the process group and forwarded) does not cut the grace period short.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping (grace %.0f s)", signum, worker.shutdown_grace_seconds)
        worker.stop()

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)

    def watch() -> None:
        while os.getppid() == supervisor_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        log.warning("the supervisor (pid %d) is gone: stopping", supervisor_pid)
        worker.stop()

    threading.Thread(target=watch, name="sqsq-supervisor-watch", daemon=True).start()


def describe_exit(code: int) -> str:
    """``exit code 4`` or ``killed by SIGKILL`` for a ``Popen.returncode``."""
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


@dataclass
class _Child:
    """One of the N places a worker process runs in, across its restarts."""

    number: int
    proc: subprocess.Popen[bytes] | ForkedProcess | None = None
    started_at: float = 0.0
    failures_in_a_row: int = 0
    restart_at: float | None = None
    finished: bool = False
    stop_sent: bool = False
    pending_failure: int | None = None
    """The exit code of a failure whose restart is pending (it is the supervisor's exit code if a stop cancels it)."""


class Supervisor:
    """Starts ``processes`` children running ``command``, restarts those that die, stops them on a signal.

    Args:
        command: one child's command line, e.g. ``[sys.executable, "-m", "sqsq.cli", "worker", APP, ...,
            "--processes", "1"]``; it runs with :data:`SUPERVISOR_PID_VARIABLE` set to this process's id. None:
            fork this process (:func:`sqsq.prefork.fork`); in the child :meth:`run` raises
            :class:`sqsq.prefork.ForkedChild` (see :func:`run_worker`).
        processes: how many children, >= 1.
        burst: a child that exits 0 is done (not restarted); :meth:`run` returns when all are done.
        backoff: delay before a restart after the n-th failure in a row.
        give_up_after: failures in a row (each within ``stable_seconds`` of the start) before giving up.
        stable_seconds: a child that lived this long before it died starts its count again.

    Example:
        >>> Supervisor([sys.executable, "-m", "sqsq.cli", "worker", "shop.tasks:app", "--processes", "1"], 4).run()
    """

    def __init__(
        self,
        command: Sequence[str] | None,
        processes: int,
        *,
        burst: bool = False,
        backoff: Backoff = RESTART_BACKOFF,
        give_up_after: int = GIVE_UP_AFTER_FAILURES,
        stable_seconds: float = STABLE_SECONDS,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes={processes}: need at least 1")
        self.command = None if command is None else list(command)
        self.burst = burst
        self.backoff = backoff
        self.give_up_after = give_up_after
        self.stable_seconds = stable_seconds
        self.children = [_Child(i + 1) for i in range(processes)]
        self.exit_code = 0
        self._stopping = False
        self._killing = False
        self._signals = 0

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: the first stops the children gracefully, the second SIGKILLs them (main thread only).

        SIGCHLD goes back to its default, so that the children's exit codes can be read.
        """

        def handler(signum: int, frame: FrameType | None) -> None:
            self._signals += 1
            if self._signals > 1:
                log.warning("second signal: killing the worker processes now; their unfinished messages return "
                            "after their visibility timeout")
                self.kill()
                return
            log.info("signal %d: stopping %d worker processes", signum, len(self.children))
            self.stop()

        for sig in STOP_SIGNALS:
            signal.signal(sig, handler)
        if hasattr(signal, "SIGCHLD"):  # an app's SIG_IGN lets the kernel reap the children: their exit codes are lost
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)

    def stop(self) -> None:
        """Forward SIGTERM to every child once and restart none; :meth:`run` returns when all have exited."""
        self._stopping = True
        self._forward()

    def kill(self) -> None:
        """SIGKILL every child (they release nothing; their messages come back after the visibility timeout)."""
        self._stopping = self._killing = True
        self.exit_code = self.exit_code or 1
        self._forward()

    def _forward(self) -> None:
        """Once stopping: SIGTERM each child not yet told (SIGKILL each when killing); no restart is pending."""
        for child in self.children:
            if child.pending_failure is not None:  # its last exit, now not restarted
                self.exit_code = self.exit_code or self._code_of(child.pending_failure)
            child.restart_at, child.pending_failure = None, None
            if child.proc is not None and (self._killing or not child.stop_sent):
                child.stop_sent = True
                self._signal(child.proc, signal.SIGKILL if self._killing else signal.SIGTERM)

    def run(self) -> int:
        """Start the children and supervise them until all have exited. Returns the exit code (see the module)."""
        log.info("supervisor (pid %d): starting %d worker processes%s", os.getpid(), len(self.children),
                 " (burst)" if self.burst else "")
        for child in self.children:
            self._start(child)
        while not all(c.proc is None and (c.finished or self._stopping) for c in self.children):
            now = time.monotonic()
            if self._stopping:
                self._forward()  # a child started while the signal arrived is told too
            for child in self.children:
                code = child.proc.poll() if child.proc is not None else None
                if code is not None:
                    self._exited(child, code, now)
                elif child.proc is None and child.restart_at is not None and now >= child.restart_at:
                    self._start(child)
            time.sleep(POLL_SECONDS)
        log.info("supervisor: all %d worker processes have exited; exit code %d", len(self.children), self.exit_code)
        return self.exit_code

    def _start(self, child: _Child) -> None:
        if self.command is None:
            child.proc = prefork.fork()  # raises ForkedChild in the child
        else:
            env = {**os.environ, SUPERVISOR_PID_VARIABLE: str(os.getpid())}
            child.proc = subprocess.Popen(self.command, env=env)
        child.started_at = time.monotonic()
        child.restart_at = None
        child.pending_failure = None
        child.stop_sent = False
        log.info("worker process %d/%d started (pid %d)", child.number, len(self.children), child.proc.pid)

    def _exited(self, child: _Child, code: int, now: float) -> None:
        assert child.proc is not None
        pid, lived_seconds = child.proc.pid, now - child.started_at
        child.proc = None
        what = f"worker process {child.number}/{len(self.children)} (pid {pid})"
        if self._stopping:
            child.finished = True
            if code == 0 or -code in STOP_SIGNALS:
                log.info("%s stopped (%s)", what, describe_exit(code))
            elif code in NOT_RESTARTED:  # it failed at its start, as the one that made the supervisor give up did
                log.error("%s exited with %s (%s, see its error above)", what, describe_exit(code), NOT_RESTARTED[code])
                self.exit_code = self.exit_code or code
            else:
                log.error("%s failed while stopping (%s)", what, describe_exit(code))
                self.exit_code = self.exit_code or self._code_of(code)
            return
        if self.burst and code == 0:
            child.finished = True
            log.info("%s drained its queues and exited 0: not restarted", what)
            return
        self._failed(child, code, what, lived_seconds, now)

    def _failed(self, child: _Child, code: int, what: str, lived_seconds: float, now: float) -> None:
        how = describe_exit(code)
        if code in NOT_RESTARTED:
            self._give_up(f"{what} exited with {how} ({NOT_RESTARTED[code]}, see its error above): a restart would "
                          "fail the same way; not restarting. Fix it and start the worker again", code)
            return
        child.failures_in_a_row = child.failures_in_a_row + 1 if lived_seconds < self.stable_seconds else 1
        if child.failures_in_a_row >= self.give_up_after:
            self._give_up(
                f"{what} died {child.failures_in_a_row} times in a row, each within {self.stable_seconds:.0f} s of "
                f"starting (last: {how}): giving up, not restarting. See its output above, fix the cause and start "
                "the worker again", self._code_of(code),
            )
            return
        delay = self.backoff.delay_seconds(child.failures_in_a_row)
        log.warning("%s died unexpectedly (%s) after %.1f s: restarting in %.1f s (failure %d in a row; giving up "
                    "at %d)", what, how, lived_seconds, delay, child.failures_in_a_row, self.give_up_after)
        child.restart_at = now + delay
        child.pending_failure = code

    def _give_up(self, reason: str, code: int) -> None:
        log.error("%s", reason)
        self.exit_code = self.exit_code or code
        self.stop()

    @staticmethod
    def _code_of(code: int) -> int:
        return code if code > 0 else 1

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes] | ForkedProcess, sig: int) -> None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:  # already gone; poll() reaps it
            pass
