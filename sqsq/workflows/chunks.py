"""``task.map(items)`` and ``task.chunks(items, size)``: a large input split into tasks of a chosen granularity.

* ``map``: **one task per item** (a :class:`~sqsq.workflows.canvas.Group` of ``task.s(item)``); ``get()`` is the
  list of results in the items' order.
* ``chunks``: **one task per ``size`` items**, each a message of the built-in task ``sqsq.chunk`` that runs the
  task on its items one after another in one worker and returns the list of their results; ``get()`` is the list
  of those lists, in order. Fewer messages (and SQS requests) per item, less parallelism.

An item is the task's arguments: a mapping of parameter name to value, or, for a task of one parameter, the
value itself. Every item is validated when the workflow is built.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqsq.app import App
from sqsq.errors import ValidationError
from sqsq.task import Task, TaskCall
from sqsq.workflows.canvas import Group

CHUNK_TASK_NAME = "sqsq.chunk"
"""The built-in task that runs one chunk (registered on an app when first needed, by sender and worker alike)."""


def _item_args(task: Task[Any, Any], item: Any) -> dict[str, Any]:
    fields = list(task.args_model.model_fields)
    if isinstance(item, Mapping):
        return dict(item)
    if len(fields) == 1:
        return {fields[0]: item}
    raise ValidationError(task.name, f"map/chunks items must be mappings of its {len(fields)} parameters "
                          f"({', '.join(fields)}), got {type(item).__name__}")


def map_group(task: Task[Any, Any], items: Iterable[Any]) -> Group[Any]:
    """One task per item (see the module docstring)."""
    return Group(TaskCall(task, _item_args(task, item)) for item in items)


def chunks_group(task: Task[Any, Any], items: Iterable[Any], size: int) -> Group[list[Any]]:
    """One ``sqsq.chunk`` task per ``size`` items (see the module docstring).

    Raises:
        ValidationError: ``size`` is not a positive int, no items, or an item is invalid for ``task``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValidationError(task.name, f"chunks(items, size): size must be a positive whole number, got {size!r}")
    dumped = [task.dump_args(task.validate_args(_item_args(task, item))) for item in items]
    chunk = chunk_task(cast(App, task.app))
    return Group(TaskCall(chunk, {"task": task.name, "items": dumped[i:i + size]}) for i in range(0, len(dumped), size))


def chunk_task(app: App) -> Task[Any, list[Any]]:
    """The app's ``sqsq.chunk`` task, registered now if it is not yet."""
    existing = app.tasks.get(CHUNK_TASK_NAME)
    if existing is not None:
        return existing

    def chunk(task: str, items: list[dict[str, Any]]) -> list[Any]:
        """Run ``task`` on each item here, in order; the list of results (JSON values)."""
        t = app.get_task(task)
        out = []
        for item in items:
            value = t.run(t.load_args(item))
            out.append(json.loads(t.return_adapter.dump_json(value)))
        return out

    registered: Task[Any, list[Any]] = app.task(name=CHUNK_TASK_NAME)(chunk)
    return registered
