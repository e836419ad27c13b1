"""One message in, one :data:`Outcome` out: decode, look up, validate, run, record. Shared by poller and Lambda.

The executor writes the task's outcome to the results store *before* it returns an outcome that lets the
caller delete the message, so nothing is acknowledged before it is durable.

Attempts are SQS's ``ApproximateReceiveCount``. A task gets ``min(max_retries + 1, maxReceiveCount)`` attempts
(``max_retries=None``: the queue's maxReceiveCount; without a redrive policy either: 4 attempts).
"""

from __future__ import annotations

import logging
import time
import traceback as tb
from dataclasses import dataclass
from typing import Any

from sqsq.app import App
from sqsq.errors import AwsError, MessageDecodeError, ResultTooLarge, Retry, TaskNotRegistered, ValidationError
from sqsq.message import Envelope
from sqsq.results import ResultRecord, Status
from sqsq import limits
from sqsq.transport import ReceivedMessage

log = logging.getLogger("sqsq.executor")

DEFAULT_ATTEMPTS_WITHOUT_REDRIVE = 4
"""Attempts for a task with no max_retries on a queue with no redrive policy (Celery's 3 retries + 1)."""
STORE_UNAVAILABLE_RETRY_SECONDS = 10
"""Visibility given back to a message whose outcome could not be recorded (results store unavailable)."""
TRACEBACK_MAX_CHARS = 8_000


@dataclass(frozen=True)
class Ack:
    """Done and durably recorded: delete the message. ``duplicate``: it had already succeeded before."""

    duplicate: bool = False


@dataclass(frozen=True)
class RetryAfter:
    """Run again: make the message visible after ``delay_seconds`` (``None``: leave its visibility timeout)."""

    delay_seconds: float | None
    error: str


@dataclass(frozen=True)
class DeadLetter:
    """Out of attempts or permanently failing (recorded as FAILURE): move the message to the DLQ."""

    error_type: str
    error_message: str


@dataclass(frozen=True)
class Release:
    """The outcome could not be recorded: keep the message and let it come back after ``delay_seconds``."""

    delay_seconds: float
    error: str


Outcome = Ack | RetryAfter | DeadLetter | Release


def attempts_allowed(max_retries: int | None, max_receive_count: int | None) -> int:
    """How many attempts a task gets on a queue (see the module docstring)."""
    candidates = [n for n in (None if max_retries is None else max_retries + 1, max_receive_count) if n is not None]
    return min(candidates) if candidates else DEFAULT_ATTEMPTS_WITHOUT_REDRIVE


class Executor:
    """Runs one received message through the app's tasks and records the outcome.

    Args:
        app: the app whose registry and results store to use.
    """

    def __init__(self, app: App):
        self.app = app
        self._ttl = app.settings.result_ttl_seconds

    def _put(self, record: ResultRecord) -> bool:
        return self.app.results.put(record.stamped(self._ttl))

    def execute(self, message: ReceivedMessage, max_receive_count: int | None) -> Outcome:
        """Handle one message.

        Args:
            message: the received message (``receive_count`` is the attempt number).
            max_receive_count: the source queue's redrive maxReceiveCount, or None.

        Returns:
            Ack, RetryAfter, DeadLetter or Release. Never raises for anything the message or task does.
        """
        attempt = message.receive_count
        try:
            envelope = Envelope.from_body(message.body)
        except MessageDecodeError as exc:
            # No task id to file it under: the SQS message id names the record, so `sqsq result` finds it.
            return self._dead_letter(message.message_id, "<undecodable>", attempt, 0, None, exc, "MessageDecodeError")
        try:
            task = self.app.get_task(envelope.task)
            model = task.validate_args(envelope.args)
        except (TaskNotRegistered, ValidationError) as exc:
            return self._dead_letter(envelope.id, envelope.task, attempt, envelope.generation, envelope.sent_at, exc)

        if attempt > 1:
            # A redelivery: the results table is the record of what already ran (read only on redelivery).
            try:
                existing = self.app.results.get(envelope.id)
            except AwsError as exc:
                log.warning("task %s: cannot read its record (%s); will try again later", envelope.id, exc)
                return Release(STORE_UNAVAILABLE_RETRY_SECONDS, str(exc))
            if existing is not None and existing.generation == envelope.generation and existing.status.is_final:
                if existing.status is Status.SUCCESS:
                    log.info("task %s %s: duplicate delivery acknowledged (already SUCCESS)", envelope.id, task.name)
                    return Ack(duplicate=True)
                return DeadLetter(existing.error_type or "Error", existing.error_message or "")

        base = ResultRecord(
            task_id=envelope.id,
            status=Status.STARTED,
            task_name=task.name,
            attempts=attempt,
            generation=envelope.generation,
            sent_at=envelope.sent_at,
        )
        if task.track_started:
            try:
                self._put(base)
            except AwsError as exc:
                return Release(STORE_UNAVAILABLE_RETRY_SECONDS, str(exc))

        started = time.monotonic()
        try:
            value = task.run(model)
        except Exception as exc:
            return self._failed(task, base, exc, max_receive_count)
        duration = time.monotonic() - started

        try:
            result_json = task.dump_result(value)
            if len(result_json.encode()) > limits.DYNAMODB_RESULT_SIZE_BUDGET_BYTES:
                raise ResultTooLarge(
                    f"result is {len(result_json.encode())} bytes; results are limited to "
                    f"{limits.DYNAMODB_RESULT_SIZE_BUDGET_BYTES} bytes (DynamoDB's 400 KB item). "
                    "Return a reference (e.g. an S3 key) instead"
                )
        except Exception as exc:
            return self._dead_letter(envelope.id, task.name, attempt, envelope.generation, envelope.sent_at, exc)

        if not task.ignore_result:
            try:
                self._put(ResultRecord(**{**base.__dict__, "status": Status.SUCCESS, "result_json": result_json}))
            except AwsError as exc:
                log.warning("task %s: result not recorded (%s); message kept for redelivery", envelope.id, exc)
                return Release(STORE_UNAVAILABLE_RETRY_SECONDS, str(exc))
        log.debug("task %s %s succeeded in %.3f s (attempt %d)", envelope.id, task.name, duration, attempt)
        return Ack()

    def _failed(self, task: Any, base: ResultRecord, exc: Exception, max_receive_count: int | None) -> Outcome:
        allowed = attempts_allowed(task.max_retries, max_receive_count)
        retryable = isinstance(exc, Retry) or isinstance(exc, task.retry_on)
        error = _error_fields(exc)
        if retryable and base.attempts < allowed:
            delay: float | None
            if isinstance(exc, Retry):
                delay = exc.delay_seconds
            elif task.backoff is not None:
                delay = task.backoff.delay_seconds(base.attempts)
            else:
                delay = None
            try:
                self._put(ResultRecord(**{**base.__dict__, "status": Status.RETRY, **error}))
            except AwsError as store_exc:
                # The retry itself is a visibility change on this message, so it stays durable without the record.
                log.warning("task %s: RETRY not recorded (%s)", base.task_id, store_exc)
            log.info(
                "task %s %s: attempt %d/%d failed (%s: %s); retrying",
                base.task_id, task.name, base.attempts, allowed, error["error_type"], error["error_message"],
            )
            return RetryAfter(delay, f"{error['error_type']}: {error['error_message']}")
        return self._dead_letter(base.task_id, base.task_name, base.attempts, base.generation, base.sent_at, exc)

    def _dead_letter(
        self,
        task_id: str,
        task_name: str,
        attempt: int,
        generation: int,
        sent_at: float | None,
        exc: BaseException,
        error_type: str | None = None,
    ) -> Outcome:
        error = _error_fields(exc)
        if error_type:
            error["error_type"] = error_type
        record = ResultRecord(
            task_id=task_id,
            status=Status.FAILURE,
            task_name=task_name,
            attempts=attempt,
            generation=generation,
            sent_at=sent_at,
            **error,
        )
        try:
            self._put(record)
        except AwsError as store_exc:
            log.warning("task %s: FAILURE not recorded (%s); message kept for redelivery", task_id, store_exc)
            return Release(STORE_UNAVAILABLE_RETRY_SECONDS, str(store_exc))
        log.warning("task %s %s failed for good: %s: %s", task_id, task_name, error["error_type"], error["error_message"])
        return DeadLetter(str(error["error_type"]), str(error["error_message"]))


def _error_fields(exc: BaseException) -> dict[str, Any]:
    text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
    return {
        "error_type": type(exc).__name__,
        "error_message": str(exc)[:2000],
        "traceback": text[-TRACEBACK_MAX_CHARS:],
    }
