"""Starting a supervised worker process by ``os.fork()`` after the supervisor has loaded everything (pre-fork).

``sqsq worker --processes N`` (:mod:`sqsq.supervisor`) imports sqsq, the app and the worker's modules once, in the
supervisor, then forks its children: a child starts where the supervisor left off (the app loaded and its models
built) instead of importing it all again, which took each re-executed child about 250 ms of CPU on a 2-core machine.
Restarts fork again from the same supervisor. This is gunicorn's ``--preload`` and Celery's prefork pool; the
objects built so far are in :func:`gc.freeze`'s permanent generation (:mod:`sqsq.startup_gc`), the pattern the
Python docs give for pre-fork servers, so the children's collector passes do not touch (and copy) them.

A fork copies one thread and every open descriptor, so it is safe only in a process that has no other thread (one
could hold a lock forever in the child: a logging handler's, an allocator's) and no socket (both children would
read one connection; the standard streams do not count: every child shares them anyway). :func:`fork_unsafe_reason`
checks both just before each fork; the supervisor holds neither (it logs through a plain, unbatched handler, makes no
AWS client and starts no thread). When the check fails (the app started a thread or opened a connection at import, or
the platform has no ``os.fork``), or :data:`START_METHOD_VARIABLE` is ``exec``, the supervisor starts each child as
a fresh ``python -m sqsq.cli worker`` instead, as before, and says why in one line.

The child: SIGTERM/SIGINT are blocked across the fork, so the supervisor's own handlers can never run in a child;
:func:`fork` then raises :class:`ForkedChild` in the child, which unwinds out of the supervisor's loop to
:func:`sqsq.supervisor.run_worker`, where the child builds its single-process worker, installs its own handlers and
unblocks the signals (a signal sent meanwhile is delivered then). The child then returns from the ``sqsq worker``
command like a ``--processes 1`` worker does: the same one-line errors, the same exit codes, the same exit.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from sqsq.errors import ConfigError

START_METHOD_VARIABLE = "SQSQ_PROCESS_START"
"""``fork`` (default): start supervised children by forking the loaded supervisor; ``exec``: as fresh processes."""
START_METHODS = ("fork", "exec")
BLOCKED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ForkedChild(BaseException):
    """Raised by :func:`fork` in the child: it unwinds the supervisor's frames (none of which catches it)."""


def fork_unsafe_reason(environ: Mapping[str, str] | None = None) -> str | None:
    """Why this process must not fork its worker processes now, or None when it may.

    Args:
        environ: the environment (for :data:`START_METHOD_VARIABLE`); default ``os.environ``.

    Raises:
        ConfigError: :data:`START_METHOD_VARIABLE` is neither ``fork`` nor ``exec``.
    """
    method = (os.environ if environ is None else environ).get(START_METHOD_VARIABLE, "fork")
    if method not in START_METHODS:
        raise ConfigError(f"{START_METHOD_VARIABLE}={method!r}: use one of {', '.join(START_METHODS)} (how `sqsq worker "
                          "--processes N` starts its worker processes)")
    if method == "exec":
        return f"{START_METHOD_VARIABLE}=exec"
    if not hasattr(os, "fork"):
        return "os.fork is not available on this platform"
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:
        return f"threads are running in this process ({', '.join(sorted(others))}), started by the app's import?"
    native = _count(Path("/proc/self/task"))
    if native is not None and native > 1:
        return f"{native} threads are running in this process (started by a library at import?)"
    sockets = _sockets()
    if sockets:
        return f"{sockets} socket(s) are open in this process (a connection opened by the app's import?)"
    return None


def _count(folder: Path) -> int | None:
    try:
        return sum(1 for _ in folder.iterdir())
    except OSError:  # no /proc: the check of Python's own threads above is what there is
        return None


STANDARD_STREAMS = 3
"""Descriptors 0-2 (stdin, stdout, stderr): every child shares them, forked or re-executed, so a socket there (systemd's
journal stream, a socketpair) is no connection a fork would share by mistake."""


def _sockets() -> int:
    """Open sockets of this process other than its standard streams (Linux /proc; 0 where it cannot tell)."""
    count = 0
    try:
        for fd in Path("/proc/self/fd").iterdir():
            if fd.name.isdigit() and int(fd.name) < STANDARD_STREAMS:
                continue
            try:
                count += os.readlink(fd).startswith("socket:")
            except OSError:  # closed meanwhile (the descriptor of the listing itself)
                continue
    except OSError:
        return 0
    return count


class ForkedProcess:
    """A forked child as the supervisor watches it: the part of :class:`subprocess.Popen` it uses.

    Args:
        pid: the child's process id (a child of this process).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the child has exited (reaping it), else None; ``-N`` when killed by signal N."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` unless the child is known to have exited (its pid may be reused)."""
        if self.returncode is None:
            os.kill(self.pid, sig)


def fork() -> ForkedProcess:
    """Fork this process with SIGTERM/SIGINT blocked. In the parent: the child's handle (signals unblocked again).

    Raises:
        ForkedChild: in the child, whose SIGTERM/SIGINT stay blocked until :func:`unblock_signals`.
        OSError: the fork failed (e.g. no memory or process slots); nothing was started.
    """
    for stream in (sys.stdout, sys.stderr):  # what is buffered would be written by both processes
        if stream is not None:
            stream.flush()
    for handler in logging.getLogger().handlers:
        handler.flush()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED_SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        raise
    if pid == 0:
        raise ForkedChild()
    signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return ForkedProcess(pid)


def unblock_signals() -> None:
    """In a forked child, once its own handlers are installed: let SIGTERM/SIGINT (and any pending one) in."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, BLOCKED_SIGNALS)
