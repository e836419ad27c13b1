"""The app: a named set of tasks and the AWS resources they use; the entry points for sending.

Decorators only register; connections open lazily on first use. The parts live beside it: argument schemas in
:mod:`sqsq.args_model`, the task in :mod:`sqsq.task`, the backends in :mod:`sqsq.backends`, queue declarations and
names in :mod:`sqsq.app_queues`, the send options in :mod:`sqsq.send_options`, what ``send``/``send_many``/``batch``
do in :mod:`sqsq.app_sending` (message preparation and batching in :mod:`sqsq.sending`), periodic declarations in
:mod:`sqsq.scheduling.periodic`, the result handle in :mod:`sqsq.handle` (``AsyncResult`` is re-exported here).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, Unpack, overload

from sqsq.app_queues import AppQueues
from sqsq.calls import send, send_many
from sqsq.config import Settings
from sqsq.errors import ConfigError, TaskNotRegistered
from sqsq.queue_config import QueueConfig
from sqsq.results import ResultStore
from sqsq.retry import Backoff
from sqsq.task import Args, Task
from sqsq.transport import Transport

if TYPE_CHECKING:
    from sqsq.app_sending import Sender
    from sqsq.handle import AsyncResult as AsyncResult
    from sqsq.scheduling.expressions import Cron, Every
    from sqsq.scheduling.periodic import PeriodicTask
    from sqsq.send_options import SendKwargs, SendManyKwargs, SendOptions  # loaded on the first send (issue 11)
    from sqsq.transport.payloads import PayloadStore
    from sqsq.transport.schedules import Scheduler

__all__ = ["App", "AsyncResult", "import_app", "send", "send_many"]


def __getattr__(name: str) -> Any:  # AsyncResult (sqsq.handle) on first use: a consumer makes no handle (issue 11)
    if name != "AsyncResult":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module("sqsq.handle").AsyncResult

P = ParamSpec("P")
R = TypeVar("R")


class App(AppQueues):
    """A sqsq application: a named set of tasks and the AWS resources they use.

    Args:
        name: the app's name; resources are named after it (queues ``"<name>-<queue>"``, table ``"<name>-results"``).
        settings: full settings; by default read from the environment (see :class:`sqsq.config.Settings`).
        transport: queue backend (default: SQS via boto3, built on first use).
        results: results backend (default: DynamoDB, built on first use).
        payloads: S3 payload store for large bodies and results (default: S3 when ``payload_bucket`` is set).
        scheduler: one-time schedules backend (default: EventBridge Scheduler, built on first use).
        **setting_overrides: any :class:`Settings` field, e.g. ``endpoint_url=``, ``region=``.

    Raises:
        ConfigError: an unknown setting or a bad value.

    Queue naming and declarations (``queue_name``, ``dlq_name``, ``declare_queue``, ``queue_config``) are inherited
    from :class:`sqsq.app_queues.AppQueues`, the backends from :class:`sqsq.backends.AppBackends`; sending is done
    by :class:`sqsq.app_sending.Sender`.

    Example:
        >>> app = App("shop")
        >>> @app.task()
        ... def add(x: int, y: int) -> int:
        ...     return x + y
    """

    def __init__(
        self,
        name: str,
        *,
        settings: Settings | None = None,
        transport: Transport | None = None,
        results: ResultStore | None = None,
        payloads: PayloadStore | None = None,
        scheduler: Scheduler | None = None,
        **setting_overrides: Any,
    ):
        super().__init__(
            name, settings=settings, transport=transport, results=results, payloads=payloads, scheduler=scheduler,
            **setting_overrides,
        )
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.queue_configs: dict[str, QueueConfig] = {}
        self.periodic_tasks: dict[str, PeriodicTask] = {}  # issue 12: app.schedule(...), by schedule name
        self._sender_lock = threading.Lock()
        self._sender_built: Sender | None = None

    @property
    def _sender(self) -> Sender:
        """The :class:`~sqsq.app_sending.Sender`, built on the first send (a consumer never imports sending)."""
        with self._sender_lock:
            if self._sender_built is None:
                self._sender_built = importlib.import_module("sqsq.app_sending").Sender(self)
            return self._sender_built

    def logical_queues(self) -> list[str]:
        """Logical queue names the registered tasks use, plus declared queues and the default queue, sorted."""
        names = {t.queue or self.settings.default_queue for t in self.tasks.values()}
        names.add(self.settings.default_queue)
        names.update(self.queue_configs)
        names.update(p.queue for p in self.periodic_tasks.values() if p.queue)
        return sorted(names)

    # -- registration ---------------------------------------------------------------------------------------

    @overload
    def task(self, name: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        name: str | None = None,
        *,
        queue: str | None = None,
        ignore_result: bool = False,
        max_retries: int | None = None,
        backoff: Backoff | None = None,
        retry_on: Sequence[type[BaseException]] = (),
        time_limit_seconds: float | None = None,
        track_started: bool = False,
        claim: bool = False,
        group_key: Callable[[Any], str] | None = None,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self,
        name: str | Callable[..., Any] | None = None,
        *,
        queue: str | None = None,
        ignore_result: bool = False,
        max_retries: int | None = None,
        backoff: Backoff | None = None,
        retry_on: Sequence[type[BaseException]] = (),
        time_limit_seconds: float | None = None,
        track_started: bool = False,
        claim: bool = False,
        group_key: Callable[[Any], str] | None = None,
    ) -> Any:
        """Register a function as a task: ``@app.task`` or ``@app.task(...)`` with options. Does no I/O.

        Args:
            name: registered name; default ``"<module>.<function>"``. Messages name tasks by this, so keep it stable.
                As a bare decorator (``@app.task``, no parentheses) this is the function itself.
            queue: logical queue (default: the app's default queue).
            ignore_result: store no SUCCESS result (failures are still recorded).
            max_retries: retries after the first attempt; ``None`` = up to the queue's maxReceiveCount.
            backoff: delay between attempts (:class:`sqsq.retry.Backoff`); ``None`` = the visibility timeout.
            retry_on: exception types that retry; any other exception fails the task at once.
            time_limit_seconds: the longest one run may take (seconds); bounds the visibility heartbeat.
            track_started: record STARTED before running (one more DynamoDB write per run). Ignored with
                ``ignore_result=True``, which stores no state (a STARTED record would never be followed by SUCCESS).
            claim: before running, claim the task id with a conditional write holding a lease of
                ``time_limit_seconds`` (default 15 minutes); a second delivery that finds a live lease is put back
                with a delay instead of running. Two deliveries racing on two workers then run the task once,
                unless the first outlives its lease. One more DynamoDB write per run. See :mod:`sqsq.executor`.
            group_key: on a FIFO queue, the message group of a send that passes no ``group_id=``: called with the
                validated arguments (the task's argument model), returns a str (``lambda args: args.customer_id``).

        Returns:
            The :class:`Task` (bare decorator), or a decorator returning it.

        Raises:
            TypeError: ``name`` is neither a string nor a function, the decorated object is not a function (or is
                already a task), a parameter lacks an annotation, or the name is taken by another function.

        Example:
            >>> @app.task
            ... def add(x: int, y: int) -> int:
            ...     return x + y
        """
        options: dict[str, Any] = dict(
            queue=queue, ignore_result=ignore_result, max_retries=max_retries, backoff=backoff,
            retry_on=tuple(retry_on), time_limit_seconds=time_limit_seconds, track_started=track_started, claim=claim,
            group_key=group_key,
        )
        if callable(name):  # a bare @app.task (a task given again is refused by _register)
            return self._register(name, None, options)
        _check_task_name(name)

        def decorate(fn: Callable[P, R]) -> Task[P, R]:
            return self._register(fn, name, options)

        return decorate

    def _register(self, fn: Callable[P, R], name: str | None, options: dict[str, Any]) -> Task[P, R]:
        if isinstance(fn, Task):
            raise TypeError(f"@app.task was applied to {fn.name!r}, which is already a task; decorate it once")
        if isinstance(fn, type):  # a class is callable, but a task is a function (no class-based tasks as in Celery)
            raise TypeError(f"@app.task decorates a function; got the class {fn.__name__!r}: decorate a function "
                            "that does the work")
        if not callable(fn):
            raise TypeError(f"@app.task decorates a function; got {type(fn).__name__} {fn!r}")
        task_name = name or f"{fn.__module__}.{fn.__qualname__}"
        t: Task[P, R] = Task(app=self, name=task_name, fn=fn, **options)
        existing = self.tasks.get(task_name)
        if existing is not None and existing.fn is not fn and existing.fn.__code__ is not fn.__code__:
            raise TypeError(f"task name {task_name!r} is already registered to {existing.fn!r}; pass name=")
        self.tasks[task_name] = t
        return t

    def schedule(
        self,
        task: Task[Any, Any] | str,
        schedule: Cron | Every,
        *,
        args: Args | None = None,
        name: str | None = None,
        flexible_window_minutes: int | None = None,
        queue: str | None = None,
    ) -> PeriodicTask:
        """Declare a periodic task: EventBridge Scheduler sends it at every firing of ``schedule``. Does no I/O.

        ``sqsq template`` renders it as an ``AWS::Scheduler::Schedule`` in the app's schedule group (retry policy,
        the queue's DLQ as its dead-letter target); ``sqsq local --template`` creates it on the local AWS, whose
        scheduler fires it. Each firing is a task with its own id, ``"periodic.<name>:<scheduled time>"``, and
        its own record. A long run does not block the next firing; declare the task with ``claim=True`` for at
        most one run at a time. See :mod:`sqsq.scheduling.periodic`.

        Args:
            task: the task, or its registered name.
            schedule: ``sqsq.cron("0 3 * * *", timezone="Europe/Berlin")`` or ``sqsq.every(seconds=3600)``.
            args: the arguments every firing runs with, validated now by the task's schema.
            name: the schedule's name, 1-64 of ``0-9 a-z A-Z . _ -``; default the task's name.
            flexible_window_minutes: let EventBridge fire anywhere within this many minutes (1-1440) after each
                time; default None (FlexibleTimeWindow OFF: at the time).
            queue: logical queue to send the firings to instead of the task's own.

        Returns:
            The :class:`sqsq.scheduling.periodic.PeriodicTask` (also in ``app.periodic_tasks``).

        Raises:
            ConfigError: a schedule that is not cron()/every(), a bad or repeated name, a window out of range.
            ValidationError: ``args`` do not match the task's schema.
            TaskNotRegistered: no task under that name.

        Example:
            >>> app.schedule(report, sqsq.cron("0 3 * * *", timezone="Europe/Berlin"), args={"day": "today"})
        """
        from sqsq.scheduling.periodic import declare  # periodic tasks' cron/rate parsing: loaded when declared

        t = self.get_task(task) if isinstance(task, str) else task
        _check_send_queue(queue)
        return declare(self.periodic_tasks, t, schedule, args=args, name=name, queue=queue,
                       flexible_window_minutes=flexible_window_minutes)

    def get_task(self, name: str) -> Task[Any, Any]:
        """The task registered under ``name``. Raises TaskNotRegistered."""
        try:
            return self.tasks[name]
        except KeyError:
            raise TaskNotRegistered(name, list(self.tasks)) from None

    # -- sending (the mechanics are in sqsq.app_sending and sqsq.sending) ------------------------------------

    @overload
    def send(self, task: Task[P, R], args: Args, **options: Unpack[SendKwargs]) -> AsyncResult[R]: ...

    @overload
    def send(self, task: str, args: Args, **options: Unpack[SendKwargs]) -> AsyncResult[Any]: ...

    def send(self, task: Task[Any, Any] | str, args: Args, **options: Unpack[SendKwargs]) -> AsyncResult[Any]:
        """Validate and enqueue one task. Every way of sending (``task.delay``, ``sqsq.send``...) ends here.

        Args:
            task: the task, or its registered name.
            args: the arguments (a mapping or the task's pydantic model instance).
            delay_seconds: seconds before the task may run, 0 to 365 days. Up to 900 s: SQS DelaySeconds; beyond:
                a one-time EventBridge schedule and a SCHEDULED record (see :mod:`sqsq.scheduling`).
            queue: logical queue to send to instead of the task's own.
            group_id: FIFO queues: the message group (order is kept within it); default: the task's
                ``group_key`` of the arguments. See :mod:`sqsq.grouping`.
            deduplication_id: FIFO queues: MessageDeduplicationId (default: the task id). SQS enqueues one message
                per id within 5 minutes.
            tenant: standard queues: the fair-queue tenant (sent as MessageGroupId).
            attributes: SQS message attributes (name -> str, int, float, Decimal or bytes; at most 9), read in the
                task through :func:`sqsq.context.current`; see :mod:`sqsq.attributes`.
            eta: an aware datetime before which the task does not run, instead of ``delay_seconds`` (in the past:
                now; naive: refused).

        Returns:
            A handle on the task's result (``.id``, ``.get(timeout_seconds=…)``); typed by the task's return type.

        Raises:
            ValidationError: the arguments do not match the task's schema, or would not arrive at the worker as
                they are (see :mod:`sqsq.codec`); nothing sent.
            SendOptionError: the send's options are wrong (a FIFO queue without a message group, options the
                queue's type does not take, a naive ``eta``, a bad attribute); a ValidationError too; nothing sent.
            TaskNotRegistered: no task under that name (nothing sent).
            LimitExceeded / PayloadTooLarge: delay or size out of limits, or a delay on a FIFO queue (nothing
                sent).
            ConfigError: a send past 900 s without a scheduler role on AWS (SQSQ_SCHEDULER_ROLE_ARN).
            SendFailed / AwsError: SQS (or EventBridge Scheduler) rejected the message.
        """
        return self._sender.send(task, args, _send_options_of("send", options))

    @overload
    def send_many(
        self, task: Task[P, R], args_list: Iterable[Args], **options: Unpack[SendManyKwargs]
    ) -> list[AsyncResult[R]]: ...

    @overload
    def send_many(
        self, task: str, args_list: Iterable[Args], **options: Unpack[SendManyKwargs]
    ) -> list[AsyncResult[Any]]: ...

    def send_many(
        self, task: Task[Any, Any] | str, args_list: Iterable[Args], **options: Unpack[SendManyKwargs]
    ) -> list[AsyncResult[Any]]:
        """Validate every call, then enqueue them with SendMessageBatch (10 per request, within the size limit).

        Every argument set is validated before the first request, so a bad one sends nothing. ``group_id`` /
        ``tenant`` as in :meth:`send`, for every message (a task's ``group_key`` gives each its own group); each
        entry carries its own MessageGroupId and MessageDeduplicationId (its task id). Calls due past 900 s
        (``delay_seconds``/``eta``) are one CreateSchedule each (EventBridge Scheduler has no batch API).

        Returns:
            One handle per argument set, in order.

        Raises:
            ValidationError, TaskNotRegistered, LimitExceeded, PayloadTooLarge: nothing was sent.
            SendFailed: some entries were rejected after retries (``.failures`` by task id); the rest were sent once.
        """
        return self._sender.send_many(task, args_list, _send_options_of("send_many", options, many=True))

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Buffer every ``send`` made in this thread inside the block; flush as SendMessageBatch calls.

        Sends go out every 10 messages per queue and when the block ends. Handles are valid at once.

        Raises:
            SendFailed: on exit (or at a flush), for entries SQS rejected.

        Example:
            >>> with app.batch():
            ...     for i in range(100):
            ...         add.delay(x=i, y=i)
        """
        with self._sender.batch():
            yield


def _check_send_queue(queue: object) -> None:
    """:func:`sqsq.send_options.check_send_queue`, imported when a schedule is declared (issue 11)."""
    from sqsq.send_options import check_send_queue

    check_send_queue(queue)


def _send_options_of(where: str, given: Mapping[str, Any], *, many: bool = False) -> SendOptions:
    """:func:`sqsq.send_options.send_options_of`, imported on the first send (a consumer sends nothing; issue 11)."""
    from sqsq.send_options import send_options_of

    return send_options_of(where, given, many=many)


def _check_task_name(name: object) -> None:
    if name is not None and not isinstance(name, str):
        raise TypeError(f"app.task takes a task name (str) or, as a bare @app.task, a function; got "
                        f"{type(name).__name__} {name!r}. Options are keywords: @app.task(queue=..., max_retries=...)")


def import_app(spec: str) -> App:
    """Import ``module:attribute`` and return that :class:`App` (the current directory is importable).

    Used by the CLI (``APP`` arguments) and by pool processes; never to run code a message names.

    Raises:
        ConfigError: malformed spec, module not importable, no such attribute, or the attribute is not an App.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"APP must look like module:attribute (e.g. sqsq.demo.app:app), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}") from exc
    except SystemExit as exc:  # the module called sys.exit() while being imported
        raise ConfigError(f"importing {module_name!r} called sys.exit({exc.code!r}); APP must import without exiting") from exc
    except Exception as exc:  # SyntaxError, or whatever the module raised at import: one line, not a traceback
        where = f" ({exc.filename}, line {exc.lineno})" if isinstance(exc, SyntaxError) else ""
        raise ConfigError(f"importing {module_name!r} raised {type(exc).__name__}: {exc}{where}") from exc
    if not hasattr(module, attr):
        raise ConfigError(f"module {module_name!r} has no attribute {attr!r}; APP is module:attribute of a sqsq.App")
    app = getattr(module, attr)
    if not isinstance(app, App):
        raise ConfigError(f"{spec!r} is not a sqsq.App (got {type(app).__name__})")
    return app
