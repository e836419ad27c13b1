"""A registered task: its name, queue, argument schema, return schema and retry policy; typed sending.

Decorating builds schemas only; it does no I/O. A task is generic in its parameters and return type
(``Task[P, R]``), so the ways to send it are checked by mypy and pyright against the function's signature:

* ``add.delay(x=1, y=2)`` (or ``add.send(...)``, the same call): returns ``AsyncResult[R]``.
* ``add.options(delay_seconds=30, queue="slow").delay(x=1, y=2)``: send options are keyword-only on their own
  call, so they never collide with the task's parameter names.
* ``sqsq.send(add.s(x=1, y=2), delay_seconds=30)``: ``s()`` checks the call and returns a :class:`TaskCall`
  (Celery's signature) for :func:`sqsq.send`/:func:`sqsq.send_many`.

A task knows its app only as a :class:`TaskOwner` (what it needs: ``send`` and ``send_many``), so this module
does not import :mod:`sqsq.app`.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import import_module
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, Unpack

from pydantic import BaseModel, TypeAdapter

from sqsq.args_model import build_args_model, refuse_secrets
from sqsq.errors import ConfigError, ValidationError
from sqsq.retry import Backoff
from sqsq.task_data import TaskData

if TYPE_CHECKING:
    from sqsq.handle import AsyncResult  # in annotations only: a consumer never makes a handle (issue 11, start-up)
    from sqsq.send_options import SendKwargs, SendManyKwargs
    from sqsq.send_options import SendOptions as SendOptions
    from sqsq.send_options import check_send_queue as check_send_queue

__all__ = ["Args", "Options", "SendOptions", "Task", "TaskCall", "TaskOwner", "check_send_queue"]


def __getattr__(name: str) -> Any:
    # SendOptions and check_send_queue are re-exported from sqsq.send_options, loaded on first use: a consumer
    # (a Lambda function's first invocation) sends nothing (issue 11, start-up).
    if name not in ("SendOptions", "check_send_queue"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module("sqsq.send_options"), name)
    globals()[name] = value
    return value

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

Args = BaseModel | Mapping[str, Any]
"""Arguments as ``send`` takes them: a mapping of parameter name to value, or a model-argument task's model."""


class TaskOwner(Protocol):
    """What a task needs of its app (:class:`sqsq.App` is one): sending, one call or many."""

    @property
    def name(self) -> str: ...

    def send(self, task: Task[Any, Any], args: Args, **options: Unpack[SendKwargs]) -> AsyncResult[Any]: ...

    def send_many(
        self, task: Task[Any, Any], args_list: Iterable[Args], **options: Unpack[SendManyKwargs]
    ) -> list[AsyncResult[Any]]: ...


class WaitableResult(Protocol[R_co]):
    """A sent workflow's handle as a task sees it (issue 13; :class:`sqsq.workflows.WorkflowResult` is one)."""

    @property
    def id(self) -> str: ...

    def get(self, timeout_seconds: float = 30.0, poll_interval_seconds: float = 0.2) -> R_co: ...


class Sendable(Protocol[R_co]):
    """What ``task.map`` and ``task.chunks`` return (a :class:`sqsq.workflows.Group`): sent with ``.delay()``."""

    def delay(self) -> WaitableResult[R_co]: ...


@dataclass(frozen=True)
class TaskCall(Generic[R_co]):
    """One call of a task, arguments bound but not validated or sent (Celery's signature): ``add.s(x=1, y=2)``.

    Send it with :func:`sqsq.send` (one) or :func:`sqsq.send_many` (many); the handle's ``get()`` returns ``R``.

    Attributes:
        task: the task.
        args: the arguments, as ``send`` takes them (validated when sent).
    """

    task: Task[..., R_co]
    args: Args
    # -- issue 13, workflows: the parameter a chain passes the previous result as (None: the one left unbound).
    passed_as: str | None = None

    def pass_as(self, parameter: str) -> TaskCall[R_co]:
        """This call, taking the previous chain step's result (or a chord's list) as ``parameter``."""
        return replace(self, passed_as=parameter)


class Options(Generic[P, R]):
    """A task with send options bound: ``add.options(delay_seconds=30).delay(x=1, y=2)``.

    Made by :meth:`Task.options`; ``delay``/``send`` take the task's own parameters, checked by type checkers.
    """

    def __init__(self, task: Task[P, R], options: SendKwargs):
        from sqsq.send_options import send_options_of

        self.task = task
        self.send_options = send_options_of("options", options)
        self._options = options

    def __repr__(self) -> str:
        return f"<Options of {self.task.name}: {self.send_options}>"

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[R]:
        """Validate and enqueue one call with these options. Same errors as :meth:`sqsq.App.send`."""
        return self.task.app.send(self.task, self.task.bind(args, kwargs), **self._options)

    send = delay


@dataclass(eq=False)
class Task(TaskData[R], Generic[P, R]):
    """A registered task. Calling it runs the function here, synchronously (no queue).

    Validating and encoding its arguments and result (``validate_args``, ``load_args``, ``dump_args``,
    ``check_arrival``, ``dump_result``, ``load_result``) are inherited from :class:`sqsq.task_data.TaskData`.

    Attributes:
        app: the app it is registered in.
        name: the stable registered name (``"<module>.<function>"`` by default).
        fn: the function.
        queue: logical queue name (``None`` = the app's default queue).
        ignore_result: do not store SUCCESS results (failures are still recorded).
        max_retries: retries after the first attempt (``None`` = as many as the queue's maxReceiveCount allows).
        backoff: delay between attempts; ``None`` leaves it to the queue's visibility timeout.
        retry_on: exception types that cause a retry; others fail at once.
        time_limit_seconds: longest a run may take; the worker keeps the message invisible up to this long.
        track_started: write a STARTED record before running (one extra DynamoDB write); ignored with
            ``ignore_result`` (no state is stored then).
        claim: claim the task id with a leased conditional write before running, so two deliveries of one task
            racing on two workers run it once (one extra DynamoDB write; see :mod:`sqsq.executor`).
        group_key: FIFO queues: the message group of a send that gives no ``group_id``, computed from the
            validated arguments (``lambda args: args.customer_id``); see :mod:`sqsq.grouping`.
    """

    app: TaskOwner
    name: str
    fn: Callable[P, R]
    queue: str | None = None
    ignore_result: bool = False
    max_retries: int | None = None
    backoff: Backoff | None = None
    retry_on: tuple[type[BaseException], ...] = ()
    time_limit_seconds: float | None = None
    track_started: bool = False
    claim: bool = False
    group_key: Callable[[Any], str] | None = None
    args_model: type[BaseModel] = field(init=False)
    single_model: bool = field(init=False)
    return_adapter: TypeAdapter[Any] = field(init=False)

    def __post_init__(self) -> None:
        limit = self.time_limit_seconds
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float)
                                  or not 0 < limit < float("inf")):
            raise ConfigError(f"task {self.name}: time_limit_seconds={limit!r} must be a finite number of seconds > 0")
        if self.group_key is not None and not callable(self.group_key):
            raise ConfigError(f"task {self.name}: group_key must be a function of the arguments returning the message "
                              f"group (a str), got {type(self.group_key).__name__}")
        self.args_model, self.single_model = build_args_model(self.fn, self.name)
        hints = typing.get_type_hints(self.fn, include_extras=True)
        self.return_adapter = TypeAdapter(hints.get("return", Any))
        refuse_secrets(self.name, self.args_model, self.return_adapter)
        self.__doc__ = self.fn.__doc__

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[R]:
        """Validate and enqueue one call, with the task's parameters (checked by type checkers).

        ``add.delay(x=1, y=2)`` is ``sqsq.send(add, {"x": 1, "y": 2})``; a model-argument task takes its model
        (``resize.delay(Resize(key="a.png"))``). For send options use :meth:`options`.

        Returns:
            A handle whose ``get()`` returns the task's return type.

        Raises:
            ValidationError, LimitExceeded, PayloadTooLarge, SendFailed, AwsError: as :meth:`sqsq.App.send`.
        """
        return self.app.send(self, self.bind(args, kwargs))

    send = delay

    def options(self, **options: Unpack[SendKwargs]) -> Options[P, R]:
        """Bind send options, keyword-only, apart from the task's arguments: ``add.options(queue="slow").delay(...)``.

        Args:
            delay_seconds: seconds before the task may run, 0 to 365 days (checked at send; see :class:`SendOptions`).
            queue: logical queue to send to instead of the task's own (a non-empty name).
            group_id, deduplication_id: FIFO queues (see :meth:`sqsq.App.send`).
            tenant: standard queues: the fair-queue tenant (see :meth:`sqsq.App.send`).
            attributes: SQS message attributes (:mod:`sqsq.attributes`), checked at send.
            eta: an aware datetime before which the task does not run (instead of ``delay_seconds``).

        Returns:
            An :class:`Options` whose ``delay``/``send`` take the task's parameters.

        Raises:
            ConfigError: ``queue`` is not a non-empty string.
        """
        from sqsq.send_options import check_send_queue

        check_send_queue(options.get("queue"))
        return Options(self, options)

    def s(self, *args: P.args, **kwargs: P.kwargs) -> TaskCall[R]:
        """This call as a :class:`TaskCall` for :func:`sqsq.send` / :func:`sqsq.send_many` (checked, not sent)."""
        return TaskCall(self, self.bind(args, kwargs))

    def map(self, items: Iterable[Any]) -> Sendable[list[R]]:
        """One task per item, in parallel (issue 13; see :mod:`sqsq.workflows.chunks`): ``.delay().get()`` is the
        list of results in order. An item is the arguments (a mapping), or the value of a one-parameter task."""
        # By name: sqsq.workflows imports this module (tests/unit/test_layers.py keeps layer 3 free of cycles).
        return importlib.import_module("sqsq.workflows.chunks").map_group(self, items)  # type: ignore[no-any-return]

    def chunks(self, items: Iterable[Any], size: int) -> Sendable[list[list[R]]]:
        """One task per ``size`` items (issue 13; see :mod:`sqsq.workflows.chunks`): each runs its items in order
        and returns their results; ``.delay().get()`` is the list of those lists, in order."""
        return importlib.import_module("sqsq.workflows.chunks").chunks_group(self, items, size)  # type: ignore[no-any-return]

    def partial(self, *args: Any, **kwargs: Any) -> TaskCall[R]:
        """A workflow step that leaves a parameter for the previous result (issue 13): ``double.partial()``,
        ``add.partial(y=10)``, ``add.partial(x=1).pass_as("y")``. Like :meth:`s`, but type checkers check only the
        return type (``.s(...)`` needs every parameter); the arguments are checked when the workflow is built."""
        return TaskCall(self, self.bind(args, kwargs))

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Args:
        """Python call arguments as ``send`` takes them (a mapping by parameter name, or the single model).

        Positional arguments take the parameters in order; validation (missing, unknown, wrong type) is left to
        :meth:`validate_args`, so its errors read the same however the task is sent.

        Raises:
            ValidationError: more positional arguments than parameters, or one given twice.
        """
        names = list(self.args_model.model_fields) if not self.single_model else list(
            inspect.signature(self.fn).parameters
        )
        if len(args) > len(names):
            raise ValidationError(self.name, f"takes {len(names)} arguments, {len(args)} were given positionally")
        bound = dict(zip(names, args, strict=False))
        twice = sorted(set(bound) & set(kwargs))
        if twice:
            raise ValidationError(self.name, f"{', '.join(twice)}: given both by position and by name")
        bound.update(kwargs)
        if not self.single_model or list(bound) != names:
            return bound  # a single-model task given its model's fields by name validates them as the model
        value = bound[names[0]]
        if not isinstance(value, BaseModel | Mapping):
            raise ValidationError(
                self.name, f"{names[0]}: expected {self.args_model.__name__}, got {type(value).__name__}"
            )
        return value

    @property
    def is_async(self) -> bool:
        """True for ``async def`` tasks."""
        return inspect.iscoroutinefunction(self.fn)

    def call(self, model: BaseModel) -> Any:
        """Call the function with validated arguments; for an ``async def`` task, return its coroutine unawaited.

        The worker awaits that coroutine on its long-lived event loop (see :mod:`sqsq.pools`), so many async tasks
        are in flight at once without a thread each.
        """
        fn = typing.cast(Callable[..., Any], self.fn)
        if self.single_model:
            return fn(model)
        kwargs = {name: getattr(model, name) for name in type(model).model_fields}
        positional = [kwargs.pop(p.name) for p in inspect.signature(self.fn).parameters.values()
                      if p.kind is p.POSITIONAL_ONLY]
        return fn(*positional, **kwargs)

    def run(self, model: BaseModel) -> R:
        """Call the function with validated arguments and return its value.

        Standalone use (direct calls, tests, the Lambda handler): an ``async def`` task runs to completion on a
        fresh event loop (``asyncio.run``). A worker instead awaits :meth:`call`'s coroutine on its own loop.
        """
        result = self.call(model)
        if inspect.iscoroutine(result):
            import asyncio  # here, not at the top: asyncio adds ~11 ms to every import of sqsq (Lambda cold starts)

            result = asyncio.run(result)
        return typing.cast(R, result)
