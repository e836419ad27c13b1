"""The running task's context: ``sqsq.context.current()`` inside a task says which message it is running.

Set by the poller's thread pool and event loop and by the Lambda handler around each run (a contextvar, so each
thread and asyncio task sees its own). Tasks run in a pool process (``--pool process``) see ``None``: the context
is not sent to the child.

Example:
    >>> @app.task()  # doctest: +SKIP
    ... def resize(key: str) -> None:
    ...     ctx = sqsq.context.current()
    ...     tenant = ctx.attributes.get("tenant") if ctx else None
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar("sqsq_context", default=None)


@dataclass(frozen=True)
class TaskContext:
    """What a running task may know about its message.

    Attributes:
        task_id: the task id.
        task_name: the registered task name.
        attempt: the receive count (1 on the first delivery).
        generation: redrives from a DLQ so far (0 for a fresh send).
        attributes: the message attributes the sender set (:mod:`sqsq.attributes`: ``str``, ``int``, ``Decimal`` or
            ``bytes`` values), the extended client's own left out.
    """

    task_id: str
    task_name: str
    attempt: int
    generation: int = 0
    attributes: Mapping[str, Any] = field(default_factory=dict)


def current() -> TaskContext | None:
    """The context of the task running here, or ``None`` outside a task (or in a pool process)."""
    return _current.get()


@contextlib.contextmanager
def task_context(context: TaskContext) -> Iterator[TaskContext]:
    """Make ``context`` what :func:`current` returns inside the block."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
