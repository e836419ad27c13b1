"""The app: task registry, sending, and result handles.

Decorators only register; connections open lazily on first use.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel

from sqsq import limits
from sqsq.config import Settings, load_settings
from sqsq.errors import (
    AwsError,
    ConfigError,
    LimitExceeded,
    PayloadTooLarge,
    ResultNotReadable,
    ResultTimeout,
    SendFailed,
    SqsqError,
    TaskFailed,
    TaskIdConflict,
    TaskNotRegistered,
    ValidationError,
)
from sqsq.message import Envelope, body_size_bytes, new_task_id
from sqsq.queue_config import Consumer, QueueConfig
from sqsq.results import ResultRecord, ResultStore, Status
from sqsq.retry import Backoff
from sqsq.signing import KeyRing
from sqsq.task import Task
from sqsq.transport import OutgoingMessage, Transport, send_batch_with_retries, split_batches

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("sqsq")

# Per-entry retries for SendMessageBatch entries SQS failed without a sender fault (throttled, internal).
_ENTRY_RETRY_ATTEMPTS = 5
# What App.using() swaps and puts back (besides _setting_overrides, which it copies).
_SWAPPABLE = ("_settings", "_transport", "_results", "_aws_clients", "_keyring", "_keyring_loaded")


@dataclass(frozen=True)
class _Prepared:
    task: Task[Any, Any]
    envelope: Envelope
    queue_name: str
    body: str
    delay_seconds: int


class App:
    """A sqsq application: a named set of tasks and the AWS resources they use.

    Args:
        name: the app's name; resources are named after it (queues ``"<name>-<queue>"``, table ``"<name>-results"``).
        settings: full settings; by default read from the environment (see :class:`sqsq.config.Settings`).
        transport: queue backend (default: SQS via boto3, built on first use).
        results: results backend (default: DynamoDB, built on first use).
        **setting_overrides: any :class:`Settings` field, e.g. ``endpoint_url=``, ``region=``.

    Raises:
        ConfigError: an unknown setting or a bad value.

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
        **setting_overrides: Any,
    ):
        self.name = name
        self._settings = settings
        self._setting_overrides = setting_overrides
        self._transport = transport
        self._results = results
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.queue_configs: dict[str, QueueConfig] = {}
        self._lock = threading.Lock()
        self._batch = threading.local()
        self._aws_clients: Any = None
        self._keyring: KeyRing | None = None
        self._keyring_loaded = False

    # -- configuration and backends (lazy) ------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings, read from the environment on first use."""
        if self._settings is None:
            self._settings = load_settings(app_name=self.name, **self._setting_overrides)
        return self._settings

    def configure(self, **overrides: Any) -> None:
        """Replace settings before first use (e.g. from CLI options); drops backends built from the old ones."""
        self._setting_overrides.update({k: v for k, v in overrides.items() if v is not None})
        self._settings = None
        self._transport = None
        self._results = None
        self._aws_clients = None
        self._keyring = None
        self._keyring_loaded = False

    @contextlib.contextmanager
    def using(
        self,
        *,
        transport: Transport | None = None,
        results: ResultStore | None = None,
        **setting_overrides: Any,
    ) -> Iterator[App]:
        """Use other backends and/or settings inside the block; the app's configuration is restored on exit.

        The public seam for tests and tools (:mod:`sqsq.testing` is built on it): the registered tasks and declared
        queues stay as they are. Settings given here apply as with :meth:`configure` (backends built from the old
        settings are dropped and built again lazily from the new ones, unless given here). On exit the settings,
        backends and signing keys the app had before are put back, whatever the block raised. Blocks nest. Not
        meant to be entered while other threads send through the same app.

        Args:
            transport: the queue backend to use inside the block (e.g. a
                :class:`sqsq.transport.memory.MemoryTransport`); default: the current one (rebuilt when settings
                are given).
            results: the results backend to use inside the block (e.g. :class:`sqsq.results.memory.MemoryResults`).
            **setting_overrides: any :class:`Settings` field, e.g. ``endpoint_url=``, ``queue_prefix=``.

        Yields:
            This app.

        Raises:
            ConfigError: an unknown setting or a bad value (when the settings are first used in the block).

        Example:
            >>> with app.using(transport=MemoryTransport(), results=MemoryResults()):  # doctest: +SKIP
            ...     sqsq.send(add, {"x": 1, "y": 2})
        """
        saved = {name: getattr(self, name) for name in _SWAPPABLE}
        saved["_setting_overrides"] = dict(self._setting_overrides)
        try:
            if setting_overrides:
                self.configure(**setting_overrides)
            if transport is not None:
                self._transport = transport
            if results is not None:
                self._results = results
            yield self
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    @property
    def keyring(self) -> KeyRing | None:
        """The signing keys (:mod:`sqsq.signing`), or ``None`` when signing is off. Read once, on first use.

        From ``settings.signing_keys``, or read through AWS from ``signing_keys_parameter`` (SSM) /
        ``signing_keys_secret`` (Secrets Manager) the first time it is asked for (a Lambda cold start builds its
        executor at init, so that is when); kept for the App's life.

        Raises:
            ConfigError: the keys are malformed, or the parameter/secret does not exist.
            AwsError: the parameter/secret could not be read (e.g. AccessDenied).
        """
        if not self._keyring_loaded:
            with self._lock:
                if not self._keyring_loaded:
                    self._keyring = self._load_keyring()
                    self._keyring_loaded = True
        return self._keyring

    def _load_keyring(self) -> KeyRing | None:
        settings = self.settings
        parameter, secret = settings.signing_keys_parameter, settings.signing_keys_secret
        if parameter is None and secret is None:
            return settings.signing_keyring()
        from sqsq.transport.secrets import read_signing_keys

        spec = read_signing_keys(self._aws(), parameter=parameter, secret=secret)
        source = f"SSM parameter {parameter!r}" if parameter is not None else f"Secrets Manager secret {secret!r}"
        return KeyRing.parse(spec, source=source)

    @property
    def transport(self) -> Transport:
        """The queue backend (SQS unless one was injected)."""
        if self._transport is None:
            with self._lock:
                if self._transport is None:
                    from sqsq.transport.sqs import SqsTransport

                    self._transport = SqsTransport(self._aws())
        return self._transport

    @property
    def results(self) -> ResultStore:
        """The results backend (DynamoDB unless one was injected)."""
        if self._results is None:
            with self._lock:
                if self._results is None:
                    from sqsq.results.dynamodb import DynamoResults

                    self._results = DynamoResults(self._aws(), self.settings.table_name)
        return self._results

    def _aws(self) -> Any:
        from sqsq.transport.aws import AwsClients

        if self._aws_clients is None:
            self._aws_clients = AwsClients(self.settings)
        return self._aws_clients

    def queue_name(self, logical: str | None) -> str:
        """Physical SQS queue name of a logical queue (``None`` = the default queue)."""
        return self.settings.physical_queue_name(logical or self.settings.default_queue)

    def logical_queues(self) -> list[str]:
        """Logical queue names the registered tasks use, plus declared queues and the default queue, sorted."""
        names = {t.queue or self.settings.default_queue for t in self.tasks.values()}
        names.add(self.settings.default_queue)
        names.update(self.queue_configs)
        return sorted(names)

    def declare_queue(
        self,
        name: str,
        *,
        consumer: Consumer = "lambda",
        memory_size_mb: int | None = None,
        batch_size: int | None = None,
        batching_window_seconds: int | None = None,
        maximum_concurrency: int | None = None,
    ) -> QueueConfig:
        """Declare how a logical queue is consumed when deployed (``sqsq template``). Does no I/O.

        Args:
            name: logical queue name, as tasks name it in ``queue=``.
            consumer: ``"lambda"`` (default) or ``"worker"`` (``sqsq worker`` pollers, e.g. ``--fargate``).
            memory_size_mb: the queue's function MemorySize, 128-10,240 MB (default: the template command's).
            batch_size: records per invocation, 1-10.
            batching_window_seconds: MaximumBatchingWindowInSeconds, 0-300.
            maximum_concurrency: ScalingConfig.MaximumConcurrency, 2-1,000.

        Returns:
            The :class:`sqsq.queue_config.QueueConfig` (a second call for the same name replaces it).

        Raises:
            ConfigError: a value outside AWS's range.

        Example:
            >>> app = App("shop")
            >>> app.declare_queue("images", memory_size_mb=1024, maximum_concurrency=20).memory_size_mb
            1024
        """
        config = QueueConfig(
            name=name,
            consumer=consumer,
            memory_size_mb=memory_size_mb,
            batch_size=batch_size,
            batching_window_seconds=batching_window_seconds,
            maximum_concurrency=maximum_concurrency,
        )
        self.queue_configs[name] = config
        return config

    def queue_config(self, name: str) -> QueueConfig:
        """The declared config of a logical queue, or the defaults (a Lambda consumer) when none was declared."""
        return self.queue_configs.get(name) or QueueConfig(name=name)

    # -- registration ---------------------------------------------------------------------------------------

    def task(
        self,
        name: str | None = None,
        *,
        queue: str | None = None,
        ignore_result: bool = False,
        max_retries: int | None = None,
        backoff: Backoff | None = None,
        retry_on: Sequence[type[BaseException]] = (Exception,),
        time_limit_seconds: float | None = None,
        track_started: bool = False,
        claim: bool = False,
    ) -> Callable[[Callable[P, R]], Task[P, R]]:
        """Register a function as a task. Does no I/O.

        Args:
            name: registered name; default ``"<module>.<function>"``. Messages name tasks by this, so keep it stable.
            queue: logical queue (default: the app's default queue).
            ignore_result: store no SUCCESS result (failures are still recorded).
            max_retries: retries after the first attempt; ``None`` = up to the queue's maxReceiveCount.
            backoff: delay between attempts (:class:`sqsq.retry.Backoff`); ``None`` = the visibility timeout.
            retry_on: exception types that retry; any other exception fails the task at once.
            time_limit_seconds: the longest one run may take (seconds); bounds the visibility heartbeat.
            track_started: record STARTED before running (one more DynamoDB write per run).
            claim: before running, claim the task id with a conditional write holding a lease of
                ``time_limit_seconds`` (default 15 minutes); a second delivery that finds a live lease is put back
                with a delay instead of running. Two deliveries racing on two workers then run the task once,
                unless the first outlives its lease. One more DynamoDB write per run. See :mod:`sqsq.executor`.

        Returns:
            A decorator returning the :class:`Task`.

        Raises:
            TypeError: a parameter lacks an annotation, or the name is taken by another function.
        """

        def decorate(fn: Callable[P, R]) -> Task[P, R]:
            task_name = name or f"{fn.__module__}.{fn.__qualname__}"
            t: Task[P, R] = Task(
                app=self,
                name=task_name,
                fn=fn,
                queue=queue,
                ignore_result=ignore_result,
                max_retries=max_retries,
                backoff=backoff,
                retry_on=tuple(retry_on),
                time_limit_seconds=time_limit_seconds,
                track_started=track_started,
                claim=claim,
            )
            existing = self.tasks.get(task_name)
            if existing is not None and existing.fn is not fn and existing.fn.__code__ is not fn.__code__:
                raise TypeError(f"task name {task_name!r} is already registered to {existing.fn!r}; pass name=")
            self.tasks[task_name] = t
            return t

        return decorate

    def get_task(self, name: str) -> Task[Any, Any]:
        """The task registered under ``name``. Raises TaskNotRegistered."""
        try:
            return self.tasks[name]
        except KeyError:
            raise TaskNotRegistered(name, list(self.tasks)) from None

    # -- sending --------------------------------------------------------------------------------------------

    def _prepare(
        self,
        task: Task[Any, Any] | str,
        args: BaseModel | Mapping[str, Any],
        delay_seconds: int,
        queue: str | None,
    ) -> _Prepared:
        t = self.get_task(task) if isinstance(task, str) else task
        if isinstance(delay_seconds, bool) or not isinstance(delay_seconds, int):
            raise LimitExceeded(f"delay_seconds must be a whole number of seconds, got {delay_seconds!r}")
        if not 0 <= delay_seconds <= limits.SQS_MAX_DELAY_SECONDS:
            raise LimitExceeded(
                f"delay_seconds={delay_seconds} is outside SQS's 0..{limits.SQS_MAX_DELAY_SECONDS} s; "
                "for longer delays schedule the send yourself (durable ETAs are not available yet)"
            )
        model = t.validate_args(args)
        envelope = Envelope(id=new_task_id(), task=t.name, args=t.dump_args(model))
        keyring = self.keyring
        try:
            if keyring is not None:
                envelope = keyring.sign(envelope)
            body = envelope.to_body()
        except (ValueError, RecursionError) as exc:  # e.g. an int of more than 4,300 digits
            raise ValidationError(t.name, f"arguments cannot be encoded as JSON: {exc}") from exc
        t.check_arrival(model, body)  # what the worker will validate is what was validated here
        return _Prepared(t, envelope, self.queue_name(queue or t.queue), body, delay_seconds)

    def _check_size(self, p: _Prepared) -> None:
        limit = self.transport.queue_info(p.queue_name).max_message_size_bytes
        size = body_size_bytes(p.body)
        if size > limit:
            raise PayloadTooLarge(size, limit, p.queue_name)

    def send(
        self,
        task: Task[Any, Any] | str,
        args: BaseModel | Mapping[str, Any],
        *,
        delay_seconds: int = 0,
        queue: str | None = None,
    ) -> AsyncResult:
        """Validate and enqueue one task.

        Args:
            task: the task, or its registered name.
            args: the arguments (a mapping or the task's pydantic model instance).
            delay_seconds: 0-900 s before the message becomes visible (SQS DelaySeconds).
            queue: logical queue to send to instead of the task's own.

        Returns:
            A handle on the task's result (``.id``, ``.get(timeout_seconds=…)``).

        Raises:
            ValidationError: the arguments do not match the task's schema, or would not arrive at the worker as
                they are (see :mod:`sqsq.codec`); nothing sent.
            TaskNotRegistered: no task under that name (nothing sent).
            LimitExceeded / PayloadTooLarge: delay or size out of SQS's limits (nothing sent).
            SendFailed / AwsError: SQS rejected the message.
        """
        prepared = self._prepare(task, args, delay_seconds, queue)
        buffer: _BatchBuffer | None = getattr(self._batch, "buffer", None)
        if buffer is not None:
            buffer.add(prepared)
        else:
            self._check_size(prepared)
            self._send_prepared([prepared])
        return AsyncResult(prepared.envelope.id, app=self, task=prepared.task)

    def send_many(
        self,
        task: Task[Any, Any] | str,
        args_list: Iterable[BaseModel | Mapping[str, Any]],
        *,
        delay_seconds: int = 0,
        queue: str | None = None,
    ) -> list[AsyncResult]:
        """Validate every call, then enqueue them with SendMessageBatch (10 per request, within the size limit).

        Every argument set is validated before the first request, so a bad one sends nothing.

        Returns:
            One handle per argument set, in order.

        Raises:
            ValidationError, TaskNotRegistered, LimitExceeded, PayloadTooLarge: nothing was sent.
            SendFailed: some entries were rejected after retries (``.failures`` by task id); the rest were sent once.
        """
        prepared = [self._prepare(task, a, delay_seconds, queue) for a in args_list]
        for p in prepared:
            self._check_size(p)
        self._send_prepared(prepared)
        return [AsyncResult(p.envelope.id, app=self, task=p.task) for p in prepared]

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Buffer every ``send`` made in this thread inside the block; flush as SendMessageBatch calls.

        Sends go out every 10 messages per queue and when the block ends. Handles are valid at once.

        Raises:
            SendFailed: on exit (or at a flush), for entries SQS rejected.

        Example:
            >>> with app.batch():
            ...     for i in range(100):
            ...         sqsq.send(add, {"x": i, "y": i})
        """
        if getattr(self._batch, "buffer", None) is not None:
            yield  # nested: the outer block flushes
            return
        buffer = _BatchBuffer(self)
        self._batch.buffer = buffer
        try:
            yield
        finally:
            self._batch.buffer = None
        buffer.flush_all()

    def _send_prepared(self, prepared: Sequence[_Prepared]) -> None:
        """Send in SendMessageBatch requests; every task is either sent once or reported in SendFailed.

        A request that fails outright (after botocore's retries) stops the send: its entries and the ones not yet
        tried are reported as not sent. If nothing at all was sent, that AWS error is raised as it is.
        """
        by_queue: dict[str, list[_Prepared]] = {}
        for p in prepared:
            by_queue.setdefault(p.queue_name, []).append(p)
        failures: dict[str, str] = {}
        sent: list[str] = []
        broken: AwsError | None = None
        for queue_name, items in by_queue.items():
            limit = self.transport.queue_info(queue_name).max_message_size_bytes if broken is None else 0
            for chunk in split_batches(items, _body_size, limit) if broken is None else [items]:
                if broken is not None:
                    failures.update({p.envelope.id: f"not sent: an earlier request failed ({broken})" for p in chunk})
                    continue
                f, s, broken = self._send_chunk(queue_name, chunk)
                failures.update(f)
                sent.extend(s)
        if broken is not None and not sent:
            raise broken
        if failures:
            raise SendFailed(failures, sent)

    def _send_chunk(
        self, queue_name: str, chunk: list[_Prepared]
    ) -> tuple[dict[str, str], list[str], AwsError | None]:
        """One batch: (failures by task id, sent task ids, the error of a request that failed outright)."""
        messages = [OutgoingMessage(p.envelope.id, p.body, p.delay_seconds) for p in chunk]
        result = send_batch_with_retries(self.transport, queue_name, messages, attempts=_ENTRY_RETRY_ATTEMPTS)
        sent = [p.envelope.id for p in chunk if p.envelope.id not in result.failed]
        return result.failed, sent, result.error


def _body_size(p: _Prepared) -> int:
    return body_size_bytes(p.body)


class _BatchBuffer:
    def __init__(self, app: App):
        self.app = app
        self.pending: dict[str, list[_Prepared]] = {}

    def add(self, p: _Prepared) -> None:
        self.app._check_size(p)
        items = self.pending.setdefault(p.queue_name, [])
        items.append(p)
        if len(items) >= limits.SQS_MAX_BATCH_ENTRIES:
            self.pending[p.queue_name] = []
            self.app._send_prepared(items)

    def flush_all(self) -> None:
        items = [p for ps in self.pending.values() for p in ps]
        self.pending.clear()
        if items:
            self.app._send_prepared(items)


class AsyncResult:
    """A handle on one task's result, by task id.

    Args:
        task_id: the task id.
        app: the app whose results table holds it.
        task: the task, when known (to rebuild the return value without reading the record's name).

    Example:
        >>> r = sqsq.AsyncResult(handle.id, app=app)
        >>> r.status, r.get(timeout_seconds=30)
    """

    def __init__(self, task_id: str, *, app: App, task: Task[Any, Any] | None = None):
        self.id = task_id
        self.app = app
        self.task = task

    def __repr__(self) -> str:
        return f"<AsyncResult {self.id}>"

    def record(self) -> ResultRecord | None:
        """The stored record (strongly consistent read), or None while PENDING."""
        return self.app.results.get(self.id)

    @property
    def status(self) -> Status:
        """PENDING, STARTED, RETRY, SUCCESS or FAILURE (one read)."""
        record = self.record()
        return Status.PENDING if record is None else record.status

    def ready(self) -> bool:
        """True once the task is SUCCESS or FAILURE."""
        return self.status.is_final

    def get(self, timeout_seconds: float = 30.0, poll_interval_seconds: float = 0.2) -> Any:
        """Wait for the task to finish and return its value, rebuilt from the return annotation.

        Args:
            timeout_seconds: how long to wait, in seconds.
            poll_interval_seconds: seconds between reads (strongly consistent GetItem), growing to 1 s.

        Raises:
            TaskFailed: the task ended in FAILURE (remote error type, message, traceback).
            ResultNotReadable: the stored result cannot be rebuilt by the return annotation.
            ResultTimeout: not finished within ``timeout_seconds``.
            SqsqError: the task was sent with ``ignore_result=True`` and SUCCESS is never stored.
            TaskIdConflict: the record under this id was written by another task (a forged or reused id).
        """
        deadline = time.monotonic() + timeout_seconds
        interval = poll_interval_seconds
        while True:
            record = self.record()
            if record is not None and self.task is not None and record.task_name != self.task.name:
                raise TaskIdConflict(
                    f"task {self.id} was sent as {self.task.name!r}, but its record was written by task "
                    f"{record.task_name!r}: a message forged with this task's id (or a reused id) got there first; "
                    "see `sqsq dlq list` for the real message, and turn on signing (SQSQ_SIGNING_KEYS)"
                )
            if record is not None and record.status is Status.FAILURE:
                raise TaskFailed(self.id, record.error_type or "Error", record.error_message or "", record.traceback)
            if record is not None and record.status is Status.SUCCESS:
                task = self.task or self.app.tasks.get(record.task_name)
                if record.result_json is None:
                    return None
                try:
                    if task is None:
                        import json

                        return json.loads(record.result_json)
                    return task.load_result(record.result_json)
                except Exception as exc:  # stored by another version of the task, or out of range for this Python
                    raise ResultNotReadable(
                        record.task_name,
                        f"the stored result of task {self.id} cannot be rebuilt as the return annotation: {exc}",
                    ) from exc
            if self.task is not None and self.task.ignore_result and record is None:
                raise SqsqError(f"task {self.task.name} has ignore_result=True; its SUCCESS is not stored")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = "PENDING" if record is None else record.status.value
                raise ResultTimeout(
                    f"task {self.id} is still {state} after {timeout_seconds} s; is a worker running "
                    "for its queue (`sqsq worker APP`)?"
                )
            time.sleep(min(interval, remaining))
            interval = min(1.0, interval * 1.5)


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


def send(
    task: Task[Any, Any],
    args: BaseModel | Mapping[str, Any],
    *,
    delay_seconds: int = 0,
    queue: str | None = None,
) -> AsyncResult:
    """Validate and enqueue one task on its app. See :meth:`App.send`.

    Raises:
        ValidationError, TaskNotRegistered, LimitExceeded, PayloadTooLarge, SendFailed, AwsError.
    """
    if not isinstance(task, Task):
        raise ValidationError(str(task), "sqsq.send takes a task object; use app.send(name, args) for names")
    return task.app.send(task, args, delay_seconds=delay_seconds, queue=queue)


def send_many(
    task: Task[Any, Any],
    args_list: Iterable[BaseModel | Mapping[str, Any]],
    *,
    delay_seconds: int = 0,
    queue: str | None = None,
) -> list[AsyncResult]:
    """Validate and enqueue many calls of one task with SendMessageBatch. See :meth:`App.send_many`."""
    if not isinstance(task, Task):
        raise ValidationError(str(task), "sqsq.send_many takes a task object; use app.send_many(name, ...)")
    return task.app.send_many(task, args_list, delay_seconds=delay_seconds, queue=queue)
