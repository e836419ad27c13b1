"""The fault injector: makes a share of AWS requests fail before they reach moto.

Endpoints::

    POST   /_sqsq/faults   {"rate": 0.2, "services": ["sqs"], "kinds": ["throttle", "500", "drop"], "seed": 1}
    GET    /_sqsq/faults   {"throttle": n, "500": n, "drop": n}  (faults injected so far)
    DELETE /_sqsq/faults   stop injecting; answers the final counts

A fault is a throttling error (HTTP 400 with the service's code), an internal error (HTTP 500) or a dropped
connection, each shaped so that botocore parses and retries it as it would AWS's. It patches nothing in moto.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from sqsq.local.services.base import AwsRequest, ControlHandler, LocalService, read_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["FAULT_KINDS", "FaultInjector", "FaultPlan"]

FAULT_KINDS = ("throttle", "500", "drop")
"""What :meth:`sqsq.local.server.LocalAwsServer.set_faults` can inject: a throttle, an HTTP 500, a dropped connection."""

_DYNAMODB_ITEM_ACTIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems", "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
})


def _rate(value: Any) -> float:
    """A share of requests, 0..1, from JSON; a bool is not a number here (``true`` would fail every request)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"rate must be a number from 0 to 1, got {value!r}")
    return float(value)


class FaultPlan:
    """Which requests fail, and how; guarded by the injector's lock."""

    def __init__(self, rates: dict[str, float], kinds: tuple[str, ...], seed: int | None) -> None:
        self.rates = rates
        self.kinds = kinds
        self.rng = random.Random(seed)

    @classmethod
    def from_json(cls, data: Any) -> FaultPlan:
        """The plan a ``POST /_sqsq/faults`` body asks for.

        Raises:
            TypeError: the body is not a JSON object.
            ValueError: a key, rate, kind or seed is not understood (the message says which).
        """
        if not isinstance(data, dict):
            raise TypeError("expected a JSON object")
        unknown = set(data) - {"rate", "services", "kinds", "seed"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; use rate, services, kinds, seed")
        services = data.get("services") or ["sqs", "dynamodb"]
        kinds = data.get("kinds") or list(FAULT_KINDS)
        if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
            raise ValueError("services must be a list of service names such as 'sqs', 'dynamodb'")
        if not isinstance(kinds, list):
            raise ValueError(f"kinds must be a list of fault kinds, some of {list(FAULT_KINDS)}")
        raw = data.get("rate", 0.0)  # one rate for the services, or a rate per service ({"dynamodb": 0.4})
        rates = {str(k): _rate(v) for k, v in raw.items()} if isinstance(raw, dict) else dict.fromkeys(services, _rate(raw))
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


class FaultInjector(LocalService):
    """Answers a share of AWS requests with a fault instead of passing them to moto (off until configured)."""

    name: ClassVar[str] = "faults"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan: FaultPlan | None = None
        self._counts: Counter[str] = Counter()

    def on_request(self, request: AwsRequest, start_response: StartResponse) -> Iterable[bytes] | None:
        """A fault response (or a dropped connection) when the plan picks one; None to let the request through."""
        with self._lock:
            kind = self._plan.pick(request.service) if self._plan is not None else None
            if kind is not None:
                self._counts[kind] += 1
        if kind is None:
            return None
        if kind == "drop":
            _drop_connection(request.environ)
        return _error_response(request, start_response, kind)

    def endpoints(self) -> Mapping[tuple[str, str], ControlHandler]:
        """``POST``, ``GET`` and ``DELETE /_sqsq/faults``."""
        return {
            ("POST", "/_sqsq/faults"): self._set,
            ("GET", "/_sqsq/faults"): self._get,
            ("DELETE", "/_sqsq/faults"): self._clear,
        }

    def _set(self, body: bytes) -> tuple[str, Any]:
        try:
            plan = FaultPlan.from_json(json.loads(body or b"{}"))
        except (TypeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            return "400 Bad Request", {"error": str(exc)}
        with self._lock:
            self._plan = plan
            self._counts.clear()
        return "200 OK", {}

    def _get(self, body: bytes) -> tuple[str, Any]:
        with self._lock:
            return "200 OK", dict(self._counts)

    def _clear(self, body: bytes) -> tuple[str, Any]:
        with self._lock:
            counts = dict(self._counts)
            self._plan = None
            self._counts.clear()
        return "200 OK", counts


def _drop_connection(environ: WSGIEnvironment) -> None:
    """Close the client's connection with no response: botocore sees ConnectionClosedError and retries."""
    read_body(environ)  # let the client finish sending, so it sees a closed connection, not a reset
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    # werkzeug treats a ConnectionError from the app as a dropped connection and writes nothing back
    raise ConnectionAbortedError("sqsq fault injection: connection dropped")


def _json_error(service: str, action: str, throttle: bool) -> tuple[bytes, list[tuple[str, str]]]:
    """JSON protocol: botocore takes the code from ``__type`` after '#', or for SQS (awsQueryCompatible) from
    the x-amzn-query-error header, which also maps it onto the modelled exception class."""
    headers = []
    if service == "sqs":
        code = "RequestThrottled" if throttle else "InternalError"
        type_name = f"com.amazonaws.sqs#{code}"
        headers.append(("x-amzn-query-error", f"{code};{'Sender' if throttle else 'Receiver'}"))
    elif service == "dynamodb":
        if throttle:
            code = "ProvisionedThroughputExceededException" if action in _DYNAMODB_ITEM_ACTIONS else "ThrottlingException"
        else:
            code = "InternalServerError"
        type_name = f"com.amazonaws.dynamodb.v20120810#{code}"
    else:
        type_name = "ThrottlingException" if throttle else "InternalFailure"
    message = "Rate exceeded (sqsq fault injection)" if throttle else "Internal error (sqsq fault injection)"
    headers.append(("Content-Type", "application/x-amz-json-1.0"))
    return json.dumps({"__type": type_name, "message": message}).encode(), headers


def _xml_error(throttle: bool) -> tuple[bytes, list[tuple[str, str]]]:
    """Query protocol (XML)."""
    code = "Throttling" if throttle else "InternalFailure"
    fault_type = "Sender" if throttle else "Receiver"
    body = (
        f"<ErrorResponse><Error><Type>{fault_type}</Type><Code>{code}</Code>"
        f"<Message>sqsq fault injection</Message></Error><RequestId>sqsq-fault</RequestId></ErrorResponse>"
    ).encode()
    return body, [("Content-Type", "text/xml")]


def _error_response(request: AwsRequest, start_response: StartResponse, kind: str) -> list[bytes]:
    """A throttling (HTTP 400) or internal (HTTP 500) error shaped so botocore parses the service's code."""
    throttle = kind == "throttle"
    status = "400 Bad Request" if throttle else "500 Internal Server Error"
    headers = [("x-amzn-RequestId", f"sqsq-fault-{random.getrandbits(64):016x}")]
    if request.environ.get("HTTP_X_AMZ_TARGET"):
        body, more = _json_error(request.service, request.action, throttle)
    else:
        body, more = _xml_error(throttle)
    headers += more
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]
