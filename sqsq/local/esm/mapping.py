"""One local event source mapping: polls one queue for one function and applies each response as Lambda does."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqsq import limits
from sqsq.errors import AwsError, LocalInvocationTimedOut
from sqsq.local.esm.functions import LocalContext, LocalFunction
from sqsq.local.esm.records import lambda_record, settle
from sqsq.template import SqsEventSpec
from sqsq.transport import ReceivedMessage

__all__ = ["DEFAULT_MAXIMUM_CONCURRENCY", "EsmStats", "LocalEventSourceMapping"]

log = logging.getLogger("sqsq.local.esm")

DEFAULT_MAXIMUM_CONCURRENCY = 5
"""Concurrent invocations per event source when the template sets no ScalingConfig.MaximumConcurrency
(Lambda starts with 5 pollers for a standard queue)."""


@dataclass
class EsmStats:
    """Counters of a local event source mapping run (summed over its functions and events).

    Attributes:
        invocations: handler calls.
        records_received: records delivered to the handler (a redelivery counts again).
        records_deleted: records deleted after the handler's response.
        records_failed: records left in the queue after a response (reported failed, or their batch failed).
        batch_errors: invocations that raised.
        batch_timeouts: invocations that overran the function's timeout.
        invalid_responses: responses Lambda treats as a complete failure (bad itemIdentifier).
        deletes_failed: DeleteMessageBatch entries SQS refused (those records come back).
    """

    invocations: int = 0
    records_received: int = 0
    records_deleted: int = 0
    records_failed: int = 0
    batch_errors: int = 0
    batch_timeouts: int = 0
    invalid_responses: int = 0
    deletes_failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Add to counters by name (thread-safe)."""
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class LocalEventSourceMapping:
    """Polls one queue for one function and applies each response as Lambda does.

    Args:
        function: the function.
        event: the SQS event (queue and batching settings).
        stats: counters to add to.
        wait_time_seconds: long-poll WaitTimeSeconds of each ReceiveMessage (Lambda uses 20).
    """

    def __init__(self, function: LocalFunction, event: SqsEventSpec, stats: EsmStats, wait_time_seconds: int = 20):
        self.function = function
        self.event = event
        self.stats = stats
        self.wait_time_seconds = max(0, min(limits.SQS_MAX_WAIT_TIME_SECONDS, wait_time_seconds))
        self.concurrency = event.maximum_concurrency or DEFAULT_MAXIMUM_CONCURRENCY
        self.in_flight = 0
        """Invocations running now (batches received and not yet settled)."""
        self.unstarted: list[ReceivedMessage] = []
        """Messages received after the stop, to release (visibility 0) when every poller has stopped."""
        self._lock = threading.Lock()
        self._queue_arn: str | None = None

    @property
    def queue_arn(self) -> str:
        """The source queue's ARN (read once)."""
        if self._queue_arn is None:
            self._queue_arn = self.function.transport.queue_info(self.event.queue_name).arn
        return self._queue_arn

    def _collect(self, stop: threading.Event) -> list[ReceivedMessage]:
        """Receive up to BatchSize records: one long poll, then more until the batching window closes."""
        transport, queue = self.function.transport, self.event.queue_name
        batch = transport.receive(queue, min(10, self.event.batch_size), self.wait_time_seconds)
        if not batch or self.event.batching_window_seconds <= 0:
            return batch
        window_ends = time.monotonic() + self.event.batching_window_seconds
        while len(batch) < self.event.batch_size and not stop.is_set():
            remaining = window_ends - time.monotonic()
            if remaining <= 0:
                break
            more = transport.receive(queue, min(10, self.event.batch_size - len(batch)), min(20, int(remaining)))
            batch.extend(more)
        return batch

    def poll_once(self, stop: threading.Event) -> int:
        """Receive one batch, invoke the handler, apply the response. Returns the number of records handled."""
        messages = self._collect(stop)
        if not messages:
            return 0
        if stop.is_set():
            # Received while stopping: not invoked; released once every poller has stopped (releasing now would
            # let another stopping poller receive them again, burning receive counts toward the DLQ).
            with self._lock:
                self.unstarted.extend(messages)
            return 0
        with self._lock:
            self.in_flight += 1
        try:
            self._invoke(messages)
        finally:
            with self._lock:
                self.in_flight -= 1
        return len(messages)

    def _invoke(self, messages: list[ReceivedMessage]) -> None:
        spec = self.function.spec
        event = {"Records": [lambda_record(m, self.queue_arn, self.function.region) for m in messages]}
        ids = [m.message_id for m in messages]
        context = LocalContext(spec.resource_id, spec.timeout_seconds)
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["response"] = self.function.handler(event, context)
            except BaseException as exc:  # anything the handler raises fails the batch, as on Lambda
                outcome["error"] = exc

        thread = threading.Thread(target=call, name=f"sqsq-lambda-{spec.resource_id}", daemon=True)
        thread.start()
        thread.join(None if self.function.owns_timeout else spec.timeout_seconds)
        timed_out = thread.is_alive() or isinstance(outcome.get("error"), LocalInvocationTimedOut)
        if timed_out:
            outcome.pop("error", None)
        if "error" in outcome:
            log.warning("function %s raised %r: the batch of %d returns", spec.resource_id, outcome["error"], len(ids))
        if timed_out:
            log.warning("function %s timed out after %s s: the batch of %d returns", spec.resource_id,
                        spec.timeout_seconds, len(ids))
        result = settle(
            ids,
            outcome.get("response"),
            raised="error" in outcome,
            timed_out=timed_out,
            report_batch_item_failures=self.event.report_batch_item_failures,
        )
        self.stats.add(
            invocations=1,
            records_received=len(ids),
            batch_errors=int(result.reason == "error"),
            batch_timeouts=int(result.reason == "timeout"),
            invalid_responses=int(result.reason.startswith("invalid")),
        )
        handles = {m.message_id: m.receipt_handle for m in messages}
        self._delete([handles[i] for i in result.delete_ids])
        self.stats.add(records_failed=len(ids) - len(result.delete_ids))

    def _delete(self, receipt_handles: list[str]) -> None:
        transport, queue = self.function.transport, self.event.queue_name
        for i in range(0, len(receipt_handles), limits.SQS_MAX_BATCH_ENTRIES):
            chunk = receipt_handles[i : i + limits.SQS_MAX_BATCH_ENTRIES]
            try:
                failures = transport.delete_batch(queue, chunk)
            except AwsError as exc:
                log.error("DeleteMessageBatch on %s failed (%s): %d records come back", queue, exc, len(chunk))
                self.stats.add(deletes_failed=len(chunk))
                continue
            self.stats.add(records_deleted=len(chunk) - len(failures), deletes_failed=len(failures))

    def release_unstarted(self) -> None:
        """Make messages received while stopping visible again at once (ChangeMessageVisibilityBatch to 0)."""
        with self._lock:
            handles, self.unstarted = [m.receipt_handle for m in self.unstarted], []
        for i in range(0, len(handles), limits.SQS_MAX_BATCH_ENTRIES):
            chunk = handles[i : i + limits.SQS_MAX_BATCH_ENTRIES]
            try:
                self.function.transport.change_visibility_batch(self.event.queue_name, [(h, 0) for h in chunk])
            except AwsError as exc:
                log.warning("releasing %d messages of %s failed (%s); they return after their visibility timeout",
                            len(chunk), self.event.queue_name, exc)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set (one call per poller thread)."""
        failures = 0
        while not stop.is_set():
            try:
                self.poll_once(stop)
                failures = 0
            except AwsError as exc:
                failures += 1
                backoff = min(30.0, 0.5 * 2**failures)
                log.error("polling %s failed (%s); retrying in %.1f s", self.event.queue_name, exc, backoff)
                stop.wait(backoff)
