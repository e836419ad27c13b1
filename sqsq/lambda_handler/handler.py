"""The Lambda handler for SQS events: one invocation = one batch through Powertools, each record through the
executor (:mod:`sqsq.lambda_handler` describes the behaviour as a whole).

The record handler here runs one record: it checks the record (malformed, or not enough time left: reported
failed without running), runs it through :class:`sqsq.executor.Executor` and hands the outcome to
:func:`sqsq.lambda_handler.outcomes.report`. Powertools' processors (:mod:`sqsq.lambda_handler.batch`) build the
partial batch response and hold back the later records of a failed FIFO message group.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from sqsq.lambda_handler import require_powertools

# Without Powertools this raises sqsq.errors.MissingExtra, one line naming `pip install "sqsq[lambda]"`
# (sqsq.extras, the table of optional dependencies, is loaded only then: issue 11, start-up).
require_powertools()

# Powertools' batch module before sqsq's modules that import pydantic: see
# sqsq.lambda_handler.batch.POWERTOOLS_BEFORE_PYDANTIC.
import aws_lambda_powertools.utilities.batch  # noqa: E402, F401
from aws_lambda_powertools import Logger  # noqa: E402

from sqsq.app import App  # noqa: E402
from sqsq.errors import AwsError, SqsqError  # noqa: E402
from sqsq.executor import Executor, Outcome, Release  # noqa: E402
from sqsq.lambda_handler.batch import process_batch  # noqa: E402
from sqsq.lambda_handler.deadline import RunTimes, needed_seconds, remaining_seconds  # noqa: E402
from sqsq.lambda_handler.invocation import Invocation, LambdaContextLike  # noqa: E402
from sqsq.lambda_handler.outcomes import flush_visibility, report  # noqa: E402
from sqsq.lambda_handler.records import (  # noqa: E402
    RecordFailed,
    describe,
    group_of,
    malformed,
    peek,
    queue_name_of,
    sqs_records,
    to_received_message,
)
from sqsq.transport import QueueInfo  # noqa: E402

__all__ = ["DEFAULT_SAFETY_MARGIN_SECONDS", "EXECUTOR_ERROR_RELEASE_SECONDS", "SWEEP_EVENT", "SqsLambdaHandler"]

DEFAULT_SAFETY_MARGIN_SECONDS = 2.0
"""Time kept free at the end of an invocation for the visibility changes and the response."""
EXECUTOR_ERROR_RELEASE_SECONDS = 10
"""Visibility given back to a record whose execution raised inside sqsq (a bug or an outage), not in the task."""
SWEEP_EVENT = "sweep"
"""``{"sqsq": "sweep"}``: the event of the schedule that sweeps the DLQs (see :mod:`sqsq.sweep`)."""


class SqsLambdaHandler:
    """A Lambda handler for SQS events that runs sqsq tasks. Build it with :func:`sqsq.lambda_handler`.

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

    Raises:
        ValueError: ``safety_margin_seconds`` is negative.
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
        self.runs = RunTimes()
        """Longest run per task name seen by this handler; sizes the cut-off for tasks without a time limit."""

    @property
    def max_record_seconds(self) -> dict[str, float]:
        """Longest run per task name seen by this handler (seconds)."""
        return self.runs.longest_seconds

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
            KeyboardInterrupt: the process is being stopped (never caught; see :mod:`sqsq.lambda_handler`).
        """
        if isinstance(event, Mapping) and event.get("sqsq") == SWEEP_EVENT:
            return self._sweep(event.get("queues"))
        records = sqs_records(event)
        if not records:  # Lambda never sends one; Powertools would refuse it as not a batch
            return {"batchItemFailures": []}
        inv = Invocation(context)
        failed_ids = process_batch(records, lambda raw: self._handle_record(inv, raw))
        self._log_held_back(inv, records, failed_ids)
        flush_visibility(self.app, self.logger, inv)
        self.logger.info("batch done", extra={"records": len(records), "failed": len(failed_ids), "counts": inv.counts})
        if self.emit_metrics:
            from sqsq.lambda_handler.metrics import emit_metrics

            emit_metrics(self.metrics_namespace, self.app.name, inv, len(failed_ids))
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed_ids]}

    def _sweep(self, queues: Any) -> dict[str, Any]:
        """Sweep the DLQs of ``queues`` (logical names; default: every queue of the app)."""
        from sqsq.sweep import sweep_dead_letters  # only the sweep schedule's events need it (and sqsq.dlq)

        names = [str(q) for q in queues] if isinstance(queues, list) else self.app.logical_queues()
        out: dict[str, Any] = {}
        for name in names:
            try:
                swept = sweep_dead_letters(self.app, name)
            except SqsqError as exc:
                self.logger.error("DLQ sweep failed", extra={"queue": name, "error": str(exc)})
                out[name] = {"error": str(exc)}
                continue
            out[name] = {"rescued": swept.rescued, "recorded": swept.recorded, "failed": swept.failed}
            if swept.rescued or swept.recorded:
                self.logger.warning("DLQ sweep", extra={"queue": name, **out[name]})
        return {"swept": out}

    def _log_held_back(self, inv: Invocation, records: list[Mapping[str, Any]], failed_ids: list[str]) -> None:
        """Log the FIFO records Powertools reported failed without calling the record handler."""
        held = [r for r in records if r["messageId"] in set(failed_ids) - inv.handled]
        for record in held:
            inv.count("skipped_fifo_group")
            task_id, task_name = peek(str(record.get("body", "")))
            self.logger.info(
                "not started: an earlier record of its message group failed",
                extra={
                    "task_id": task_id, "task_name": task_name, "message_id": record.get("messageId"),
                    "message_group_id": group_of(record),
                },
            )

    # -- per record ------------------------------------------------------------------------------------------

    def _handle_record(self, inv: Invocation, raw: Mapping[str, Any]) -> str:
        """Powertools' record handler: run one record; raise to report it failed (never the whole batch)."""
        inv.handled.add(str(raw.get("messageId")))
        try:
            self._gate(inv, raw)
            return self._run(inv, raw)
        except KeyboardInterrupt:
            raise
        except RecordFailed:
            raise  # sqsq's own failures are logged where they happen; Powertools reports the record failed
        except Exception as exc:
            self.logger.exception("record failed", extra={"error": describe(exc)})
            raise
        except BaseException as exc:
            # SystemExit and other BaseExceptions from sqsq's own code paths: this record only, not the batch.
            inv.count("failed")
            self.logger.error("record handling raised", extra={"error": describe(exc)})
            raise RecordFailed(f"record handling raised {describe(exc)}") from exc
        finally:
            self.logger.thread_safe_clear_keys()

    def _gate(self, inv: Invocation, raw: Mapping[str, Any]) -> None:
        """Raise RecordFailed when the record must not start; whatever checking it raises fails that record."""
        try:
            reason = self._check(inv, raw)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a bug, or a record malformed in a way not foreseen: its neighbours run
            inv.count("failed")
            self.logger.exception("cannot check the record", extra={"message_id": raw.get("messageId")})
            reason = f"cannot check the record ({describe(exc)})"
        if reason is not None:
            raise RecordFailed(reason)

    def _check(self, inv: Invocation, raw: Mapping[str, Any]) -> str | None:
        """Why the record must not start (malformed, or too little time left), or None to run it."""
        problem = malformed(raw)
        if problem is not None:
            inv.count("failed")
            self.logger.error("malformed SQS record", extra={"message_id": raw.get("messageId"), "error": problem})
            return problem
        left_seconds = remaining_seconds(inv, self.logger)
        if left_seconds is None:
            return None
        body = str(raw.get("body", ""))
        need_seconds = self._needed_seconds(inv, body)
        if left_seconds >= need_seconds:
            return None
        inv.count("not_started")
        if raw["receiptHandle"]:  # released at once: another invocation takes it
            inv.change_visibility(queue_name_of(str(raw["eventSourceARN"])), str(raw["receiptHandle"]), 0)
        task_id, task_name = peek(body)
        self.logger.warning(
            "not started: not enough time left in this invocation",
            extra={
                "task_id": task_id, "task_name": task_name, "message_id": raw.get("messageId"),
                "remaining_seconds": left_seconds, "needed_seconds": need_seconds,
            },
        )
        return f"{left_seconds:.1f} s left, {need_seconds:.1f} s needed; released for another invocation"

    def _needed_seconds(self, inv: Invocation, body: str) -> float:
        """Seconds the record with ``body`` needs (see :func:`sqsq.lambda_handler.deadline.needed_seconds`)."""
        return needed_seconds(self.app, inv, self.runs, self.safety_margin_seconds, body)

    def _run(self, inv: Invocation, raw: Mapping[str, Any]) -> str:
        """Run the record through the executor and report its outcome."""
        message = to_received_message(raw)
        task_id, task_name = peek(message.body)
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
                message, info.max_receive_count, remaining_time_seconds=remaining_seconds(inv, self.logger)
            )
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the executor does not raise for task errors: a bug or an outage
            self.logger.exception("executor error")
            outcome = Release(EXECUTOR_ERROR_RELEASE_SECONDS, describe(exc))
        duration_seconds = time.monotonic() - started
        inv.durations_seconds.append(duration_seconds)
        self.runs.record(task_name, duration_seconds)
        return report(self.app, self.logger, inv, message, info, outcome)

    def _queue_info(self, queue_name: str) -> QueueInfo:
        info = self._queue_infos.get(queue_name)
        if info is None:
            info = self.app.transport.queue_info(queue_name)
            with self._lock:
                self._queue_infos[queue_name] = info
        return info
