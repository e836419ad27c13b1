"""A pool of child processes for CPU-bound task bodies (``sqsq worker --pool process``).

What crosses the process boundary:

* to a child: the registered task *name* and the envelope's JSON arguments (never a function, never a pickle of
  anything a message names); the child looks the task up in its own copy of the registry, imported once per child
  from the app's ``module:attribute`` spec by the pool's initializer;
* back: :class:`ChildEnded` holding the encoded result (JSON text), or the exception the task raised (when it
  survives a pickle round trip; otherwise a stand-in with the same type name and message) plus its traceback text.

A dying child is replaced alone
    A child that dies (``os._exit``, SIGKILL, the OOM killer) fails only the run it held: :meth:`ProcessPool.run`
    raises :class:`ChildProcessDied` for it (the worker releases that message; nothing was recorded for it), a new
    child takes its place, and the runs in the other children go on and finish once.

    Why pebble: the stdlib's :class:`concurrent.futures.ProcessPoolExecutor` (and loky's executor, built the same
    way) marks the whole pool broken when one child dies, failing every run in flight, so tasks in healthy
    children ran again. :class:`multiprocessing.Pool` replaces a dead worker but never completes the run it held
    (the caller waits forever). ``pebble.ProcessPool`` (LGPL, pure Python, maintained since 2013) tracks which
    child holds which run, fails exactly that run with ``ProcessExpired`` (exit code and pid) and starts a
    replacement; a per-run timeout that stops the child is also there for time limits. A pool of our own (one
    Process and pipe per child) would have to re-implement that bookkeeping. One pebble quirk is handled here:
    a child that dies while *no* run is in flight (an idle child killed) marks its pool broken; the next run then
    starts a fresh pool (nothing was running, so nothing is re-run).

Why a child died
    :class:`ChildProcessDied` carries ``exit_code`` (the child's exit status; negative: killed by that signal, as in
    :attr:`multiprocessing.Process.exitcode`) and ``reason``, one line such as ``"pool child died (SIGKILL)"`` or
    ``"pool child died (exit code 3)"``, for the worker's log and for a FAILURE record that says why.

Children run in their own process group, so a SIGTERM/SIGINT sent to the worker's group (Ctrl-C, ``kill -TERM
-PGID``) reaches only the worker, which then shuts down gracefully and stops its children itself. Each child also
exits at once when the worker process dies (it watches the worker's sentinel), so none is left behind.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import threading
import traceback
import typing
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import pebble

from sqsq.app import App, import_app
from sqsq.errors import ConfigError, TimeLimitExceeded
from sqsq.executor import encode_result
from sqsq.pools.common import ChildProcessDied, app_spec_of, death_reason  # noqa: F401 (re-exported)

log = logging.getLogger("sqsq.pools")

START_TIMEOUT_SECONDS = 120.0
"""Longest the first child may take to start and import the app before the worker gives up at start-up."""


class RemoteTaskError(Exception):
    """Stands in for a task exception that could not be pickled back from a pool process (same type name)."""


class ChildTraceback(Exception):
    """The traceback of a task exception as the pool process formatted it (the ``__cause__`` of that exception)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ChildEnded:
    """How a task body ended in a pool process: exactly one of the three fields is set.

    Attributes:
        result_json: the encoded return value (:func:`sqsq.executor.encode_result`).
        error: what the task raised (its ``__cause__`` holds the child's traceback).
        encode_error: what encoding the return value raised.
    """

    result_json: str | None = None
    error: BaseException | None = None
    encode_error: Exception | None = None


class ProcessPool:
    """``size`` child processes running task bodies by name; a child that dies is replaced alone.

    Args:
        app_spec: ``module:attribute`` of the app, imported by every child.
        size: child processes, >= 1 (the worker's concurrency).

    Attributes:
        restarts: children that died running a task and were replaced (plus pools restarted after an idle child
            died, see the module docstring).

    Example:
        >>> pool = ProcessPool("tests.apps.shop:app", size=2)
        >>> pool.start()
        >>> pool.run("tests.add", {"x": 1, "y": 2}).result_json
        '3'
        >>> pool.close()
    """

    def __init__(self, app_spec: str, size: int):
        if size < 1:
            raise ValueError("size must be >= 1")
        self.app_spec = app_spec
        self.size = size
        self.restarts = 0
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._pool: pebble.ProcessPool | None = None
        self._closed = False

    def _new_pool(self) -> pebble.ProcessPool:
        return pebble.ProcessPool(
            max_workers=self.size, initializer=_child_init, initargs=(self.app_spec,), context=self._ctx
        )

    def start(self) -> None:
        """Start the children and wait until one has imported the app.

        Raises:
            ConfigError: a child could not import the app (the message says why).
        """
        with self._lock:
            self._pool = self._new_pool()
            ping = self._pool.schedule(_child_ping)
        try:
            ping.result(timeout=START_TIMEOUT_SECONDS)
        except (BrokenProcessPool, pebble.ProcessExpired) as exc:
            self.close(kill=True)
            raise ConfigError(
                f"pool processes cannot start with app {self.app_spec!r} (see the traceback above): the module must "
                "import in a fresh interpreter from this directory, and a script that starts a worker itself needs "
                "an `if __name__ == \"__main__\":` guard (pool processes are spawned and import the main module)"
            ) from exc
        except concurrent.futures.TimeoutError as exc:
            self.close(kill=True)
            raise ConfigError(f"pool processes did not start within {START_TIMEOUT_SECONDS:.0f} s") from exc

    def run(self, task_name: str, args: dict[str, Any], time_limit_seconds: float | None = None) -> ChildEnded:
        """Run a task body in a child and wait for it.

        Args:
            task_name: the registered name.
            args: the envelope's JSON arguments (validated again in the child).
            time_limit_seconds: stop the child when the run takes longer (pebble's per-run timeout); ``None``: no
                limit.

        Returns:
            How the body ended.

        Raises:
            TimeLimitExceeded: the run took longer than ``time_limit_seconds``; its child was stopped and is
                replaced, the other children's runs go on.
            ChildProcessDied: the child running it died (``exit_code`` and ``reason`` say how; it is replaced,
                the other children's runs go on), or the pool was closed.
        """
        future = self._schedule(task_name, args, time_limit_seconds)
        try:
            ended: ChildEnded = future.result()
        except concurrent.futures.TimeoutError as exc:
            with self._lock:
                self.restarts += 1
            raise TimeLimitExceeded(
                f"task {task_name} ran past its time_limit_seconds={time_limit_seconds}; its pool process was stopped"
            ) from exc
        except pebble.ProcessExpired as exc:
            with self._lock:
                self.restarts += 1
            reason = death_reason(exc.exitcode)
            log.warning("%s while running %s (pid %s); a new child replaces it", reason, task_name, exc.pid)
            raise ChildProcessDied(f"{reason} while running {task_name}", exit_code=exc.exitcode, reason=reason) from exc
        except BrokenProcessPool as exc:  # an idle child died: pebble gave up on that pool (module docstring)
            raise ChildProcessDied(f"the process pool broke while running {task_name}: {exc}") from exc
        except concurrent.futures.CancelledError as exc:
            raise ChildProcessDied("the process pool was closed before the task started") from exc
        return ended

    def _schedule(
        self, task_name: str, args: dict[str, Any], time_limit_seconds: float | None = None
    ) -> concurrent.futures.Future[ChildEnded]:
        """Hand the run to the pool; a pool pebble gave up on (an idle child died) is replaced first."""
        with self._lock:
            if self._closed or self._pool is None:
                raise ChildProcessDied("the process pool is closed")
            if not self._pool.active:
                log.warning("a pool process died while idle: the process pool was restarted")
                self._pool.stop()  # type: ignore[no-untyped-call]
                self._pool = self._new_pool()
                self.restarts += 1
            try:
                return self._pool.schedule(_child_run, args=(task_name, args), timeout=time_limit_seconds)
            except RuntimeError as exc:
                raise ChildProcessDied(f"the process pool cannot run tasks: {exc}") from exc

    def close(self, *, kill: bool = False) -> None:
        """Stop the children and wait for them.

        Args:
            kill: stop children still running a task at once (their messages were released); otherwise wait.
        """
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is None:
            return
        if kill:
            pool.stop()  # type: ignore[no-untyped-call]  # pebble stops busy children (SIGTERM, then SIGKILL)
        else:
            pool.close()  # type: ignore[no-untyped-call]
        pool.join()


# -- in the child -----------------------------------------------------------------------------------------------

_child_app: App | None = None


def _child_init(app_spec: str) -> None:
    """Pool initializer: own process group, exit with the worker, import the app once."""
    global _child_app
    try:
        os.setpgrp()  # group signals (Ctrl-C, kill -TERM -PGID) are for the worker, which stops us itself
    except OSError:
        pass
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent.sentinel,), name="sqsq-parent-watch", daemon=True).start()
    _child_app = import_app(app_spec)


def _exit_with_parent(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _child_ping() -> int:
    return os.getpid()


def _child_run(task_name: str, args: dict[str, Any]) -> ChildEnded:
    """Run one task body by name (in a pool process). Never raises for anything the task does."""
    assert _child_app is not None, "pool initializer did not run"
    try:
        task = _child_app.get_task(task_name)
        model = task.load_args(args)
        value = task.run(model)
    except BaseException as exc:  # SystemExit, KeyboardInterrupt... raised by a task are its failure
        return ChildEnded(error=_portable(exc))
    try:
        return ChildEnded(result_json=encode_result(task, value, offload=_child_app.payloads is not None))
    except Exception as exc:
        return ChildEnded(encode_error=typing.cast(Exception, _portable(exc)))


def _portable(exc: BaseException) -> BaseException:
    """``exc`` as it pickles to the worker: with the child's traceback text as its ``__cause__``.

    An exception that does not survive a pickle round trip (e.g. a custom ``__init__`` with required arguments)
    becomes a :class:`RemoteTaskError` subclass of the same name and message, so the recorded error type is kept;
    ``retry_on`` then matches it only through ``Exception``.
    """
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        clone = pickle.loads(pickle.dumps(exc))
        portable: BaseException | None = exc if type(clone) is type(exc) else None
    except Exception:
        portable = None
    if portable is not None:
        portable.__cause__ = portable.__context__ = None
        portable.__traceback__ = None
    try:
        message = str(exc)
    except Exception:
        message = f"<str() of {type(exc).__name__} raised>"
    carrier = _Carrier(portable, type(exc).__name__, message, text)
    return carrier  # type: ignore[return-value]  # becomes the exception when unpickled in the worker


class _Carrier:
    """Pickles as a task exception; rebuilt in the worker with :class:`ChildTraceback` as its ``__cause__``."""

    def __init__(self, exc: BaseException | None, type_name: str, message: str, text: str):
        self.args = (exc, type_name, message, text)

    def __reduce__(self) -> tuple[Any, tuple[BaseException | None, str, str, str]]:
        return _rebuild, self.args


def _rebuild(exc: BaseException | None, type_name: str, message: str, text: str) -> BaseException:
    if exc is None:
        exc = type(type_name, (RemoteTaskError,), {"__module__": __name__})(message)
    exc.__cause__ = ChildTraceback(text)
    return exc
