"""The embedded local AWS: moto's server, patched for concurrent consumers, behind a counting middleware.

moto 5.2.5's SQS backend has three problems a task queue trips over, all measured:

* it is not safe under concurrent consumers: two ReceiveMessage calls can hand out the same message, and
  concurrent DeleteMessage(Batch) calls rebuild the message list from a stale copy, losing a deletion;
* ReceiveMessage/SendMessage cost grows with queue depth: every call recomputes datetimes and the
  ``ApproximateNumberOfMessages*`` scans for every stored message (ReceiveMessage(10) took 2.2 s at 5,000 queued);
* it binds ``0.0.0.0`` by default.

:func:`apply_patches` fixes the first two at run time (nothing in site-packages is edited), :func:`serve` runs
moto's app for all services on ``127.0.0.1`` behind :class:`AwsRequestMiddleware`, which counts requests by
``service:Action`` and can inject faults, and :class:`LocalAwsServer` runs :func:`serve` in a child process
for tests, the CLI and the demo.

Run it by hand::

    python -m sqsq.local.server --host 127.0.0.1 --port 4566

Extra endpoints (answered by the middleware, never forwarded to moto)::

    GET    /_sqsq/requests         {"sqs:SendMessageBatch": 3, "dynamodb:PutItem": 7, ...}
    POST   /_sqsq/requests/reset   zero the counters
    POST   /_sqsq/faults           {"rate": 0.2, "services": ["sqs"], "kinds": ["throttle", "500", "drop"], "seed": 1}
    GET    /_sqsq/faults           {"throttle": n, "500": n, "drop": n}  (faults injected so far)
    DELETE /_sqsq/faults           stop injecting; answers the final counts
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs

from sqsq.errors import LocalServerError, MissingExtra
from sqsq.extras import require

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "FAULT_KINDS",
    "AwsRequestMiddleware",
    "LocalAwsServer",
    "apply_patches",
    "build_app",
    "serve",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
"""moto accepts any credentials; these are the conventional dummy ones, so no real key is ever sent locally."""
READY_LINE_PREFIX = "sqsq local AWS listening on "
FAULT_KINDS = ("throttle", "500", "drop")
"""What :meth:`LocalAwsServer.set_faults` can inject: a throttling error, an HTTP 500, a dropped connection."""

_START_TIMEOUT_SECONDS = 30.0
_STOP_TIMEOUT_SECONDS = 5.0
_LONG_POLL_RECHECK_SECONDS = 1.0
"""Longest a waiting long poll sleeps before rescanning (catches visibility timeouts that expire)."""

_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------------------
# moto patches
# --------------------------------------------------------------------------------------------------------------

_patch_lock = threading.Lock()
_PATCHED_MARK = "_sqsq_patched"


def apply_patches() -> None:
    """Patch moto's SQS and DynamoDB backends in this process for concurrent, depth-independent use.

    Idempotent: a second call does nothing. Only moto's classes and its ``moto.sqs.models`` clock are touched.

    * each SQS queue's send/receive/delete/visibility/purge/attribute operations hold that queue's lock; a long
      poll releases it while it waits and wakes early when a message is sent;
    * ReceiveMessage scans only until it has enough messages, with one clock read per scan; SendMessage no
      longer computes the queue's message counts; the clock moto's SQS model reads is ``time.time()``;
    * redrive is unchanged: a message moves to the DLQ on the receive after its ``maxReceiveCount``-th;
    * DynamoDB requests are served one at a time, so conditional writes are atomic.

    Example:
        >>> apply_patches()  # before moto serves its first request
    """
    import moto.sqs.models as sqs_models

    with _patch_lock:
        if getattr(sqs_models.SQSBackend, _PATCHED_MARK, False):
            return
        _patch_sqs_clock(sqs_models)
        _patch_sqs_queue(sqs_models)
        _patch_sqs_backend(sqs_models)
        _patch_dynamodb()
        setattr(sqs_models.SQSBackend, _PATCHED_MARK, True)


def _patch_sqs_clock(sqs_models: Any) -> None:
    # moto's unix_time() builds two datetimes and a timedelta per call (~3 us) and its SQS model calls it for
    # every stored message on every scan. time.time() is the same quantity. Only the SQS model's own
    # references are replaced; other services keep moto's clock.
    orig_unix_time: Callable[..., float] = sqs_models.unix_time

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else orig_unix_time(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else orig_unix_time(dt) * 1000.0

    sqs_models.unix_time = unix_time
    sqs_models.unix_time_millis = unix_time_millis


def _message_counts(queue: Any) -> tuple[int, int, int]:
    """(visible, not visible, delayed) in one pass with one clock read, using moto's own comparisons."""
    now_ms = time.time() * 1000.0
    visible = not_visible = delayed = 0
    for message in queue._messages:
        is_visible = now_ms > message.visible_at
        is_delayed = now_ms < message.delayed_until
        if not is_visible:
            not_visible += 1
        if is_delayed:
            delayed += 1
        if is_visible and not is_delayed:
            visible += 1
    return visible, not_visible, delayed


def _patch_sqs_queue(sqs_models: Any) -> None:
    queue_cls = sqs_models.Queue

    # Queue.attributes reads all three counts, and moto's SendMessage reads queue.attributes (for
    # ContentBasedDeduplication) once or twice per message: three O(depth) scans per message sent. While a
    # send holds the queue's lock it sets _sqsq_sending, and the counts, which no code on that path reads, are
    # skipped. Everyone else who reads the counts holds the same lock, so they never see the skip.
    def count_property(index: int) -> property:
        def get(self: Any) -> int:
            if getattr(self, "_sqsq_sending", False):
                return 0
            return _message_counts(self)[index]

        return property(get)

    queue_cls.approximate_number_of_messages = count_property(0)
    queue_cls.approximate_number_of_messages_not_visible = count_property(1)
    queue_cls.approximate_number_of_messages_delayed = count_property(2)

    receipt_handle_is_invalid = sqs_models.ReceiptHandleIsInvalid

    # moto's delete scans every message twice, building a list of receipt handles per message, then rebuilds
    # the list. Same rule (any handle the message ever had; deleting twice is fine), one scan that stops at the
    # match; callers hold the queue's lock (see _patch_sqs_backend), so deleting in place is safe.
    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return
        for index, message in enumerate(self._messages):
            if message.receipt_handle == receipt_handle or receipt_handle in message._old_receipt_handles:
                del self._messages[index]
                self.pending_messages.discard(message)
                self.deleted_messages.update(message.all_receipt_handles)
                return
        raise receipt_handle_is_invalid()

    queue_cls.delete_message = delete_message


def _patch_sqs_backend(sqs_models: Any) -> None:
    backend_cls = sqs_models.SQSBackend

    # moto serves each request on its own thread and its SQS backend has no lock, so concurrent consumers see
    # duplicate deliveries and lost deletes. Every operation on a queue's messages now holds that queue's
    # Condition (moto already creates one per queue, over an RLock, and notifies it when a message is added).
    def locked(name: str, *, sending: bool = False, notify: bool = False) -> None:
        original = getattr(backend_cls, name)

        def wrapper(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            queue = self.get_queue(queue_name)
            with queue._messages_lock:
                was_sending = getattr(queue, "_sqsq_sending", False)
                queue._sqsq_sending = sending or was_sending
                try:
                    return original(self, queue_name, *args, **kwargs)
                finally:
                    queue._sqsq_sending = was_sending
                    if notify:
                        # a visibility change may make a message visible now: wake waiting long polls
                        queue._messages_lock.notify_all()

        wrapper.__name__ = name
        wrapper.__doc__ = original.__doc__
        setattr(backend_cls, name, wrapper)

    for name in ("send_message", "send_message_batch"):
        locked(name, sending=True)
    for name in ("delete_message", "delete_message_batch", "purge_queue", "get_queue_attributes",
                 "set_queue_attributes"):
        locked(name)
    for name in ("change_message_visibility", "change_message_visibility_batch"):
        locked(name, notify=True)
    backend_cls.receive_message = _receive_message


def _receive_message(
    self: Any,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list[Any]:
    """Replacement for ``SQSBackend.receive_message``: moto's rules, locked, and without the depth penalty.

    Differences from moto, each on purpose: the scan holds the queue's lock and stops once it has ``count``
    messages; a long poll releases the lock while waiting (moto slept in 1 s steps); messages past their
    retention period are skipped instead of ending the scan; the DLQ is written after the source queue's
    lock is released, so two queues that redrive into each other cannot deadlock.
    """
    from moto.sqs.models import _filter_message_attributes

    attribute_names = message_attribute_names or []
    queue = self.get_queue(queue_name)
    condition = queue._messages_lock
    deadline = time.monotonic() + wait_seconds_timeout
    while True:
        with condition:
            result, to_dlq, next_change_ms = _scan_queue(queue, count, visibility_timeout)
            remaining_seconds = deadline - time.monotonic()
            if not result and not to_dlq and remaining_seconds > 0:
                wait_seconds = min(remaining_seconds, _LONG_POLL_RECHECK_SECONDS)
                if next_change_ms is not None:
                    wait_seconds = min(wait_seconds, max(0.0, next_change_ms / 1000.0 - time.time()) + 0.001)
                # Condition.wait releases the (reentrant) lock entirely while it waits; add_message notifies.
                condition.wait(timeout=wait_seconds)
        for message in to_dlq:
            queue.dead_letter_queue.add_message(message)
        if result or time.monotonic() >= deadline:
            copies = []
            for message in result:
                # moto deep-copies; a shallow copy suffices because only message_attributes is replaced on it
                message_copy = copy.copy(message)
                _filter_message_attributes(message_copy, attribute_names)
                copies.append(message_copy)
            return copies


def _scan_queue(queue: Any, count: int, visibility_timeout: int) -> tuple[list[Any], list[Any], float | None]:
    """Take up to ``count`` visible messages (marking them received) and the ones due for the DLQ.

    Caller holds the queue's lock. Returns (received, moved off the queue for the DLQ, the earliest future time
    in ms at which an invisible or delayed message becomes receivable, or None).
    """
    now_ms = time.time() * 1000.0
    received: list[Any] = []
    to_dlq: list[Any] = []
    next_change_ms: float | None = None
    pending = queue.pending_messages
    pending_groups: set[str] = set(queue.pending_message_groups) if queue.fifo_queue else set()
    max_receive_count = (
        queue.redrive_policy["maxReceiveCount"]
        if queue.dead_letter_queue is not None and queue.redrive_policy
        else None
    )
    retention_ms = int(queue.message_retention_period) * 1000.0
    expired: list[Any] = []
    for message in queue._messages:
        # moto's Message.visible / .delayed, with one clock read per scan
        if not (now_ms > message.visible_at) or now_ms < message.delayed_until:
            due_ms = max(message.visible_at, message.delayed_until)
            if next_change_ms is None or due_ms < next_change_ms:
                next_change_ms = due_ms
            continue
        if message in pending:
            # visible again while pending: its consumer timed out
            pending.discard(message)
            if queue.fifo_queue:
                pending_groups = set(queue.pending_message_groups)
        if queue.fifo_queue and message.group_id and message.group_id in pending_groups:
            continue  # another consumer holds this message group
        if max_receive_count is not None and message.approximate_receive_count >= max_receive_count:
            # moto's redrive rule: moved on the receive after the maxReceiveCount-th
            to_dlq.append(message)
            continue
        if message.sent_timestamp is not None and message.sent_timestamp + retention_ms <= now_ms:
            expired.append(message)  # SQS drops messages past MessageRetentionPeriod
            continue
        pending.add(message)
        message.mark_received(visibility_timeout=visibility_timeout)
        received.append(message)
        if len(received) >= count:
            break
    for message in to_dlq + expired:
        queue._messages.remove(message)
        pending.discard(message)
    return received, to_dlq, next_change_ms


_dynamodb_lock = threading.RLock()


def _patch_dynamodb() -> None:
    # moto's DynamoDB backend has no locking either: a ConditionExpression check and the write that follows it
    # can interleave with another request's. One lock around each DynamoDB request makes them atomic.
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _dynamodb_lock:
            return original(self)

    setattr(DynamoHandler, "call_action", call_action)  # noqa: B010 - mypy forbids assigning to a method


# --------------------------------------------------------------------------------------------------------------
# WSGI middleware: request counts and fault injection
# --------------------------------------------------------------------------------------------------------------

_SCOPE_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_TARGET_SERVICES = {
    "AmazonSQS": "sqs",
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "dynamodbstreams",
}
_DYNAMODB_ITEM_ACTIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems", "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
})


class _FaultPlan:
    """Which requests fail, and how; guarded by the middleware's lock."""

    def __init__(self, rates: dict[str, float], kinds: tuple[str, ...], seed: int | None) -> None:
        self.rates = rates
        self.kinds = kinds
        self.rng = random.Random(seed)

    @classmethod
    def from_json(cls, data: Any) -> _FaultPlan:
        if not isinstance(data, dict):
            raise TypeError("expected a JSON object")
        unknown = set(data) - {"rate", "services", "kinds", "seed"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; use rate, services, kinds, seed")
        services = data.get("services") or ["sqs", "dynamodb"]
        kinds = data.get("kinds") or list(FAULT_KINDS)
        if not all(isinstance(s, str) for s in services):
            raise ValueError("services must be a list of service names such as 'sqs', 'dynamodb'")
        raw = data.get("rate", 0.0)  # one rate for the services, or a rate per service ({"dynamodb": 0.4})
        rates = {str(k): float(v) for k, v in raw.items()} if isinstance(raw, dict) else dict.fromkeys(services, float(raw))
        for service, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"rate={rate} for {service} is outside 0..1")
        bad_kinds = [k for k in kinds if k not in FAULT_KINDS]
        if bad_kinds:
            raise ValueError(f"unknown fault kinds {bad_kinds}; use {list(FAULT_KINDS)}")
        seed = data.get("seed")
        if seed is not None and not isinstance(seed, int):
            raise ValueError("seed must be an integer or null")
        return cls(rates, tuple(kinds), seed)

    def pick(self, service: str) -> str | None:
        """The fault kind to inject for a request to ``service``, or None to let it through."""
        if self.rng.random() >= self.rates.get(service, 0.0):
            return None
        return self.rng.choice(self.kinds)


class AwsRequestMiddleware:
    """WSGI middleware in front of moto: counts requests by ``service:Action`` and injects faults.

    Every AWS request that reaches the server is counted, including those a fault answers (so a client's
    retries show). Requests to ``/_sqsq/...`` are answered here and never reach moto.

    Args:
        app: moto's WSGI application.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._faults: _FaultPlan | None = None
        self._fault_counts: Counter[str] = Counter()

    # -- classification ------------------------------------------------------------------------------------

    @staticmethod
    def classify(environ: WSGIEnvironment) -> tuple[str, str]:
        """``(service, action)`` of an AWS request; ``"unknown"`` for either part that cannot be told.

        The service is the SigV4 credential scope's (``.../us-east-1/sqs/aws4_request``), else the
        ``X-Amz-Target`` prefix's. The action is the ``X-Amz-Target`` suffix (JSON protocols, such as SQS and
        DynamoDB under boto3 1.44), else the ``Action`` form field or query parameter (query protocol).
        Reading a form body rewinds ``wsgi.input`` for moto.
        """
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        match = _SCOPE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = match.group(1) if match else None
        action = None
        if "." in target:
            prefix, action = target.rsplit(".", 1)
            service = service or _TARGET_SERVICES.get(prefix, prefix.lower())
        if action is None:
            sources = [environ.get("QUERY_STRING", "")]
            if environ.get("REQUEST_METHOD") == "POST" and "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
                sources.insert(0, _read_body(environ).decode("utf-8", "replace"))
            for source in sources:
                values = parse_qs(source).get("Action") if "Action=" in source else None
                if values:
                    action = values[0]
                    break
        return service or "unknown", action or "unknown"

    # -- WSGI --------------------------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sqsq/"):
            status, payload = self._control(environ, path)
            return _json_response(start_response, status, payload)

        service, action = self.classify(environ)
        with self._lock:
            self._counts[f"{service}:{action}"] += 1
            kind = self._faults.pick(service) if self._faults is not None else None
            if kind is not None:
                self._fault_counts[kind] += 1
        if kind is None:
            return self._app(environ, start_response)
        if kind == "drop":
            _drop_connection(environ)
        return _error_response(environ, start_response, service, action, kind)

    def _control(self, environ: WSGIEnvironment, path: str) -> tuple[str, Any]:
        method = environ.get("REQUEST_METHOD", "GET")
        with self._lock:
            if path == "/_sqsq/requests" and method == "GET":
                return "200 OK", dict(sorted(self._counts.items()))
            if path == "/_sqsq/requests/reset" and method == "POST":
                self._counts.clear()
                return "200 OK", {}
            if path == "/_sqsq/faults" and method == "GET":
                return "200 OK", dict(self._fault_counts)
            if path == "/_sqsq/faults" and method == "DELETE":
                counts = dict(self._fault_counts)
                self._faults = None
                self._fault_counts.clear()
                return "200 OK", counts
        if path == "/_sqsq/faults" and method == "POST":
            try:
                plan = _FaultPlan.from_json(json.loads(_read_body(environ) or b"{}"))
            except (TypeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
                return "400 Bad Request", {"error": str(exc)}
            with self._lock:
                self._faults = plan
                self._fault_counts.clear()
            return "200 OK", {}
        return "404 Not Found", {"error": f"no {method} {path}; see sqsq.local.server's docstring"}


def _read_body(environ: WSGIEnvironment) -> bytes:
    """The request body, leaving ``wsgi.input`` rewound for the next reader."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    body: bytes = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _json_response(start_response: StartResponse, status: str, payload: Any) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _drop_connection(environ: WSGIEnvironment) -> None:
    """Close the client's connection with no response: botocore sees ConnectionClosedError and retries."""
    _read_body(environ)  # let the client finish sending, so it sees a closed connection, not a reset
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    # werkzeug treats a ConnectionError from the app as a dropped connection and writes nothing back
    raise ConnectionAbortedError("sqsq fault injection: connection dropped")


def _error_response(
    environ: WSGIEnvironment, start_response: StartResponse, service: str, action: str, kind: str
) -> list[bytes]:
    """A throttling (HTTP 400) or internal (HTTP 500) error shaped so botocore parses the service's code."""
    throttle = kind == "throttle"
    status = "400 Bad Request" if throttle else "500 Internal Server Error"
    headers = [("x-amzn-RequestId", f"sqsq-fault-{random.getrandbits(64):016x}")]
    if environ.get("HTTP_X_AMZ_TARGET"):
        # JSON protocol: botocore takes the code from __type after '#', or for SQS (awsQueryCompatible) from
        # the x-amzn-query-error header, which also maps it onto the modelled exception class.
        if service == "sqs":
            code = "RequestThrottled" if throttle else "InternalError"
            type_name = f"com.amazonaws.sqs#{code}"
            headers.append(("x-amzn-query-error", f"{code};{'Sender' if throttle else 'Receiver'}"))
        elif service == "dynamodb":
            if throttle:
                code = (
                    "ProvisionedThroughputExceededException" if action in _DYNAMODB_ITEM_ACTIONS
                    else "ThrottlingException"
                )
            else:
                code = "InternalServerError"
            type_name = f"com.amazonaws.dynamodb.v20120810#{code}"
        else:
            type_name = "ThrottlingException" if throttle else "InternalFailure"
        message = "Rate exceeded (sqsq fault injection)" if throttle else "Internal error (sqsq fault injection)"
        body = json.dumps({"__type": type_name, "message": message}).encode()
        headers.append(("Content-Type", "application/x-amz-json-1.0"))
    else:
        # query protocol (XML)
        code = "Throttling" if throttle else "InternalFailure"
        fault_type = "Sender" if throttle else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{fault_type}</Type><Code>{code}</Code>"
            f"<Message>sqsq fault injection</Message></Error><RequestId>sqsq-fault</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]


def build_app() -> AwsRequestMiddleware:
    """moto's server app for all services, patched, behind :class:`AwsRequestMiddleware`.

    Returns:
        the WSGI application :func:`serve` runs.
    """
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )

    apply_patches()
    return AwsRequestMiddleware(DomainDispatcherApplication(create_backend_app))


# --------------------------------------------------------------------------------------------------------------
# serving
# --------------------------------------------------------------------------------------------------------------


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, patched: bool = True) -> None:
    """Serve the local AWS until SIGINT or SIGTERM, then return.

    Prints ``sqsq local AWS listening on http://HOST:PORT`` (flushed) once the socket accepts connections.
    Must be called from the main thread (it installs signal handlers).

    Args:
        host: address to bind; default ``127.0.0.1`` (moto's own default, ``0.0.0.0``, is never used).
        port: TCP port; 0 picks a free one (the printed line names it). Default 4566.
        patched: apply :func:`apply_patches`; False runs moto as shipped (for before/after measurements).

    Raises:
        OSError: the address cannot be bound (for example, the port is in use).
        MissingExtra: moto's server is not installed (``pip install "sqsq[local]"``).

    Example:
        >>> serve("127.0.0.1", 4566)  # doctest: +SKIP
    """
    require("the local AWS", "moto")
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no log line per request
    if patched:
        app: WSGIApplication = build_app()
    else:
        app = AwsRequestMiddleware(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    real_port = server.server_port
    # moto builds some URLs (S3, SQS QueueUrl fallbacks) from MOTO_PORT
    os.environ["MOTO_PORT"] = str(real_port)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, which runs in this (main) thread: ask from another
        threading.Thread(target=server.shutdown, name="sqsq-local-shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"{READY_LINE_PREFIX}http://{host}:{real_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m sqsq.local.server``.

    Args:
        argv: command-line arguments; default ``sys.argv[1:]``.

    Returns:
        the process exit code: 0 after a clean stop, 3 when moto's server is not installed (one line on stderr).
    """
    parser = argparse.ArgumentParser(prog="python -m sqsq.local.server", description="sqsq's local AWS (moto)")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port, 0 = any free port (default 4566)")
    parser.add_argument("--no-patches", action="store_true", help="run moto unpatched (for measurements only)")
    args = parser.parse_args(argv)
    try:
        require("python -m sqsq.local.server", "moto")
    except MissingExtra as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    serve(args.host, args.port, patched=not args.no_patches)
    return 0


# --------------------------------------------------------------------------------------------------------------
# running it in a child process
# --------------------------------------------------------------------------------------------------------------


class LocalAwsServer:
    """The local AWS in a child process: ``python -m sqsq.local.server`` in its own process group.

    Args:
        port: TCP port; None or 0 picks a free one (read it from :attr:`endpoint_url` after :meth:`start`).
        host: address to bind; default ``127.0.0.1``.

    Example:
        >>> with LocalAwsServer() as aws:  # doctest: +SKIP
        ...     sqs = boto3.client("sqs", endpoint_url=aws.endpoint_url, region_name="us-east-1")
        ...     aws.request_counts()
        {'sqs:CreateQueue': 1}
    """

    def __init__(self, port: int | None = None, host: str = DEFAULT_HOST) -> None:
        self._host = host
        self._port = port or 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stdout: IO[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._endpoint_url: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def client_environment(self, region: str = "us-east-1") -> dict[str, str]:
        """The variables a process (boto3 or sqsq) needs to use this server: endpoint, region, dummy credentials.

        Raises:
            LocalServerError: the server is not running.
        """
        return {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }

    @property
    def endpoint_url(self) -> str:
        """``http://HOST:PORT`` of the running server.

        Raises:
            LocalServerError: the server is not running (call :meth:`start` first).
        """
        if self._endpoint_url is None:
            raise LocalServerError("the local AWS server is not running; call LocalAwsServer.start() first")
        return self._endpoint_url

    @property
    def pid(self) -> int | None:
        """Process id of the server (also its process group id), or None when not started."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout_seconds: float = _START_TIMEOUT_SECONDS) -> str:
        """Launch the server and wait until it answers HTTP.

        Args:
            timeout_seconds: longest wait for the server to answer; default 30.

        Returns:
            the endpoint URL, ``http://HOST:PORT``.

        Raises:
            LocalServerError: already started; or the server exited or did not answer within
                ``timeout_seconds`` (the message includes its stderr).
            MissingExtra: moto's server is not installed (``pip install "sqsq[local]"``); nothing is started.
        """
        require("the local AWS (sqsq.local.server.LocalAwsServer)", "moto")
        if self._process is not None:
            raise LocalServerError(f"the local AWS server is already running at {self._endpoint_url}")
        # files, not pipes: nobody has to drain them, and they live until stop() closes them
        self._stdout = tempfile.TemporaryFile()
        self._stderr = tempfile.TemporaryFile()
        command = [sys.executable, "-m", "sqsq.local.server", "--host", self._host, "--port", str(self._port)]
        env = dict(os.environ)
        # let the child import this same sqsq, wherever the parent's working directory is
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._process = subprocess.Popen(
            command, stdout=self._stdout, stderr=self._stderr, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )
        try:
            self._endpoint_url = self._wait_ready(time.monotonic() + timeout_seconds, timeout_seconds)
        except BaseException:
            self.stop()
            raise
        return self._endpoint_url

    def _wait_ready(self, deadline: float, timeout_seconds: float) -> str:
        assert self._process is not None and self._stdout is not None
        url: str | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalServerError(
                    f"the local AWS server exited with code {self._process.returncode} before it was ready; "
                    f"stderr:\n{self._stderr_text()}"
                )
            if url is None:
                self._stdout.seek(0)
                for line in self._stdout.read().decode("utf-8", "replace").splitlines():
                    if line.startswith(READY_LINE_PREFIX):
                        url = line[len(READY_LINE_PREFIX):].strip()
            if url is not None:
                try:
                    with urllib.request.urlopen(f"{url}/_sqsq/requests", timeout=2.0) as response:
                        if response.status == 200:
                            return url
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(0.05)
        raise LocalServerError(
            f"the local AWS server did not answer within {timeout_seconds:.0f} s; is the machine overloaded? "
            f"stderr:\n{self._stderr_text()}"
        )

    def _stderr_text(self, limit_bytes: int = 8000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        data = self._stderr.read()
        return data[-limit_bytes:].decode("utf-8", "replace")

    def stop(self, timeout_seconds: float = _STOP_TIMEOUT_SECONDS) -> None:
        """Stop the server: SIGTERM to its process group, then SIGKILL after ``timeout_seconds``.

        Safe to call twice or before :meth:`start`. Leaves no process of the group behind.

        Args:
            timeout_seconds: how long to wait after SIGTERM before SIGKILL; default 5.
        """
        process, self._process = self._process, None
        self._endpoint_url = None
        if process is not None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                _log.warning("local AWS server pid %s ignored SIGTERM for %.0f s; killing it", process.pid,
                             timeout_seconds)
            # the group may hold more than the server (anything it spawned): make sure none survives
            _signal_group(process.pid, signal.SIGKILL)
            if process.returncode is None:
                process.wait()
        for stream in (self._stdout, self._stderr):
            if stream is not None:
                stream.close()
        self._stdout = self._stderr = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- control endpoints --------------------------------------------------------------------------------------

    def request_counts(self) -> dict[str, int]:
        """Requests served since start or the last reset, by ``"service:Action"`` (e.g. ``"sqs:SendMessage"``).

        Returns:
            ``{"sqs:SendMessageBatch": 3, "dynamodb:PutItem": 7, ...}``; faulted requests are included.
        """
        counts: dict[str, int] = self._call("GET", "/_sqsq/requests")
        return counts

    def reset_request_counts(self) -> None:
        """Zero the request counters."""
        self._call("POST", "/_sqsq/requests/reset")

    def set_faults(
        self, rate: float | dict[str, float], services: list[str], kinds: list[str], seed: int | None = None
    ) -> None:
        """Make a share of requests fail before they reach moto.

        Args:
            rate: share of matching requests that fail, 0.0-1.0; or a share per service, e.g.
                ``{"dynamodb": 0.4, "sqs": 0.2}`` (then ``services`` is not consulted).
            services: services whose requests may fail, e.g. ``["sqs", "dynamodb"]``.
            kinds: faults to choose from at random: ``"throttle"`` (HTTP 400 with the service's throttling
                error: SQS ``RequestThrottled``, DynamoDB ``ProvisionedThroughputExceededException`` for item
                operations and ``ThrottlingException`` otherwise), ``"500"`` (HTTP 500 internal error),
                ``"drop"`` (connection closed with no response).
            seed: seed of the choice, for a repeatable sequence; None = random.

        Raises:
            LocalServerError: the server rejected the settings (the message says why) or is not running.
        """
        self._call("POST", "/_sqsq/faults", {"rate": rate, "services": services, "kinds": kinds, "seed": seed})

    def fault_counts(self) -> dict[str, int]:
        """Faults injected since :meth:`set_faults`, by kind (``{"throttle": 3, "drop": 1}``)."""
        counts: dict[str, int] = self._call("GET", "/_sqsq/faults")
        return counts

    def clear_faults(self) -> dict[str, int]:
        """Stop injecting faults.

        Returns:
            the faults injected since :meth:`set_faults`, by kind.
        """
        counts: dict[str, int] = self._call("DELETE", "/_sqsq/faults")
        return counts

    def _call(self, method: str, path: str, payload: object = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            self.endpoint_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10.0) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise LocalServerError(f"{method} {path} failed with HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise LocalServerError(
                f"{method} {path}: the local AWS server at {self._endpoint_url} does not answer ({exc})"
            ) from exc


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


if __name__ == "__main__":
    sys.exit(main())
