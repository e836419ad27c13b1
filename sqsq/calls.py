"""``sqsq.send`` and ``sqsq.send_many``: send a task (or a checked :class:`sqsq.task.TaskCall`, or a workflow) on its
own app.

Every form ends in :meth:`sqsq.App.send` / :meth:`sqsq.App.send_many` of the task's app (a workflow in its
``.delay()``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, Unpack, overload

from sqsq.errors import ValidationError
from sqsq.task import Args, Sendable, Task, TaskCall, WaitableResult

if TYPE_CHECKING:
    from sqsq.handle import AsyncResult  # in annotations only (loaded by the first send)
    from sqsq.send_options import SendKwargs, SendManyKwargs  # loaded on the first send (issue 11, start-up)

P = ParamSpec("P")
R = TypeVar("R")


def _task_of(task: object, function: str) -> Task[Any, Any]:
    if isinstance(task, Task):
        return task
    if callable(task):
        what = getattr(task, "__qualname__", type(task).__name__)
        raise ValidationError(
            str(what), f"sqsq.{function} takes a task, got the plain function {what}: decorate it with @app.task"
        )
    raise ValidationError(str(task), f"sqsq.{function} takes a task object; use app.{function}(name, ...) for names")


@overload
def send(task: TaskCall[R], /, **options: Unpack[SendKwargs]) -> AsyncResult[R]: ...


@overload
def send(task: Sendable[R], /) -> WaitableResult[R]: ...


@overload
def send(task: Task[P, R], args: Args, **options: Unpack[SendKwargs]) -> AsyncResult[R]: ...


def send(
    task: Task[Any, Any] | TaskCall[Any] | Sendable[Any], args: Args | None = None, **options: Unpack[SendKwargs]
) -> AsyncResult[Any] | WaitableResult[Any]:
    """Validate and enqueue one task on its app. See :meth:`App.send`.

    Two forms: ``sqsq.send(add, {"x": 1, "y": 2})`` (arguments as a mapping or the task's model; the handle is
    typed, the mapping is checked at run time) and ``sqsq.send(add.s(x=1, y=2))`` (the call checked by type
    checkers too). Options are keyword-only in both; ``group_id``/``deduplication_id`` (FIFO queues), ``tenant``
    (fair queues), ``attributes`` and ``eta`` as in :meth:`App.send`. A workflow (``sqsq.chain/group/chord``,
    issue 13) is sent as by its ``.delay()``, returning its :class:`sqsq.WorkflowResult`; it takes no options.

    Raises:
        ValidationError, TaskNotRegistered, LimitExceeded, PayloadTooLarge, SendFailed, AwsError.
    """
    from sqsq.send_options import send_options_of

    send_options_of("send", options)  # an unknown option is a TypeError, whatever is sent
    if getattr(task, "__sqsq_workflow__", False):  # issue 13: a chain, group or chord (sqsq.workflows)
        given = sorted(name for name, value in options.items() if value)
        if args is not None or given:
            raise ValidationError(
                "workflow", f"sqsq.send(workflow) takes no arguments or options (got {given or 'arguments'}): its "
                "steps have them"
            )
        return task.delay()  # type: ignore[union-attr]  # a Sendable (duck-typed: sqsq.workflows imports this)
    if isinstance(task, TaskCall):
        if args is not None:
            raise ValidationError(task.task.name, "sqsq.send(task.s(...)) takes no second argument: the call has them")
        return task.task.app.send(task.task, task.args, **options)
    t = _task_of(task, "send")
    if args is None:
        raise ValidationError(t.name, "sqsq.send(task, args) needs the arguments (or send task.s(...) / task.delay(...))")
    return t.app.send(t, args, **options)


def send_many(
    task: Task[P, R], args_list: Iterable[Args], **options: Unpack[SendManyKwargs]
) -> list[AsyncResult[R]]:
    """Validate and enqueue many calls of one task with SendMessageBatch. See :meth:`App.send_many`."""
    t = _task_of(task, "send_many")
    return t.app.send_many(t, args_list, **options)
