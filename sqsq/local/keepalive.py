"""The local AWS's HTTP request handler: moto's, with HTTP/1.1 keep-alive, as AWS's endpoints keep connections.

werkzeug's development server (which moto's server runs) answers every request with ``Connection: close`` and then
waits up to 10 ms for the client to hang up, so every boto3 call opens a TCP connection and the server starts a
thread for it: a third of a millisecond of CPU per request on each side, and most of a DynamoDB request's cost
on a no-op task. :class:`KeepAlive` keeps the connection open when it can tell where the request
ends, which is the case for every AWS SDK call of sqsq (a body with ``Content-Length``):

* the request body is read whole before the application sees it, so the next request starts where it ends;
* the response goes out as one write, with its ``Content-Length``;
* anything else (a chunked or ``Expect: 100-continue`` request, HEAD, ``Connection: close``, HTTP/1.0, a 1xx,
  204 or 304 answer) is served by werkzeug's own code, which closes the connection afterwards, as before.

A connection idle for :data:`IDLE_TIMEOUT_SECONDS` is closed (its thread ends); botocore reconnects on its next
call. The fault injector's dropped connections still drop: the connection is closed with no response.
"""

from __future__ import annotations

import io
import traceback
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    _Handler = MotoRequestHandler
else:
    _Handler = object  # moto is the local extra: the real base is joined in keep_alive_handler()

__all__ = ["IDLE_TIMEOUT_SECONDS", "KeepAlive", "keep_alive_handler"]

IDLE_TIMEOUT_SECONDS = 75.0
"""How long an idle kept-alive connection stays open (longer than an SQS long poll, 20 s)."""
_NO_BODY_STATUSES = frozenset({204, 304})


class KeepAlive(_Handler):
    """Keep-alive for moto's request handler, as a mixin (see the module docstring and :func:`keep_alive_handler`).

    It names no moto base at run time, so this module imports without the ``local`` extra, as all of sqsq does
    (tests/integration/test_missing_extras.py).
    """

    protocol_version: ClassVar[str] = "HTTP/1.1"  # type: ignore[misc]
    timeout: ClassVar[float] = IDLE_TIMEOUT_SECONDS
    connection_dropped_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionError, TimeoutError)
    """What werkzeug counts as a dropped connection (a module global there, not a handler attribute:
    :func:`keep_alive_handler` sets werkzeug's own tuple)."""

    def _can_keep_alive(self) -> bool:
        headers = self.headers
        if self.close_connection or self.request_version != "HTTP/1.1" or self.command == "HEAD":
            return False
        if headers.get("Transfer-Encoding") or headers.get("Expect"):
            return False
        length = headers.get("Content-Length")
        if length is None:
            return self.command in ("GET", "DELETE", "OPTIONS")
        return length.isascii() and length.isdigit()  # "²".isdigit() is True, int("²") raises

    def run_wsgi(self) -> None:
        """Serve one request; keep the connection open after it when its end is known."""
        if not self._can_keep_alive():
            self.close_connection = True
            super().run_wsgi()
            return
        environ = self.make_environ()
        length = int(self.headers.get("Content-Length") or 0)
        environ["wsgi.input"] = io.BytesIO(self.rfile.read(length) if length else b"")
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer["status"], answer["headers"] = status, headers
            return lambda data: answer.setdefault("written", []).append(data)

        try:
            iterable = self.server.app(environ, start_response)
            try:
                body = b"".join([*answer.get("written", []), *iterable])
            finally:
                close = getattr(iterable, "close", None)
                if close is not None:
                    close()
        except self.connection_dropped_errors as exc:  # a dropped connection (the fault injector's, or the client's)
            self.close_connection = True
            self.connection_dropped(exc, environ)
            return
        except Exception:  # as werkzeug does: log it, answer 500, close
            self.server.log("error", f"Error on request:\n{traceback.format_exc()}")
            self.close_connection = True  # before the answer, which then says so
            self._send(500, "INTERNAL SERVER ERROR", [("Content-Type", "text/plain")], b"Internal Server Error")
            return
        code_text, _, reason = str(answer["status"]).partition(" ")
        self._send(int(code_text), reason, answer["headers"], body)

    def _send(self, code: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        """Write the status line, headers and body in one write (two small writes would wait on delayed ACKs)."""
        self.log_request(code)
        lines = [f"{self.protocol_version} {code} {reason}", f"Server: {self.version_string()}",
                 f"Date: {self.date_time_string()}"]
        lines += [f"{key}: {value}" for key, value in headers if key.lower() not in ("content-length", "connection")]
        if code in _NO_BODY_STATUSES or code < 200:
            self.close_connection = True  # no body to delimit it: as werkzeug, close after it
            lines.append("Connection: close")
            body = b""
        else:
            lines.append(f"Content-Length: {len(body)}")
            if self.close_connection:
                lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict") + body)


@cache
def keep_alive_handler() -> type[MotoRequestHandler]:
    """moto's request handler with :class:`KeepAlive` (the class is made once).

    Raises:
        ModuleNotFoundError: moto's server is not installed (callers check with :func:`sqsq.extras.require`).
    """
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import connection_dropped_errors

    return type("KeepAliveRequestHandler", (KeepAlive, MotoRequestHandler),
                {"connection_dropped_errors": connection_dropped_errors})
