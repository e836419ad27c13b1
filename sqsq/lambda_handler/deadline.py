"""Whether a record still fits in the invocation's remaining time.

A record is started only when ``context.get_remaining_time_in_millis()`` leaves room for it: its task's
``time_limit_seconds`` (or, without one, the longest run of that task this handler has seen, except for the first
record of an invocation, which always starts) plus the handler's safety margin. A context without that method, or
one returning something other than a finite number, means the remaining time is unknown: nothing is held back.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

from sqsq.app import App
from sqsq.lambda_handler.invocation import Invocation
from sqsq.lambda_handler.records import describe, peek

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

__all__ = ["RunTimes", "needed_seconds", "remaining_seconds"]


class RunTimes:
    """The longest run per task name seen by one handler (seconds); thread-safe.

    Attributes:
        longest_seconds: task name -> the longest run seen (seconds).
    """

    def __init__(self) -> None:
        self.longest_seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, task_name: str, seconds: float) -> None:
        """Note one run of ``task_name`` that took ``seconds``."""
        with self._lock:
            self.longest_seconds[task_name] = max(self.longest_seconds.get(task_name, 0.0), seconds)

    def longest(self, task_name: str) -> float:
        """The longest run of ``task_name`` seen so far (0.0 if none)."""
        with self._lock:
            return self.longest_seconds.get(task_name, 0.0)


def remaining_seconds(inv: Invocation, logger: Logger) -> float | None:
    """Seconds left in the invocation, or None when unknown (no context, or it cannot tell; logged once)."""
    if inv.context is None or inv.remaining_time_unknown:
        return None
    try:
        millis: Any = inv.context.get_remaining_time_in_millis()
        seconds = float(millis) / 1000.0
        if not math.isfinite(seconds):
            raise ValueError(f"not a finite number: {millis!r}")
    except (AttributeError, TypeError, ValueError) as exc:
        inv.remaining_time_unknown = True
        logger.warning(
            "the context cannot tell the remaining time; records start without a time check",
            extra={"context_type": type(inv.context).__name__, "error": describe(exc)},
        )
        return None
    return seconds


def needed_seconds(app: App, inv: Invocation, runs: RunTimes, margin_seconds: float, body: str) -> float:
    """Seconds a record needs: its task's time limit, else the longest run of that task seen so far (nothing for
    the first record of an invocation, so one slow outlier cannot stall the queue), plus the margin."""
    _, task_name = peek(body)
    task = app.tasks.get(task_name)
    if task is not None and task.time_limit_seconds is not None:
        return task.time_limit_seconds + margin_seconds
    if not inv.durations_seconds:
        return margin_seconds
    return runs.longest(task_name) + margin_seconds
