"""A pool of child processes for CPU-bound task bodies (``sqsq worker --pool process``).

What crosses the process boundary:

* to a child: the registered task *name* and the envelope's JSON arguments (never a function, never a pickle of
  anything a message names); the child looks the task up in its own copy of the registry, imported once per child
  from the app's ``module:attribute`` spec by the pool's initializer;
* back: :class:`ChildEnded` holding the encoded result (JSON text), or the exception the task raised (when it
  survives a pickle round trip; otherwise a stand-in with the same type name and message) plus its traceback text.

A child that dies (``os._exit``, SIGKILL, the OOM killer) breaks the whole :class:`~concurrent.futures.ProcessPoolExecutor`:
every run in flight raises :class:`ChildProcessDied` (the worker releases those messages; nothing was recorded for
them) and the next run starts on a fresh pool.

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
import sys
import threading
import traceback
import typing
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from sqsq.app import App, import_app
from sqsq.errors import AttemptLost, ConfigError
from sqsq.executor import encode_result

log = logging.getLogger("sqsq.pools")

START_TIMEOUT_SECONDS = 120.0
"""Longest the first child may take to start and import the app before the worker gives up at start-up."""


class ChildProcessDied(AttemptLost):
    """A pool process died while running a task (or the pool was closed): the attempt is lost, not failed by the
    task (see :class:`sqsq.errors.AttemptLost`)."""


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


def app_spec_of(app: App) -> str | None:
    """The ``module:attribute`` spec a fresh process can import ``app`` from, found via its tasks' modules.

    Returns:
        e.g. ``"tests.apps.shop:app"``, or None when no importable module holds the app.
    """
    modules = {t.fn.__module__ for t in app.tasks.values()}
    for name in sorted(modules):
        module = sys.modules.get(name)
        if module is None or name == "__main__":
            continue
        for attr, value in vars(module).items():
            if value is app:
                return f"{name}:{attr}"
    return None


class ProcessPool:
    """``size`` child processes running task bodies by name; rebuilt when a child dies.

    Args:
        app_spec: ``module:attribute`` of the app, imported by every child.
        size: child processes, >= 1 (the worker's concurrency).

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
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._generation = 0
        self._closed = False

    def _new_executor(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.size, mp_context=self._ctx, initializer=_child_init, initargs=(self.app_spec,)
        )

    def start(self) -> None:
        """Start the children: wait until one has imported the app, let the others start in the background.

        Raises:
            ConfigError: a child could not import the app (the message says why).
        """
        with self._lock:
            self._executor = self._new_executor()
            futures = [self._executor.submit(_child_ping) for _ in range(self.size)]
        try:
            futures[0].result(timeout=START_TIMEOUT_SECONDS)
        except BrokenProcessPool as exc:
            self.close()
            raise ConfigError(
                f"pool processes cannot start with app {self.app_spec!r} (see the traceback above): the module must "
                "import in a fresh interpreter from this directory, and a script that starts a worker itself needs "
                "an `if __name__ == \"__main__\":` guard (pool processes are spawned and import the main module)"
            ) from exc
        except concurrent.futures.TimeoutError as exc:
            self.close()
            raise ConfigError(f"pool processes did not start within {START_TIMEOUT_SECONDS:.0f} s") from exc

    def run(self, task_name: str, args: dict[str, Any]) -> ChildEnded:
        """Run a task body in a child and wait for it.

        Args:
            task_name: the registered name.
            args: the envelope's JSON arguments (validated again in the child).

        Returns:
            How the body ended.

        Raises:
            ChildProcessDied: the child died (the pool is rebuilt for the next run), or the pool was closed.
        """
        with self._lock:
            executor, generation = self._executor, self._generation
        if executor is None:
            raise ChildProcessDied("the process pool is closed")
        try:
            future = executor.submit(_child_run, task_name, args)
        except BrokenProcessPool:
            executor, generation = self._rebuild(generation)
            try:
                future = executor.submit(_child_run, task_name, args)
            except (BrokenProcessPool, RuntimeError) as exc:
                raise ChildProcessDied(f"the process pool cannot run tasks: {exc}") from exc
        except RuntimeError as exc:  # shut down (the worker is stopping)
            raise ChildProcessDied(f"the process pool is closed: {exc}") from exc
        try:
            ended: ChildEnded = future.result()
        except BrokenProcessPool as exc:
            self._rebuild(generation)
            raise ChildProcessDied(
                f"a pool process died while running {task_name} (killed, out of memory, or os._exit)"
            ) from exc
        except concurrent.futures.CancelledError as exc:
            raise ChildProcessDied("the process pool was closed before the task started") from exc
        return ended

    def _rebuild(self, generation: int) -> tuple[concurrent.futures.ProcessPoolExecutor, int]:
        """Replace the broken executor of ``generation`` (once, however many runs saw it break)."""
        with self._lock:
            if self._closed:
                raise ChildProcessDied("the process pool is closed")
            if self._generation == generation:
                old = self._executor
                if old is not None:
                    old.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_executor()
                self._generation += 1
                self.restarts += 1
                log.warning("a pool process died: the process pool was restarted (%d restart(s) so far)", self.restarts)
            assert self._executor is not None
            return self._executor, self._generation

    def close(self, *, kill: bool = False) -> None:
        """Stop the children and wait for them.

        Args:
            kill: SIGKILL children still running a task (their messages were released); otherwise wait for them.
        """
        with self._lock:
            executor, self._executor, self._closed = self._executor, None, True
        if executor is None:
            return
        # ProcessPoolExecutor has no public way to stop busy children before Python 3.14 (terminate_workers).
        processes = list(getattr(executor, "_processes", {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        if kill:
            for p in processes:
                if p.is_alive():
                    p.kill()
        executor.shutdown(wait=True)


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
        return ChildEnded(result_json=encode_result(task, value))
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
