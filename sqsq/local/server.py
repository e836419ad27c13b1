"""The embedded local AWS: moto's server, with sqsq's services (patched SQS and DynamoDB, counter, faults).

:func:`serve` runs moto's app for all services on ``127.0.0.1`` behind
:class:`~sqsq.local.middleware.AwsRequestMiddleware`, which composes the services of :mod:`sqsq.local.services`:

* :mod:`sqsq.local.services.sqs`: moto's SQS, safe under concurrent consumers and fast at depth;
* :mod:`sqsq.local.services.dynamodb`: moto's DynamoDB, locked per table and per item;
* :mod:`sqsq.local.services.counter`: requests counted by ``service:Action``;
* :mod:`sqsq.local.services.faults`: throttles, 500s and dropped connections on demand;
* :mod:`sqsq.local.services.dispatch`: moto's dispatch without the lookups it repeats per request.

Connections are kept open between requests (HTTP/1.1 keep-alive, :mod:`sqsq.local.keepalive`), as AWS's are;
``patched=False`` serves with werkzeug's handler, which closes each one. ``python bench/ddb_server.py`` prints the
server's CPU per request against moto's own ``moto_server``.

Each service that patches moto names the moto version it was written for; the server refuses to start
(:class:`sqsq.errors.MotoVersionMismatch`) when another is installed. :class:`LocalAwsServer`
(:mod:`sqsq.local.process`) runs :func:`serve` in a child process for tests, the CLI and the demo.

Run it by hand::

    python -m sqsq.local.server --host 127.0.0.1 --port 4566

Extra endpoints (answered by the middleware, never forwarded to moto)::

    GET    /_sqsq/requests         {"sqs:SendMessageBatch": 3, "dynamodb:PutItem": 7, ...}
    POST   /_sqsq/requests/reset   zero the counters
    POST   /_sqsq/faults           {"rate": 0.2, "services": ["sqs"], "kinds": ["throttle", "500", "drop"], "seed": 1}
    GET    /_sqsq/faults           {"throttle": n, "500": n, "drop": n}  (faults injected so far)
    DELETE /_sqsq/faults           stop injecting; answers the final counts
    POST   /_sqsq/clock            {"advance_seconds": N}: move SQS delays and the scheduler's clock forward
    GET    /_sqsq/clock            {"offset_seconds": ..., "now": epoch seconds}
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

from sqsq.errors import ConfigError
from sqsq.extras import require
from sqsq.local.middleware import AwsRequestMiddleware
from sqsq.local.process import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    LOCAL_CREDENTIALS,
    READY_LINE_PREFIX,
    LocalAwsServer,
)
from sqsq.local.services import FAULT_KINDS, LocalService, apply_patches, default_services
from sqsq.local.services.moto_version import check_moto_version

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "FAULT_KINDS",
    "LOCAL_CREDENTIALS",
    "READY_LINE_PREFIX",
    "AwsRequestMiddleware",
    "LocalAwsServer",
    "apply_patches",
    "build_app",
    "serve",
]


def build_app() -> AwsRequestMiddleware:
    """moto's server app for all services, patched, behind :class:`AwsRequestMiddleware` with the default services.

    Returns:
        the WSGI application :func:`serve` runs.

    Raises:
        MotoVersionMismatch: the installed moto is not the one the patches were written for; nothing is patched.
    """
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )

    services = default_services()
    apply_patches(services)
    return AwsRequestMiddleware(DomainDispatcherApplication(create_backend_app), services)


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
        MotoVersionMismatch: ``patched`` and the installed moto is not the one the patches were written for.

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
    services: list[LocalService] = default_services() if patched else []
    if patched:
        apply_patches(services)
        app: WSGIApplication = AwsRequestMiddleware(DomainDispatcherApplication(create_backend_app), services)
    else:
        app = AwsRequestMiddleware(DomainDispatcherApplication(create_backend_app))  # counter and faults only
    handler: type[MotoRequestHandler] = MotoRequestHandler
    if patched:
        from sqsq.local.keepalive import keep_alive_handler

        handler = keep_alive_handler()  # HTTP/1.1 keep-alive, as AWS's endpoints
    server = make_server(host, port, app, threaded=True, request_handler=handler)
    real_port = server.server_port
    # moto builds some URLs (S3, SQS QueueUrl fallbacks) from MOTO_PORT
    os.environ["MOTO_PORT"] = str(real_port)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, which runs in this (main) thread: ask from another
        threading.Thread(target=server.shutdown, name="sqsq-local-shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for service in services:
        service.start()  # background work (the local scheduler's firing loop) lives and dies with the server
    print(f"{READY_LINE_PREFIX}http://{host}:{real_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        for service in services:
            service.stop()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m sqsq.local.server``.

    Args:
        argv: command-line arguments; default ``sys.argv[1:]``.

    Returns:
        the process exit code: 0 after a clean stop; 3 when moto's server is not installed or is not the version
        the patches were written for (one line on stderr).
    """
    parser = argparse.ArgumentParser(prog="python -m sqsq.local.server", description="sqsq's local AWS (moto)")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port, 0 = any free port (default 4566)")
    parser.add_argument("--no-patches", action="store_true", help="run moto unpatched (for measurements only)")
    args = parser.parse_args(argv)
    try:
        require("python -m sqsq.local.server", "moto")
        if not args.no_patches:
            check_moto_version(default_services())
    except ConfigError as exc:  # MissingExtra, MotoVersionMismatch
        print(f"error: {exc}", file=sys.stderr)
        return 3
    serve(args.host, args.port, patched=not args.no_patches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
