"""Logging for the poller worker and the CLI: text or JSON lines, the running task on every line, one line per task.

* :func:`configure_logging` installs one handler on the root logger (stderr), text or JSON. Like
  :func:`logging.basicConfig` it leaves a root logger that something else configured (a host program, pytest)
  alone; calling it again replaces only the handler it installed itself.
* The JSON format is one object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, plus
  ``task_id`` and ``task_name`` on every line logged while a task runs (:func:`task_log_context`, a contextvar, so
  a line logged by the task's own code on its thread carries them too), the fields sqsq gives with ``extra=``
  (``duration_seconds``, ``outcome``, and the task on the finished-task line) and ``exception`` (the traceback)
  when there is one.
* :func:`log_task_finished` is the one INFO line per finished task: name, id, duration and outcome. The noisy
  parts (each receive, each batch call) stay at DEBUG; botocore is held at WARNING.

Example:
    >>> configure_logging("INFO", fmt="json")                      # doctest: +SKIP
    >>> with task_log_context("shop.add", "5f0c…"):                 # doctest: +SKIP
    ...     logging.getLogger("shop").info("adding")              # {"time": ..., "task_id": "5f0c…", ...}
    ...     log_task_finished("shop.add", "5f0c…", 0.012, "success")

Contextvars follow threads and asyncio tasks: a context set on a pool thread is seen by that thread only, a
context set in a coroutine by that asyncio task only. Tasks run in a ``--pool process`` child log from that child,
without this context.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Literal, TypeVar

__all__ = [
    "JsonFormatter",
    "LogFormat",
    "TaskLog",
    "configure_logging",
    "current_task",
    "flush_logs",
    "log_task_finished",
    "outcome_name",
    "task_log_context",
]

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The text format (what ``sqsq`` has always printed)."""
TASK_LOGGER = "sqsq.task"
"""The logger of the one line per finished task."""
EXTRA_FIELDS = ("task_name", "task_id", "duration_seconds", "outcome")
"""``extra=`` keys the JSON format copies to its object."""
_HANDLER_NAME = "sqsq"
T = TypeVar("T")

_task: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("sqsq_task", default=None)
log = logging.getLogger(TASK_LOGGER)


def current_task() -> tuple[str, str] | None:
    """``(task_name, task_id)`` of the task running in this context, or ``None``."""
    return _task.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring); never raises on odd values (``default=str``)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        running = _task.get()
        if running is not None:
            out["task_name"], out["task_id"] = running
        for key in EXTRA_FIELDS:
            if key in record.__dict__:
                out[key] = record.__dict__[key]
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(
    level: str | int = "INFO", fmt: LogFormat = "text", stream: IO[str] | None = None, *, batched: bool = False
) -> None:
    """Log to ``stream`` (default stderr) at ``level``, as text lines or JSON objects.

    Args:
        level: a logging level name (``"DEBUG"``, ``"info"``...) or number; an unknown name means INFO.
        fmt: ``"text"`` (``time LEVEL logger: message``) or ``"json"`` (one object per line).
        stream: where to write; default ``sys.stderr`` at the time of the call.
        batched: write INFO/DEBUG lines in batches, at most :data:`sqsq.log_buffer.LOG_FLUSH_SECONDS` late
            (:class:`sqsq.log_buffer.BatchedStreamHandler`; the worker's one line per task); WARNING and worse are
            written at once either way.

    Raises:
        ValueError: ``fmt`` is neither ``"text"`` nor ``"json"``.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"log format {fmt!r}: use 'text' or 'json'")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == _HANDLER_NAME]
    if root.handlers and not ours:  # configured by someone else: leave it, as logging.basicConfig does
        return
    for old in ours:
        root.removeHandler(old)
        old.close()  # a batched handler writes what it kept
    out = stream if stream is not None else sys.stderr
    if batched:
        from sqsq.log_buffer import BatchedStreamHandler

        handler: logging.Handler = BatchedStreamHandler(out)
    else:
        handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else getattr(logging, level.upper(), logging.INFO))


@dataclass
class TaskLog:
    """What :func:`task_log_context` yields: the task's name and id, and when it started (monotonic seconds)."""

    task_name: str
    task_id: str
    started: float

    def finished(self, outcome: T) -> T:
        """Log the task's one INFO line (duration since :attr:`started`) and return ``outcome`` unchanged."""
        log_task_finished(self.task_name, self.task_id, time.monotonic() - self.started, outcome)
        return outcome


@contextlib.contextmanager
def task_log_context(task_name: str, task_id: str) -> Iterator[TaskLog]:
    """Mark every line logged in this context (thread or asyncio task) with ``task_name`` and ``task_id``.

    Args:
        task_name: the registered task name.
        task_id: the task id.

    Yields:
        A :class:`TaskLog`, whose ``finished(outcome)`` logs the task's line with the duration measured here.
    """
    token = _task.set((task_name, task_id))
    try:
        yield TaskLog(task_name, task_id, time.monotonic())
    finally:
        _task.reset(token)


_OUTCOMES = {"Ack": "success", "RetryAfter": "retry", "DeadLetter": "failure", "Release": "released"}


def outcome_name(outcome: object) -> str:
    """A short word for an executor outcome (``success``, ``duplicate``, ``retry``, ``failure``, ``released``,
    ``deferred``; ``time_limit_exceeded`` for ``None``, the worker's "the time-limit watchdog recorded it"); a
    string is taken as it is. By class name, so that this module needs nothing from the layers above it."""
    if isinstance(outcome, str):
        return outcome
    if outcome is None:
        return "time_limit_exceeded"
    name = _OUTCOMES.get(type(outcome).__name__, type(outcome).__name__)
    if getattr(outcome, "duplicate", False):
        return "duplicate"
    if getattr(outcome, "deferred", False):
        return "deferred"
    return name


def log_task_finished(task_name: str, task_id: str, duration_seconds: float, outcome: object) -> None:
    """The one INFO line for a finished task: ``task NAME[ID] OUTCOME in N.NNN s``.

    Args:
        task_name: the registered task name.
        task_id: the task id.
        duration_seconds: how long it ran, in seconds.
        outcome: the executor's outcome or a word for it (see :func:`outcome_name`).
    """
    word = outcome_name(outcome)
    log.info("task %s[%s] %s in %.3f s", task_name, task_id, word, duration_seconds,
             extra={"task_name": task_name, "task_id": task_id, "duration_seconds": round(duration_seconds, 6),
                    "outcome": word})


def flush_logs() -> None:
    """Write what the root logger's handlers keep (a batched handler's lines) now."""
    for handler in logging.getLogger().handlers:
        handler.flush()
