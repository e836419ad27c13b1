"""A local Lambda Runtime API (version 2018-06-01) for one function process.

The runtime interface client in the function process (``awslambdaric``) talks to it exactly as it talks to
Lambda's (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):

============================================================  ===============================================
``GET  /2018-06-01/runtime/invocation/next``                    blocks until :meth:`RuntimeApiServer.submit`
                                                                hands it an invocation; body = the event JSON;
                                                                headers ``Lambda-Runtime-Aws-Request-Id``,
                                                                ``-Deadline-Ms``, ``-Invoked-Function-Arn``,
                                                                ``-Trace-Id``
``POST /2018-06-01/runtime/invocation/{id}/response``           the handler's return value (202)
``POST /2018-06-01/runtime/invocation/{id}/error``              the handler raised (202; errorType in the body
                                                                and ``Lambda-Runtime-Function-Error-Type``)
``POST /2018-06-01/runtime/init/error``                         the handler could not be loaded (202)
============================================================  ===============================================

One server serves one process (its own ephemeral port on 127.0.0.1), so there is at most one invocation in flight
and no routing by function. The server only records what the runtime says; timeouts and process lifetimes are the
caller's (:mod:`sqsq.local.lambda_runtime.process`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("sqsq.local.lambda_runtime")

API_PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


@dataclass(frozen=True)
class Invocation:
    """One invocation handed to the runtime.

    Attributes:
        request_id: Lambda-Runtime-Aws-Request-Id.
        event: the JSON-serialisable event.
        deadline_epoch_seconds: when the invocation times out (wall clock; sent as milliseconds, as Lambda does).
        function_arn: Lambda-Runtime-Invoked-Function-Arn.
    """

    request_id: str
    event: Any
    deadline_epoch_seconds: float
    function_arn: str


@dataclass(frozen=True)
class RuntimeReport:
    """What the runtime posted for an invocation or for its init.

    Attributes:
        kind: ``"response"``, ``"error"`` or ``"init_error"``.
        payload: the posted JSON (the raw text when it is not JSON).
        error_type: errorType (the error header, else the body's ``errorType``); None for a response.
    """

    kind: str
    payload: Any
    error_type: str | None = None


class RuntimeApiServer:
    """The Runtime API for one function process, on 127.0.0.1 and a free port.

    Args:
        name: used in thread names and logs.

    Example:
        >>> api = RuntimeApiServer("ConsumerFunction")
        >>> address = api.start()  # doctest: +SKIP  ("127.0.0.1:PORT": AWS_LAMBDA_RUNTIME_API)
    """

    def __init__(self, name: str):
        self.name = name
        self._cond = threading.Condition()
        self._pending: Invocation | None = None
        self._waiting_for_next = False
        self._reports: dict[str, RuntimeReport] = {}
        self._init_error: RuntimeReport | None = None
        self._closed = False
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Listen and serve in a daemon thread. Returns ``"127.0.0.1:PORT"`` (the value of AWS_LAMBDA_RUNTIME_API)."""
        server = self

        class Handler(_Handler):
            api = server

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name=f"sqsq-runtime-api-{self.name}", daemon=True
        )
        self._thread.start()
        return f"127.0.0.1:{httpd.server_address[1]}"

    def close(self) -> None:
        """Stop serving; a runtime still blocked in ``next`` gets a 500 (its process should be gone already)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        with self._cond:  # two closes at once (a second Ctrl-C) must not both shut the server down
            httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    # -- the caller's side ------------------------------------------------------------------------------------

    def wait_for_runtime(self, timeout_seconds: float) -> str | None:
        """Wait until the runtime asks for an invocation (``"ready"``) or reports an init error (``"init_error"``).

        Returns:
            ``"ready"``, ``"init_error"``, or None when neither happened within ``timeout_seconds``.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._waiting_for_next or self._init_error is not None, timeout_seconds)
            if self._init_error is not None:
                return "init_error"
            return "ready" if self._waiting_for_next else None

    @property
    def init_error(self) -> RuntimeReport | None:
        """The init error the runtime posted, if any."""
        return self._init_error

    def submit(self, event: Any, timeout_seconds: float, function_arn: str) -> Invocation:
        """Hand an event to the runtime's (current or next) ``GET next``.

        Args:
            event: the event, JSON-serialisable.
            timeout_seconds: the function's Timeout; the deadline header is now + this.
            function_arn: the invoked function's ARN.

        Raises:
            RuntimeError: an invocation is already pending (one process runs one invocation at a time).
        """
        invocation = Invocation(str(uuid.uuid4()), event, time.time() + timeout_seconds, function_arn)
        with self._cond:
            if self._pending is not None:
                raise RuntimeError(f"runtime API {self.name}: an invocation is already pending")
            self._pending = invocation
            self._cond.notify_all()
        return invocation

    def wait_for_report(self, request_id: str, timeout_seconds: float) -> RuntimeReport | None:
        """The runtime's response or error for ``request_id``, or None if none came within ``timeout_seconds``."""
        with self._cond:
            self._cond.wait_for(lambda: request_id in self._reports or self._init_error is not None, timeout_seconds)
            if request_id in self._reports:
                return self._reports.pop(request_id)
            return None

    # -- the runtime's side (called by the request handler) ----------------------------------------------------

    def _next(self) -> Invocation | None:
        with self._cond:
            self._waiting_for_next = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._pending is not None or self._closed)
            invocation, self._pending = self._pending, None
            self._waiting_for_next = False
            return invocation

    def _report(self, request_id: str | None, report: RuntimeReport) -> None:
        with self._cond:
            if request_id is None:
                self._init_error = report
            else:
                self._reports[request_id] = report
            self._cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    api: RuntimeApiServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("runtime API %s: " + format, self.api.name, *args)

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the runtime's process is gone (killed, or stopped with the pool)
            log.debug("runtime API %s: the runtime disconnected before its %d reply", self.api.name, status)

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            self._reply(404, b'{"errorType": "NotFound"}')
            return
        invocation = self.api._next()
        if invocation is None:
            self._reply(500, b'{"errorType": "Runtime.Shutdown"}')
            return
        self._reply(200, json.dumps(invocation.event).encode(), {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(invocation.deadline_epoch_seconds * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
            "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
        })

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            payload: Any = json.loads(body) if body else None
        except ValueError:
            payload = body.decode("utf-8", "replace")
        parts = self.path.removeprefix(API_PREFIX).strip("/").split("/")
        error_type = self.headers.get(ERROR_TYPE_HEADER) or (
            payload.get("errorType") if isinstance(payload, dict) else None
        )
        if parts == ["init", "error"]:
            self.api._report(None, RuntimeReport("init_error", payload, error_type or "Runtime.Unknown"))
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            kind = parts[2]
            self.api._report(parts[1], RuntimeReport(kind, payload, error_type if kind == "error" else None))
        else:
            self._reply(404, b'{"errorType": "NotFound"}')
            return
        self._reply(202, b'{"status": "OK"}')
