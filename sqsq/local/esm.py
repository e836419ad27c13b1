"""A local SQS event source mapping: runs a template's SQS-triggered functions in this process, like Lambda would.

For each function and each of its SQS events (read from ``template.yaml``, or derived from an app), pollers
long-poll the queue as Lambda's pollers do: up to ``BatchSize`` records per invocation, gathered for up to
``MaximumBatchingWindowInSeconds``, with at most ``ScalingConfig.MaximumConcurrency`` invocations at once (one
poller thread per allowed concurrent invocation). Each batch becomes an event with exactly the record shape Lambda
sends (``messageId``, ``receiptHandle``, ``body``, ``attributes`` with ``ApproximateReceiveCount``,
``SentTimestamp``, ``SenderId``, ``ApproximateFirstReceiveTimestamp``, ``messageAttributes``, ``md5OfBody``,
``eventSource``, ``eventSourceARN``, ``awsRegion``), and the handler (``Handler`` module:attribute, imported) is
called with a context whose remaining time counts down from the function's ``Timeout``.

The response is applied as Lambda applies it (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html):

* with ``ReportBatchItemFailures``: the records not listed in ``batchItemFailures`` are deleted; an empty or
  missing list deletes all; an item with a missing, empty or unknown ``itemIdentifier`` fails the whole batch;
* without it (B12): a normal return deletes *every* record, whatever the handler reported;
* an exception or a timeout fails the whole batch: nothing is deleted.

Nothing the handler did not see succeed is ever deleted. Records that are not deleted come back after their
visibility timeout, and SQS's redrive policy moves them to the DLQ after ``maxReceiveCount`` receives.

How this differs from real Lambda (deliberately):

* in-process, on threads: no process isolation, no cold starts, no per-invocation memory limit, module state is
  shared between concurrent invocations (sqsq's handler keeps per-invocation state, so it is safe);
* a timeout is not enforced by killing: the invocation counts as failed when it overruns (nothing deleted, as on
  Lambda) but its thread runs on until the handler returns, and what it did (results written) stays done;
* no throttling model: ``MaximumConcurrency`` bounds the pollers, so receives are never wasted on throttles;
* the function's environment is applied to the handler's app (SQSQ_* settings and the endpoint) instead of to a
  fresh process, see :func:`load_handler`.

For a ``sam build`` output run in real runtime processes (``awslambdaric``, Lambda's sys.path, timeouts killed,
cold starts), see :mod:`sqsq.local.lambda_runtime`; its functions run through the same mappings here.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import logging
import os
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqsq import limits
from sqsq.app import App
from sqsq.config import Settings
from sqsq.errors import AwsError, ConfigError, LocalInvocationTimedOut
from sqsq.template import (
    GENERIC_HANDLER,
    FunctionSpec,
    SqsEventSpec,
    TemplateOptions,
    load_template,
    plan_queues,
    sqs_functions,
)
from sqsq.transport import ReceivedMessage, Transport

log = logging.getLogger("sqsq.local.esm")

DEFAULT_MAXIMUM_CONCURRENCY = 5
"""Concurrent invocations per event source when the template sets no ScalingConfig.MaximumConcurrency
(Lambda starts with 5 pollers for a standard queue)."""
STOP_WHEN_EMPTY_WAIT_SECONDS = 1
"""Long-poll wait while ``stop_when_empty`` is on, so the run notices an empty queue quickly."""
_EMPTY_CHECKS_TO_STOP = 2

Handler = Callable[[dict[str, Any], Any], Any]


class LocalContext:
    """The Lambda context object as sqsq's local runtime provides it.

    Args:
        function_name: the function's name.
        timeout_seconds: the function's Timeout; ``get_remaining_time_in_millis`` counts down from it.
        memory_limit_in_mb: the function's MemorySize (informational).
    """

    def __init__(self, function_name: str, timeout_seconds: float, memory_limit_in_mb: int = 512):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self.timeout_seconds = timeout_seconds
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function's timeout (0 once it has passed)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


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


# -- the event Lambda sends -----------------------------------------------------------------------------------

_LAMBDA_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
    "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "DeadLetterQueueSourceArn", "AWSTraceHeader",
)


def _lambda_message_attributes(attrs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, a in attrs.items():
        binary = a.get("BinaryValue")
        out[name] = {
            "stringValue": a.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "stringListValues": list(a.get("StringListValues", [])),
            "binaryListValues": [base64.b64encode(b).decode() for b in a.get("BinaryListValues", [])],
            "dataType": a.get("DataType", "String"),
        }
    return out


def md5_of_message_attributes(attrs: Mapping[str, Any]) -> str:
    """SQS's MD5OfMessageAttributes (names sorted; each length-prefixed name, type, transport byte and value)."""
    digest = hashlib.md5()  # SQS's checksum, not for security
    for name in sorted(attrs):
        a = attrs[name]
        data_type = str(a.get("DataType", "String"))
        for part in (name.encode(), data_type.encode()):
            digest.update(struct.pack(">I", len(part)) + part)
        if a.get("StringValue") is not None:
            value = str(a["StringValue"]).encode()
            digest.update(b"\x01" + struct.pack(">I", len(value)) + value)
        else:
            value = bytes(a.get("BinaryValue", b""))
            digest.update(b"\x02" + struct.pack(">I", len(value)) + value)
    return digest.hexdigest()


def lambda_record(message: ReceivedMessage, queue_arn: str, region: str) -> dict[str, Any]:
    """One record of an SQS event, in the shape Lambda sends it."""
    attrs = {k: str(message.attributes[k]) for k in _LAMBDA_SYSTEM_ATTRIBUTES if k in message.attributes}
    attrs.setdefault("ApproximateReceiveCount", str(message.receive_count))
    attrs.setdefault("SentTimestamp", str(int(message.sent_timestamp_seconds * 1000)))
    attrs.setdefault("SenderId", "AIDAIT2UOQQY3AUEKVGXU")
    attrs.setdefault("ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000)))
    record: dict[str, Any] = {
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": attrs,
        "messageAttributes": _lambda_message_attributes(message.message_attributes),
        "md5OfBody": hashlib.md5(message.body.encode("utf-8", "surrogatepass")).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.message_attributes:
        record["md5OfMessageAttributes"] = md5_of_message_attributes(message.message_attributes)
    return record


# -- what Lambda deletes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    """What Lambda does with a batch after the invocation.

    Attributes:
        delete_ids: messageIds to delete.
        reason: ``"ok"``, ``"partial"``, ``"error"``, ``"timeout"`` or ``"invalid response: ..."``.
    """

    delete_ids: list[str]
    reason: str


def settle(
    record_ids: Sequence[str],
    response: Any,
    *,
    raised: bool = False,
    timed_out: bool = False,
    report_batch_item_failures: bool = True,
) -> Settlement:
    """Lambda's rules for which records of a batch to delete, given the invocation's result.

    Args:
        record_ids: the batch's messageIds, in order.
        response: what the handler returned (ignored when it raised or timed out).
        raised: the handler raised.
        timed_out: the invocation overran the function's timeout.
        report_batch_item_failures: the event source has ``FunctionResponseTypes: [ReportBatchItemFailures]``.

    Returns:
        The ids to delete and why.
    """
    if timed_out:
        return Settlement([], "timeout")
    if raised:
        return Settlement([], "error")
    if not report_batch_item_failures:
        return Settlement(list(record_ids), "ok")  # B12: the response is not read at all
    if response is None or (isinstance(response, dict) and response.get("batchItemFailures") is None):
        return Settlement(list(record_ids), "ok")
    if not isinstance(response, dict) or not isinstance(response["batchItemFailures"], list):
        return Settlement([], "invalid response: not a batchItemFailures list")
    failed: set[str] = set()
    for item in response["batchItemFailures"]:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident or ident not in record_ids:
            return Settlement([], f"invalid response: itemIdentifier {ident!r}")
        failed.add(ident)
    if not failed:
        return Settlement(list(record_ids), "ok")
    return Settlement([i for i in record_ids if i not in failed], "partial")


# -- loading functions -----------------------------------------------------------------------------------------


@dataclass
class LocalFunction:
    """A function to run locally with its SQS event sources.

    Attributes:
        spec: its template settings.
        handler: the callable Lambda would call (``handler(event, context)``).
        transport: the queue transport the event source mappings poll (the handler's app's, usually).
        region: the region named in records.
        owns_timeout: the handler enforces the function's Timeout itself and raises
            :class:`~sqsq.errors.LocalInvocationTimedOut` when it ran over (a built function's process pool, see
            :mod:`sqsq.local.lambda_runtime`); the mapping then waits for it instead of giving up at the Timeout.
    """

    spec: FunctionSpec
    handler: Handler
    transport: Transport
    region: str
    owns_timeout: bool = False


_SETTING_FIELDS = {f"SQSQ_{name.upper()}": name for name in Settings.model_fields if name != "app_name"}


def load_handler(spec: FunctionSpec, endpoint_url: str | None, root: Path | None = None) -> Handler:
    """Import a function's ``Handler`` (``path/module.attribute``) and point it at the function's environment.

    When the handler is sqsq's (:class:`sqsq.lambda_handler.SqsLambdaHandler`) its app is configured with the
    function's ``SQSQ_*`` variables and ``endpoint_url``, as a fresh Lambda process reading its environment
    would be. Other handlers see the variables in ``os.environ`` (set only where not already set).

    Args:
        spec: the function.
        endpoint_url: the local AWS endpoint.
        root: folder the handler path is relative to (added to ``sys.path``); default the current directory.

    Raises:
        ConfigError: the handler cannot be imported or is not callable.
    """
    module_path, _, attr = spec.handler.rpartition(".")
    if not module_path or not attr:
        raise ConfigError(f"function {spec.resource_id}: Handler {spec.handler!r} is not path/module.attribute")
    base = str((root or Path.cwd()).resolve())
    if base not in sys.path:
        sys.path.insert(0, base)
    env = dict(spec.environment)
    for key, value in env.items():
        if key not in _SETTING_FIELDS and key != "SQSQ_APP_NAME":
            os.environ.setdefault(key, value)
    try:
        module = importlib.import_module(module_path.replace("/", "."))
    except ImportError as exc:
        raise ConfigError(f"function {spec.resource_id}: cannot import {module_path!r}: {exc}") from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise ConfigError(f"function {spec.resource_id}: {spec.handler!r} is not a callable")
    app = getattr(handler, "app", None)
    if isinstance(app, App):
        expected = env.get("SQSQ_APP_NAME")
        if expected and expected != app.name:
            log.warning("function %s: SQSQ_APP_NAME=%s but its handler's app is %r", spec.resource_id, expected, app.name)
        app.configure(endpoint_url=endpoint_url, **{_SETTING_FIELDS[k]: v for k, v in env.items() if k in _SETTING_FIELDS})
    else:
        for key, value in env.items():
            os.environ.setdefault(key, value)
    return handler  # type: ignore[no-any-return]


def functions_from_template(
    template: str | Path | Mapping[str, Any],
    endpoint_url: str | None,
    parameters: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> list[LocalFunction]:
    """The template's SQS-triggered functions, their handlers imported and configured (see :func:`load_handler`).

    Raises:
        ConfigError: a handler cannot be imported, or a function's handler is not sqsq's and has no app to poll with.
    """
    out = []
    for spec in sqs_functions(load_template(template), parameters):
        handler = load_handler(spec, endpoint_url, root)
        app = getattr(handler, "app", None)
        if not isinstance(app, App):
            raise ConfigError(
                f"function {spec.resource_id}: its handler is not sqsq's; the local event source mapping needs "
                "sqsq's handler to find the transport"
            )
        out.append(LocalFunction(spec, handler, app.transport, app.settings.region))
    return out


def functions_from_app(app: App, options: TemplateOptions | None = None, **handler_options: Any) -> list[LocalFunction]:
    """The app's consumer functions as ``sqsq template`` declares them (one per Lambda queue), on its current queues.

    Queue names, visibility timeouts and maxReceiveCount are read from the queues themselves (so provisioned
    queues with any prefix work); timeout, batch size, window and concurrency come from the queue plans
    (:func:`sqsq.template.plan_queues`: ``app.declare_queue`` settings, else ``options``). One handler serves them all.
    """
    from sqsq.lambda_handler import lambda_handler

    handler = lambda_handler(app, **handler_options)
    out = []
    for plan in plan_queues(app, options):
        if plan.consumer != "lambda":
            continue
        name = app.queue_name(plan.logical)
        info = app.transport.queue_info(name)
        event = SqsEventSpec(
            event_id=f"{plan.resource_id}Messages",
            queue_resource_id=None,
            queue_name=name,
            visibility_timeout_seconds=info.visibility_timeout_seconds,
            max_receive_count=info.max_receive_count,
            batch_size=plan.batch_size,
            batching_window_seconds=plan.batching_window_seconds,
            report_batch_item_failures=True,
            maximum_concurrency=plan.maximum_concurrency,
            enabled=True,
        )
        spec = FunctionSpec(
            resource_id=f"{plan.resource_id}Function",
            handler=GENERIC_HANDLER,
            timeout_seconds=plan.function_timeout_seconds,
            reserved_concurrency=None,
            environment={},
            events=[event],
            memory_size_mb=plan.memory_size_mb,
        )
        out.append(LocalFunction(spec, handler, app.transport, app.settings.region))
    return out


# -- the pollers -------------------------------------------------------------------------------------------------


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


def run_functions(
    functions: Sequence[LocalFunction],
    *,
    stop_when_empty: bool = False,
    timeout_seconds: float | None = None,
    wait_time_seconds: int | None = None,
    stop: threading.Event | None = None,
) -> EsmStats:
    """Run local event source mappings for ``functions`` until stopped.

    Args:
        functions: from :func:`functions_from_template` or :func:`functions_from_app`.
        stop_when_empty: return once every source queue has nothing visible, in flight or delayed and no
            invocation is running (messages waiting out a visibility timeout count as in flight).
        timeout_seconds: return after this many seconds at the latest (None: no limit).
        wait_time_seconds: long-poll wait; default 20, or 1 with ``stop_when_empty`` or ``timeout_seconds``.
        stop: set it to stop from another thread (e.g. on Ctrl-C).

    Returns:
        The counters of the run.
    """
    stop = stop or threading.Event()
    stats = EsmStats()
    if wait_time_seconds is not None:
        wait = wait_time_seconds
    elif stop_when_empty or timeout_seconds is not None:
        wait = STOP_WHEN_EMPTY_WAIT_SECONDS  # notice the end quickly
    else:
        wait = limits.SQS_MAX_WAIT_TIME_SECONDS
    mappings = [
        LocalEventSourceMapping(f, ev, stats, wait) for f in functions for ev in f.spec.events if ev.enabled
    ]
    threads = []
    for m in mappings:
        log.info(
            "local event source mapping: %s <- %s (BatchSize %d, window %d s, concurrency %d, "
            "ReportBatchItemFailures %s, timeout %d s)",
            m.function.spec.resource_id, m.event.queue_name, m.event.batch_size, m.event.batching_window_seconds,
            m.concurrency, m.event.report_batch_item_failures, m.function.spec.timeout_seconds,
        )
        for i in range(m.concurrency):
            t = threading.Thread(target=m.run, args=(stop,), name=f"sqsq-esm-{m.event.queue_name}-{i}", daemon=True)
            t.start()
            threads.append(t)
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    empty_checks = 0
    try:
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(0.2)
            if not stop_when_empty:
                continue
            if _all_empty(mappings):
                empty_checks += 1
                if empty_checks >= _EMPTY_CHECKS_TO_STOP:
                    break
            else:
                empty_checks = 0
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=limits.SQS_MAX_WAIT_TIME_SECONDS + 5)
        for m in mappings:
            m.release_unstarted()
    return stats


def _all_empty(mappings: Sequence[LocalEventSourceMapping]) -> bool:
    if any(m.in_flight for m in mappings):
        return False
    for m in mappings:
        try:
            depth = m.function.transport.depth(m.event.queue_name)
        except AwsError:
            return False
        if depth.visible or depth.in_flight or depth.delayed:
            return False
    return not any(m.in_flight for m in mappings)


def run_local_esm(
    target: App | str | Path | Mapping[str, Any],
    endpoint_url: str | None = None,
    *,
    root: Path | None = None,
    stop_when_empty: bool = True,
    parameters: Mapping[str, str] | None = None,
    timeout_seconds: float | None = None,
    wait_time_seconds: int | None = None,
    options: TemplateOptions | None = None,
    stop: threading.Event | None = None,
) -> EsmStats:
    """Run an app's (or a template's) SQS-triggered Lambda functions locally against ``endpoint_url``.

    Args:
        target: an :class:`App` (its queues as currently configured, one function as ``sqsq template`` renders it,
            handler ``sqsq.lambda_handler(app)``), or the path of a SAM template (its functions and handlers,
            names resolved with ``parameters``), or such a template as a dict.
        endpoint_url: the local AWS endpoint; default: the app's configured endpoint / ``AWS_ENDPOINT_URL``.
        root: folder the template's handler paths are relative to; default the template file's folder (or the
            current directory for a dict).
        stop_when_empty: return once the source queues are empty and no invocation runs.
        parameters: template parameter values (e.g. ``{"Stage": "dev"}``); template targets only.
        timeout_seconds: return after this many seconds at the latest.
        wait_time_seconds: long-poll wait (default 1 s with ``stop_when_empty``, else 20 s).
        options: batch size, window and concurrency for an App target (default: :class:`TemplateOptions`).
        stop: an event to stop the run from another thread.

    Returns:
        :class:`EsmStats` (invocations, records received/deleted/failed, batch errors and timeouts).

    Raises:
        ConfigError: the template's handlers cannot be imported.
        AwsError: a source queue cannot be read.

    Example:
        >>> from sqsq.demo.app import app
        >>> app.configure(endpoint_url="http://127.0.0.1:4566")
        >>> stats = run_local_esm(app)  # doctest: +SKIP
        >>> stats.records_deleted
    """
    if isinstance(target, App):
        if endpoint_url is not None and endpoint_url != target.settings.endpoint_url:
            target.configure(endpoint_url=endpoint_url)
        functions = functions_from_app(target, options)
    else:
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        if root is None and isinstance(target, (str, Path)):
            root = Path(target).resolve().parent
        functions = functions_from_template(target, endpoint, parameters, root)
    return run_functions(
        functions,
        stop_when_empty=stop_when_empty,
        timeout_seconds=timeout_seconds,
        wait_time_seconds=wait_time_seconds,
        stop=stop,
    )
