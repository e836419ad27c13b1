"""The Lambda runtime: an SQS event handler with partial batch responses, on the same executor as the poller.

Each record of the event becomes a :class:`sqsq.transport.ReceivedMessage` and goes through
:class:`sqsq.executor.Executor`; the outcome decides what the handler reports (Powertools' batch processing builds
the ``{"batchItemFailures": [...]}`` response; the event source mapping must have ``ReportBatchItemFailures``):

=====================  =====================================================================================
outcome                what the handler does
=====================  =====================================================================================
``Ack``                success: Lambda deletes the record
``RetryAfter(delay)``  ChangeMessageVisibility to ``delay`` (per-message backoff, which Lambda alone lacks),
                       then failed: the record comes back after the delay and counts an attempt
``RetryAfter(None)``   failed: the record comes back after the queue's visibility timeout
``Release(delay)``     ChangeMessageVisibility to ``delay``, failed (the outcome could not be recorded)
``DeadLetter``         a copy is sent to the queue's DLQ first, then success so Lambda deletes the original;
                       if the send fails: failed (the record returns and SQS's redrive takes it later)
=====================  =====================================================================================

Visibility changes are sent in batches of 10 (ChangeMessageVisibilityBatch) before the handler returns.

FIFO queues: once a record of a message group fails, the later records of that group in the batch are reported
failed without running, so order within a group holds; other groups go on.

Remaining time: a record is started only when ``context.get_remaining_time_in_millis()`` leaves room for it:
its task's ``time_limit_seconds`` (or, without one, the longest run of that task this handler has seen, except
for the first record of an invocation, which always starts) plus ``safety_margin_seconds``. Records not started
are reported failed and released (visibility 0) so they come back at once; none is dropped. A batch where every
record fails returns every id (no exception). A context without that method, or one returning something other
than a number, means the remaining time is unknown: no record is held back (logged once per invocation).

Malformed input: an event that is not an SQS event (no ``Records`` list, a record that is not an object, has an
``eventSource`` other than ``aws:sqs`` or no ``messageId``) raises ValueError before anything runs, since such a
record cannot be reported on its own. A record with a ``messageId`` that is otherwise malformed (``attributes``
not an object, a missing ``body``...) is reported failed alone. A body that is not a sqsq envelope (not JSON,
nested too deeply to parse...) runs through the executor like any other: FAILURE recorded, copied to the DLQ.

One record never fails the batch: whatever the handler's own code raises while looking at or running a record
(``Exception`` or another ``BaseException`` such as ``SystemExit``) reports that record failed and releases it.
Only ``KeyboardInterrupt`` is re-raised (it is fatal: a Ctrl-C or ``sqsq local``'s SIGTERM stopping the
process); the whole batch then returns after the visibility timeout, as after any failed invocation. Tasks
cannot raise anything out of the handler: the executor records whatever a task raises as its failure.

Only this module imports aws_lambda_powertools, and only through the functions here; AWS calls go through
``app.transport`` (the DLQ copy and the visibility changes), never boto3 directly.
"""

from __future__ import annotations

import base64
import math
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqsq import limits
from sqsq.app import App
from sqsq.errors import AwsError, MessageDecodeError, SqsqError
from sqsq.executor import Ack, DeadLetter, Executor, Outcome, Release, RetryAfter
from sqsq.extras import require
from sqsq.message import Envelope
from sqsq.rescue import is_last_receive, send_rescue
from sqsq.retry import clamp_visibility_seconds
from sqsq.sweep import sweep_dead_letters
from sqsq.transport import OutgoingMessage, QueueInfo, ReceivedMessage

# Without Powertools, importing this module (sqsq.lambda_handler(app)) raises sqsq.errors.MissingExtra, one line
# naming `pip install "sqsq[lambda]"`, instead of an ImportError.
require("sqsq.lambda_handler", "aws_lambda_powertools")

from aws_lambda_powertools import Logger  # noqa: E402
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit  # noqa: E402
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response  # noqa: E402
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord  # noqa: E402

__all__ = ["LambdaContextLike", "SqsLambdaHandler", "lambda_handler"]

SQS_EVENT_SOURCE = "aws:sqs"
"""``eventSource`` of an SQS record (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html)."""
DEFAULT_SAFETY_MARGIN_SECONDS = 2.0
"""Time kept free at the end of an invocation for the visibility changes and the response."""
EXECUTOR_ERROR_RELEASE_SECONDS = 10
"""Visibility given back to a record whose execution raised inside sqsq (a bug or an outage), not in the task."""


class LambdaContextLike(Protocol):
    """The part of Lambda's context object the handler reads."""

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda stops the invocation."""
        ...


class RecordFailed(SqsqError):
    """Raised inside the record handler to report one record failed; ``reason`` is logged with its ids."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Invocation:
    """Per-invocation state (a handler may serve several invocations at once when run locally)."""

    context: LambdaContextLike | None
    visibility: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    failed_groups: set[tuple[str, str]] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    durations_seconds: list[float] = field(default_factory=list)
    remaining_time_unknown: bool = False
    """The context cannot tell the remaining time (logged once); no record is held back for lack of time."""

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


class _Processor(BatchProcessor):
    """Powertools' SQS batch processor, with a gate that may report a record failed without running it."""

    def __init__(self, gate: Callable[[dict[str, Any]], str | None]):
        super().__init__(EventType.SQS, raise_on_entire_batch_failure=False)
        self._gate = gate

    def process(self) -> list[tuple[Any, ...]]:
        results: list[tuple[Any, ...]] = []
        for record in self.records:
            reason = self._gate(record)
            if reason is None:
                results.append(self._process_record(record))
            else:
                failed = RecordFailed(reason)
                results.append(self.failure_handler(SQSRecord(record), (RecordFailed, failed, None)))
        return results


class SqsLambdaHandler:
    """A Lambda handler for SQS events that runs sqsq tasks. Build it with :func:`lambda_handler`.

    Thread-safe: each call keeps its own state, so the local event source mapping may run several at once.

    Args:
        app: the app whose tasks, transport and results store are used.
        safety_margin_seconds: time kept free at the end of an invocation (seconds, >= 0).
        metrics_namespace: CloudWatch namespace of the EMF metrics (default ``POWERTOOLS_METRICS_NAMESPACE``
            or ``"sqsq"``).
        emit_metrics: print EMF metrics (succeeded, failed, retried, dead-lettered, not started, duration).
        route_sqsq_logs: send sqsq's own loggers through the Powertools logger's JSON formatter; default: only
            when running in Lambda (``AWS_LAMBDA_FUNCTION_NAME`` is set).
        logger: the Powertools logger to use; default ``Logger(service=POWERTOOLS_SERVICE_NAME or app name)``.
    """

    def __init__(
        self,
        app: App,
        *,
        safety_margin_seconds: float = DEFAULT_SAFETY_MARGIN_SECONDS,
        metrics_namespace: str | None = None,
        emit_metrics: bool = True,
        route_sqsq_logs: bool | None = None,
        logger: Logger | None = None,
    ):
        if safety_margin_seconds < 0:
            raise ValueError("safety_margin_seconds must be >= 0")
        self.app = app
        self.executor = Executor(app)
        self.safety_margin_seconds = safety_margin_seconds
        self.metrics_namespace = metrics_namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "sqsq"
        self.emit_metrics = emit_metrics
        self.logger = logger or Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or app.name)
        if route_sqsq_logs is None:
            route_sqsq_logs = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
        if route_sqsq_logs:
            from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

            copy_config_to_registered_loggers(
                source_logger=self.logger, include={"sqsq", "sqsq.executor", "sqsq.app"}
            )
        self._queue_infos: dict[str, QueueInfo] = {}
        self._lock = threading.Lock()
        self.max_record_seconds: dict[str, float] = {}
        """Longest run per task name seen by this handler (seconds); sizes the cut-off for tasks without a limit."""

    # -- entry point ---------------------------------------------------------------------------------------

    def __call__(self, event: Mapping[str, Any], context: LambdaContextLike | None = None) -> dict[str, Any]:
        """Handle one SQS event, or a DLQ sweep event (``{"sqsq": "sweep", "queues": ["files"]}``, sent by the
        template's EventBridge Scheduler schedule: see :mod:`sqsq.sweep`; returns what the sweep did).

        Args:
            event: the event Lambda sends (``{"Records": [...]}``).
            context: Lambda's context (only ``get_remaining_time_in_millis`` is read); ``None``, or a context
                that cannot tell the remaining time (no such method, or it returns no number) = no deadline.

        Returns:
            ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}``, the failed records in event order.

        Raises:
            ValueError: the event is not an SQS event (no ``Records`` list, a record that is not an object, of
                another ``eventSource``, or without ``messageId``); nothing ran and Lambda retries the whole batch.
            KeyboardInterrupt: the process is being stopped (never caught; see the module docstring).
        """
        if isinstance(event, Mapping) and event.get("sqsq") == SWEEP_EVENT:
            return self._sweep(event.get("queues"))
        records = _sqs_records(event)
        if not records:  # Lambda never sends one; Powertools would refuse it as not a batch
            return {"batchItemFailures": []}
        inv = _Invocation(context)
        processor = _Processor(lambda record: self._gate(inv, record))

        def record_handler(record: SQSRecord) -> str:
            return self._handle_record(inv, record)

        response: dict[str, Any] = dict(
            process_partial_response(event=dict(event), record_handler=record_handler, processor=processor)
        )
        self._flush_visibility(inv)
        failed = response.get("batchItemFailures", [])
        self.logger.info(
            "batch done",
            extra={"records": len(records), "failed": len(failed), "counts": inv.counts},
        )
        self._emit_metrics(inv, len(failed))
        return {"batchItemFailures": list(failed)}

    def _sweep(self, queues: Any) -> dict[str, Any]:
        """Sweep the DLQs of ``queues`` (logical names; default: every queue of the app)."""
        names = [str(q) for q in queues] if isinstance(queues, list) else self.app.logical_queues()
        out: dict[str, Any] = {}
        for name in names:
            try:
                report = sweep_dead_letters(self.app, name)
            except SqsqError as exc:
                self.logger.error("DLQ sweep failed", extra={"queue": name, "error": str(exc)})
                out[name] = {"error": str(exc)}
                continue
            out[name] = {"rescued": report.rescued, "recorded": report.recorded, "failed": report.failed}
            if report.rescued or report.recorded:
                self.logger.warning("DLQ sweep", extra={"queue": name, **out[name]})
        return {"swept": out}

    # -- per record ------------------------------------------------------------------------------------------

    def _gate(self, inv: _Invocation, record: dict[str, Any]) -> str | None:
        """Why a record must not start (None: run it); whatever checking it raises fails that record only."""
        try:
            return self._check(inv, record)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a bug, or a record malformed in a way not foreseen: its neighbours run
            inv.count("failed")
            self.logger.exception("cannot check the record", extra={"message_id": record.get("messageId")})
            return f"cannot check the record ({_describe(exc)})"

    def _check(self, inv: _Invocation, record: dict[str, Any]) -> str | None:
        attrs = record.get("attributes") or {}
        group = attrs.get("MessageGroupId") if isinstance(attrs, Mapping) else None
        source = str(record.get("eventSourceARN", ""))
        malformed = _malformed(record)
        if malformed is not None:
            inv.count("failed")
            if group is not None:
                inv.failed_groups.add((source, group))
            self.logger.error("malformed SQS record", extra={"message_id": record.get("messageId"), "error": malformed})
            return malformed
        if group is not None and (source, group) in inv.failed_groups:
            inv.count("skipped_fifo_group")
            task_id, task_name = _peek(str(record.get("body", "")))
            self.logger.info(
                "not started: an earlier record of its message group failed",
                extra={
                    "task_id": task_id, "task_name": task_name, "message_id": record.get("messageId"),
                    "message_group_id": group,
                },
            )
            return f"an earlier record of message group {group!r} failed; kept for order"
        remaining_seconds = self._remaining_seconds(inv)
        if remaining_seconds is None:
            return None
        needed_seconds = self._needed_seconds(inv, str(record.get("body", "")))
        if remaining_seconds >= needed_seconds:
            return None
        inv.count("not_started")
        if group is not None:
            inv.failed_groups.add((source, group))
        receipt = record.get("receiptHandle")
        if receipt:
            inv.visibility.setdefault(_queue_name(source), []).append((str(receipt), 0))
        task_id, task_name = _peek(str(record.get("body", "")))
        self.logger.warning(
            "not started: not enough time left in this invocation",
            extra={
                "task_id": task_id,
                "task_name": task_name,
                "message_id": record.get("messageId"),
                "remaining_seconds": remaining_seconds,
                "needed_seconds": needed_seconds,
            },
        )
        return f"{remaining_seconds:.1f} s left, {needed_seconds:.1f} s needed; released for another invocation"

    def _remaining_seconds(self, inv: _Invocation) -> float | None:
        """Seconds left in the invocation, or None when unknown (no context, or it cannot tell)."""
        if inv.context is None or inv.remaining_time_unknown:
            return None
        try:
            millis: Any = inv.context.get_remaining_time_in_millis()
            remaining_seconds = float(millis) / 1000.0
            if not math.isfinite(remaining_seconds):
                raise ValueError(f"not a finite number: {millis!r}")
        except (AttributeError, TypeError, ValueError) as exc:
            inv.remaining_time_unknown = True
            self.logger.warning(
                "the context cannot tell the remaining time; records start without a time check",
                extra={"context_type": type(inv.context).__name__, "error": _describe(exc)},
            )
            return None
        return remaining_seconds

    def _needed_seconds(self, inv: _Invocation, body: str) -> float:
        """Seconds a record needs: its task's time limit, else the longest run of that task seen so far
        (nothing for the first record of an invocation, so one slow outlier cannot stall the queue), + margin."""
        _, task_name = _peek(body)
        task = self.app.tasks.get(task_name)
        if task is not None and task.time_limit_seconds is not None:
            return task.time_limit_seconds + self.safety_margin_seconds
        if not inv.durations_seconds:
            return self.safety_margin_seconds
        with self._lock:
            observed = self.max_record_seconds.get(task_name, 0.0)
        return observed + self.safety_margin_seconds

    def _queue_info(self, queue_name: str) -> QueueInfo:
        info = self._queue_infos.get(queue_name)
        if info is None:
            info = self.app.transport.queue_info(queue_name)
            with self._lock:
                self._queue_infos[queue_name] = info
        return info

    def _handle_record(self, inv: _Invocation, record: SQSRecord) -> str:
        raw = record.raw_event
        source = str(raw.get("eventSourceARN", ""))
        group = (raw.get("attributes") or {}).get("MessageGroupId")
        try:
            return self._run(inv, raw, source)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            if group is not None:
                inv.failed_groups.add((source, group))
            if isinstance(exc, Exception):
                if not isinstance(exc, RecordFailed):  # sqsq's own failures are logged where they happen
                    self.logger.exception("record failed", extra={"error": _describe(exc)})
                raise  # Powertools reports the record failed
            # SystemExit and other BaseExceptions from sqsq's own code paths: this record only, not the batch.
            inv.count("failed")
            self.logger.error("record handling raised", extra={"error": _describe(exc)})
            raise RecordFailed(f"record handling raised {_describe(exc)}") from exc
        finally:
            self.logger.thread_safe_clear_keys()

    def _run(self, inv: _Invocation, raw: Mapping[str, Any], source: str) -> str:
        message = to_received_message(raw)
        task_id, task_name = _peek(message.body)
        self.logger.thread_safe_append_keys(
            task_id=task_id, task_name=task_name, message_id=message.message_id, attempt=message.receive_count
        )
        try:
            info = self._queue_info(message.queue_name)
        except AwsError as exc:
            inv.count("failed")
            self.logger.error("cannot read the source queue's attributes", extra={"error": str(exc)})
            raise RecordFailed(f"queue {message.queue_name}: {exc}") from exc
        started = time.monotonic()
        try:
            # A claimed task's lease ends with the invocation (B25): a timed-out run is taken over, not stuck.
            outcome: Outcome = self.executor.execute(
                message, info.max_receive_count, remaining_time_seconds=self._remaining_seconds(inv)
            )
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the executor does not raise for task errors: a bug or an outage
            self.logger.exception("executor error")
            outcome = Release(EXECUTOR_ERROR_RELEASE_SECONDS, _describe(exc))
        duration = time.monotonic() - started
        inv.durations_seconds.append(duration)
        with self._lock:
            self.max_record_seconds[task_name] = max(self.max_record_seconds.get(task_name, 0.0), duration)
        return self._report(inv, message, info, outcome)

    def _report(self, inv: _Invocation, message: ReceivedMessage, info: QueueInfo, outcome: Outcome) -> str:
        if isinstance(outcome, Ack):
            inv.count("duplicates" if outcome.duplicate else "succeeded")
            self.logger.info("succeeded" if not outcome.duplicate else "duplicate delivery acknowledged")
            return "ack"
        if isinstance(outcome, RetryAfter):
            inv.count("retried")
            if outcome.delay_seconds is not None:
                delay = clamp_visibility_seconds(outcome.delay_seconds)
                inv.visibility.setdefault(message.queue_name, []).append((message.receipt_handle, delay))
                self.logger.info("retry", extra={"delay_seconds": delay, "error": outcome.error})
            else:
                self.logger.info("retry after the visibility timeout", extra={"error": outcome.error})
            raise RecordFailed(f"retry: {outcome.error}")
        if isinstance(outcome, Release):
            inv.count("released")
            last = is_last_receive(message.receive_count, info.max_receive_count)
            if last and send_rescue(self.app, message.queue_name, message):
                # Its last receive, given back without an outcome: a fresh copy instead of the DLQ (sqsq.rescue).
                inv.count("rescued")
                self.logger.warning("last receive given back without an outcome: rescued as a fresh copy",
                                    extra={"error": outcome.error})
                return "rescued"
            delay = clamp_visibility_seconds(outcome.delay_seconds)
            inv.visibility.setdefault(message.queue_name, []).append((message.receipt_handle, delay))
            self.logger.warning("released", extra={"delay_seconds": delay, "error": outcome.error})
            raise RecordFailed(f"released: {outcome.error}")
        assert isinstance(outcome, DeadLetter)
        return self._dead_letter(inv, message, info, outcome)

    def _dead_letter(self, inv: _Invocation, message: ReceivedMessage, info: QueueInfo, outcome: DeadLetter) -> str:
        error = f"{outcome.error_type}: {outcome.error_message}"
        if info.dead_letter_target_arn is None:
            inv.count("dead_lettered")
            self.logger.warning("failed for good; the queue has no DLQ, so it is deleted", extra={"error": error})
            return "dead-lettered (no DLQ)"
        dlq_name = _queue_name(info.dead_letter_target_arn)
        copy = OutgoingMessage(id="0", body=message.body, message_attributes=message.message_attributes)
        try:
            failures = self.app.transport.send_batch(dlq_name, [copy])
        except AwsError as exc:
            inv.count("failed")
            self.logger.error("moving to the DLQ failed; the record stays", extra={"dlq": dlq_name, "error": str(exc)})
            raise RecordFailed(f"DLQ send to {dlq_name} failed: {exc}") from exc
        if failures:
            inv.count("failed")
            self.logger.error(
                "moving to the DLQ was rejected; the record stays", extra={"dlq": dlq_name, "error": failures[0].message}
            )
            raise RecordFailed(f"DLQ send to {dlq_name} rejected: {failures[0].code} {failures[0].message}")
        inv.count("dead_lettered")
        self.logger.warning("moved to the DLQ", extra={"dlq": dlq_name, "error": error})
        return "dead-lettered"

    # -- after the batch -------------------------------------------------------------------------------------

    def _flush_visibility(self, inv: _Invocation) -> None:
        for queue_name, changes in inv.visibility.items():
            for i in range(0, len(changes), limits.SQS_MAX_BATCH_ENTRIES):
                chunk = changes[i : i + limits.SQS_MAX_BATCH_ENTRIES]
                try:
                    failures = self.app.transport.change_visibility_batch(queue_name, chunk)
                except AwsError as exc:
                    self.logger.error(
                        "ChangeMessageVisibilityBatch failed; those records return after their visibility timeout",
                        extra={"queue": queue_name, "records": len(chunk), "error": str(exc)},
                    )
                    continue
                for f in failures:
                    self.logger.warning(
                        "visibility change failed", extra={"queue": queue_name, "code": f.code, "error": f.message}
                    )

    def _emit_metrics(self, inv: _Invocation, failed: int) -> None:
        if not self.emit_metrics:
            return
        metrics = EphemeralMetrics(namespace=self.metrics_namespace, service=self.app.name)
        succeeded = inv.counts.get("succeeded", 0) + inv.counts.get("duplicates", 0)
        succeeded += inv.counts.get("dead_lettered", 0)
        metrics.add_metric(name="RecordsSucceeded", unit=MetricUnit.Count, value=succeeded)
        metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=failed)
        metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=inv.counts.get("retried", 0))
        metrics.add_metric(name="RecordsDeadLettered", unit=MetricUnit.Count, value=inv.counts.get("dead_lettered", 0))
        metrics.add_metric(name="RecordsNotStarted", unit=MetricUnit.Count, value=inv.counts.get("not_started", 0))
        for seconds in inv.durations_seconds[:100]:  # EMF: at most 100 values per metric per line
            metrics.add_metric(name="RecordDuration", unit=MetricUnit.Seconds, value=round(seconds, 6))
        metrics.flush_metrics()


def lambda_handler(app: App, **options: Any) -> SqsLambdaHandler:
    """A Lambda handler for SQS events that runs ``app``'s tasks, with partial batch responses.

    Args:
        app: the app (settings from the function's environment: SQSQ_APP_NAME, SQSQ_QUEUE_PREFIX, ...).
        **options: see :class:`SqsLambdaHandler` (``safety_margin_seconds``, ``metrics_namespace``,
            ``emit_metrics``, ``route_sqsq_logs``, ``logger``).

    Returns:
        The handler: ``handler(event, context) -> {"batchItemFailures": [...]}``.

    Example:
        >>> # lambdas/census.py
        >>> import sqsq
        >>> from sqsq.demo.app import app
        >>> handler = sqsq.lambda_handler(app)
    """
    return SqsLambdaHandler(app, **options)


SWEEP_EVENT = "sweep"
"""``{"sqsq": "sweep"}``: the event of the schedule that sweeps the DLQs (see :mod:`sqsq.sweep`)."""


# -- record conversion ---------------------------------------------------------------------------------------


def _queue_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _peek(body: str) -> tuple[str, str]:
    """Task id and name for logs and the time check; a body that cannot be read is the executor's to record."""
    try:
        envelope = Envelope.from_body(body)
    except (MessageDecodeError, RecursionError, ValueError, TypeError):  # RecursionError: JSON nested too deeply
        return "<undecodable>", "<undecodable>"
    return envelope.id, envelope.task


def _describe(exc: BaseException) -> str:
    """``"Type: message"``, never raising (an exception's ``__str__`` may itself raise)."""
    try:
        text = str(exc)
    except Exception:
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _sqs_records(event: Any) -> list[Mapping[str, Any]]:
    """The records of an SQS event, checked just enough that each can be reported on by its ``messageId``.

    Raises:
        ValueError: not an SQS event (see :meth:`SqsLambdaHandler.__call__`).
    """
    expected = 'expected an SQS event, {"Records": [{"messageId": ..., "body": ..., "eventSource": "aws:sqs", ...}]}'
    if not isinstance(event, Mapping):
        raise ValueError(f"{expected}; got a {type(event).__name__}")
    records = event.get("Records")
    if not isinstance(records, list):
        keys = ", ".join(sorted(map(str, event))[:10]) or "none"
        got = "no Records key" if "Records" not in event else f"Records is a {type(records).__name__}"
        raise ValueError(f"{expected}; got {got} (keys: {keys})")
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise ValueError(f"{expected}; Records[{i}] is a {type(record).__name__}, not an object")
        source = record.get("eventSource")
        if source is not None and source != SQS_EVENT_SOURCE:
            raise ValueError(
                f"{expected}; Records[{i}] has eventSource {source!r}: this handler takes SQS events only "
                "(check the function's triggers)"
            )
        message_id = record.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            raise ValueError(
                f"{expected}; Records[{i}] has no messageId (got {message_id!r}), so it cannot be reported failed "
                "on its own"
            )
    return records


def _malformed(record: Mapping[str, Any]) -> str | None:
    """Why a record (with a messageId) cannot be run, or None."""
    problems = []
    for key in ("receiptHandle", "body", "eventSourceARN"):
        if not isinstance(record.get(key), str):
            problems.append(f"{key} is {_kind(record.get(key))}, expected a string")
    for key in ("attributes", "messageAttributes"):
        value = record.get(key)
        if value is not None and not isinstance(value, Mapping):
            problems.append(f"{key} is {_kind(value)}, expected an object")
    return f"malformed SQS record: {'; '.join(problems)}" if problems else None


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


def _message_attributes(lambda_attrs: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Lambda's ``messageAttributes`` (camelCase, binary as base64) in SQS API shape, for the DLQ copy."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in (lambda_attrs or {}).items():
        entry: dict[str, Any] = {"DataType": attr.get("dataType", "String")}
        if attr.get("stringValue") is not None:
            entry["StringValue"] = attr["stringValue"]
        elif attr.get("binaryValue") is not None:
            entry["BinaryValue"] = base64.b64decode(attr["binaryValue"])
        out[name] = entry
    return out


def to_received_message(record: Mapping[str, Any]) -> ReceivedMessage:
    """A Lambda SQS record as the :class:`ReceivedMessage` the executor takes.

    Raises:
        RecordFailed: a field Lambda always sends is missing (the record is reported failed, its neighbours run).
    """
    try:
        reason = _malformed(record)
        if reason is not None:
            raise RecordFailed(reason)
        attrs = dict(record.get("attributes") or {})
        return ReceivedMessage(
            queue_name=_queue_name(str(record["eventSourceARN"])),
            message_id=str(record["messageId"]),
            receipt_handle=str(record["receiptHandle"]),
            body=str(record["body"]),
            receive_count=int(attrs.get("ApproximateReceiveCount", "1")),
            sent_timestamp_seconds=int(attrs.get("SentTimestamp", "0")) / 1000.0,
            attributes=attrs,
            message_attributes=_message_attributes(record.get("messageAttributes")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordFailed(f"malformed SQS record ({type(exc).__name__}: {exc})") from exc


class _CallableModule(types.ModuleType):
    """``sqsq.lambda_handler`` names both this module and its function; once the module is imported Python binds
    the module to that attribute of the package, so the module itself must be callable like the function."""

    def __call__(self, app: App, **options: Any) -> SqsLambdaHandler:
        return lambda_handler(app, **options)


sys.modules[__name__].__class__ = _CallableModule
