"""The handle on one task's result: :class:`AsyncResult`, read from the results store by task id.

It knows the app and the task only through two small protocols (:class:`ResultSource`, :class:`ResultTask`), so
this module imports neither ``sqsq.app`` nor ``sqsq.task`` and both can import it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Generic, Protocol

from typing_extensions import TypeVar

from sqsq.errors import ResultNotReadable, ResultTimeout, SqsqError, TaskFailed, TaskIdConflict, TaskRevoked
from sqsq.results import ResultRecord, ResultStore, Status

R = TypeVar("R", default=Any)
R_co = TypeVar("R_co", covariant=True)


class ResultTask(Protocol[R_co]):
    """What a handle needs of a task: its name, whether SUCCESS is stored, and how to rebuild its return value."""

    @property
    def name(self) -> str: ...

    @property
    def ignore_result(self) -> bool: ...

    def load_result(self, text: str) -> R_co: ...


class ResultSource(Protocol):
    """What a handle needs of an app (:class:`sqsq.App` is one): its results store and its tasks by name."""

    @property
    def results(self) -> ResultStore: ...

    @property
    def tasks(self) -> Mapping[str, ResultTask[Any]]: ...


class StatusPredicates:
    """Celery's ``ready()``, ``successful()`` and ``failed()`` from a handle's ``status`` (each one read of it);
    shared by :class:`AsyncResult` and :class:`sqsq.WorkflowResult`."""

    @property
    def status(self) -> Status:
        raise NotImplementedError

    def ready(self) -> bool:
        """True once it is final: SUCCESS, FAILURE or REVOKED."""
        return self.status.is_final

    def successful(self) -> bool:
        """True when it is SUCCESS."""
        return self.status is Status.SUCCESS

    def failed(self) -> bool:
        """True when it is FAILURE."""
        return self.status is Status.FAILURE


class AsyncResult(StatusPredicates, Generic[R]):
    """A handle on one task's result, by task id; ``get()`` returns the task's return type.

    Args:
        task_id: the task id.
        app: the app whose results table holds it.
        task: the task, when known (to rebuild the return value without reading the record's name).

    Celery's names have Celery's meanings: ``state`` (a :class:`sqsq.Status` name), ``result``, ``traceback``,
    ``ready()``, ``successful()``, ``failed()``; each is one strongly consistent read.

    Example:
        >>> r = sqsq.AsyncResult(handle.id, app=app)
        >>> r.state, r.get(timeout_seconds=30)
    """

    def __init__(self, task_id: str, *, app: ResultSource, task: ResultTask[R] | None = None):
        self.id = task_id
        self.app = app
        self.task = task

    def __repr__(self) -> str:
        return f"<AsyncResult {self.id}>"

    def record(self) -> ResultRecord | None:
        """The stored record (strongly consistent read), or None while PENDING."""
        return self.app.results.get(self.id)

    def cancel(self) -> str:
        """Cancel the task: delete its schedule if it has not fired, else revoke it (see :mod:`sqsq.scheduling.cancel`).

        Returns:
            ``"cancelled"`` (it will never run), ``"revoked"`` (it was queued or running: skipped by consumers
            that check revocations, not interrupted if running) or ``"finished"`` (too late: already final).

        Raises:
            AwsError: a request failed. ConfigError: the app cannot revoke (see :func:`sqsq.scheduling.cancel.cancel`).

        Example:
            >>> h = add.options(delay_seconds=3600).delay(x=1, y=2)
            >>> h.cancel(), h.state
            ('cancelled', 'REVOKED')
        """
        from sqsq.scheduling.cancel import cancel

        return cancel(self.app, self.id, self.task.name if self.task is not None else None)  # type: ignore[arg-type]

    @property
    def status(self) -> Status:
        """PENDING, SCHEDULED, STARTED, RETRY, SUCCESS, FAILURE or REVOKED (one read)."""
        record = self.record()
        return Status.PENDING if record is None else record.status

    @property
    def state(self) -> str:
        """Celery's ``state``: the status name as a string (``"PENDING"`` … ``"FAILURE"``; one read)."""
        return self.status.value

    @property
    def result(self) -> R | TaskFailed | None:
        """Celery's ``result``, without waiting (one read).

        Returns:
            SUCCESS: the return value (as :meth:`get` returns it). FAILURE: the :class:`sqsq.TaskFailed` that
            :meth:`get` would raise (returned, not raised). RETRY: a ``TaskFailed`` for the attempt that failed
            last. PENDING or STARTED: ``None``.

        Raises:
            ResultNotReadable, TaskIdConflict: as :meth:`get`.
        """
        record = self._checked(self.record())
        if record is None or record.status in (Status.PENDING, Status.STARTED, Status.SCHEDULED):
            return None
        if record.status is Status.SUCCESS:
            return self._value(record)
        return self._failure(record)

    @property
    def traceback(self) -> str | None:
        """Celery's ``traceback``: the remote traceback text of a FAILURE (or of the last failed attempt while
        RETRY), else ``None`` (one read)."""
        record = self.record()
        if record is None or record.status not in (Status.FAILURE, Status.RETRY):
            return None
        return record.traceback

    def get(self, timeout_seconds: float = 30.0, poll_interval_seconds: float = 0.2) -> R:
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
            record = self._checked(self.record())
            if record is not None and record.status in (Status.FAILURE, Status.REVOKED):
                raise self._failure(record)
            if record is not None and record.status is Status.SUCCESS:
                return self._value(record)
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

    def _checked(self, record: ResultRecord | None) -> ResultRecord | None:
        if record is not None and self.task is not None and record.task_name != self.task.name:
            raise TaskIdConflict(
                f"task {self.id} was sent as {self.task.name!r}, but its record was written by task "
                f"{record.task_name!r}: a message forged with this task's id (or a reused id) got there first; "
                "see `sqsq dlq list` for the real message, and turn on signing (SQSQ_SIGNING_KEYS)"
            )
        return record

    def _failure(self, record: ResultRecord) -> TaskFailed:
        if record.status is Status.REVOKED:
            return TaskRevoked(self.id, record.error_message or "the task was cancelled before it ran")
        return TaskFailed(self.id, record.error_type or "Error", record.error_message or "", record.traceback)

    def _value(self, record: ResultRecord) -> R:
        task: ResultTask[Any] | None = self.task or self.app.tasks.get(record.task_name)
        if record.result_json is None:
            return None  # type: ignore[return-value]  # a task annotated -> None (or ignore_result's None)
        try:
            if task is None:
                loaded: Any = json.loads(record.result_json)
                return loaded  # type: ignore[no-any-return]
            return task.load_result(record.result_json)  # type: ignore[no-any-return]
        except Exception as exc:  # stored by another version of the task, or out of range for this Python
            raise ResultNotReadable(
                record.task_name,
                f"the stored result of task {self.id} cannot be rebuilt as the return annotation: {exc}",
            ) from exc
