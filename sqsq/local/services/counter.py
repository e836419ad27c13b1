"""The request counter: every AWS request the local AWS receives, by ``service:Action``.

Endpoints::

    GET    /_sqsq/requests         {"sqs:SendMessageBatch": 3, "dynamodb:PutItem": 7, ...}
    GET    /_sqsq/requests/billed  {"by_action": {"sqs:SendMessageBatch": {"requests": 3, "billed_requests": 12}},
                                    "by_queue": {"shop-default": {"requests": 5, "billed_requests": 14}}}
    POST   /_sqsq/requests/reset   zero the counters

Billed requests (SQS only): SQS bills each 64 KiB chunk of a request's payload as one request
(https://aws.amazon.com/sqs/pricing/: "each 64 KB chunk of a payload is billed as 1 request"). The counter counts
``max(1, ceil(max(request bytes, response bytes) / 65536))`` per SQS request: a SendMessage(Batch) is billed by
what it sends, a ReceiveMessage by what it returns. The bytes are the HTTP bodies, so the JSON protocol's few
hundred bytes of framing are included (a slight overestimate right at a chunk boundary).

It patches nothing in moto.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from sqsq.local.services.base import AwsRequest, ControlHandler, LocalService, read_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

__all__ = ["BILLING_CHUNK_BYTES", "RequestCounter", "billed_requests", "read_billed"]

BILLING_CHUNK_BYTES = 65_536
"""SQS bills each 64 KiB chunk of a request's payload as one request."""
_QUEUE_KEY = "sqsq.counter.queue"


def billed_requests(payload_bytes: int) -> int:
    """Requests SQS bills for one request carrying ``payload_bytes`` (at least 1)."""
    return max(1, math.ceil(payload_bytes / BILLING_CHUNK_BYTES))


def _queue_of(request: AwsRequest) -> str | None:
    """The queue name of an SQS JSON-protocol request (``QueueUrl``'s last part), or None."""
    if "json" not in request.environ.get("CONTENT_TYPE", ""):
        return None
    try:
        url = json.loads(read_body(request.environ) or b"{}").get("QueueUrl")
    except (ValueError, AttributeError):
        return None
    return url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) and url else None


def read_billed(endpoint_url: str, timeout_seconds: float = 2.0) -> dict[str, Any] | None:
    """``GET /_sqsq/requests/billed`` of the local AWS at ``endpoint_url``; None when it is not one (real AWS)."""
    try:
        with urllib.request.urlopen(f"{endpoint_url.rstrip('/')}/_sqsq/requests/billed", timeout=timeout_seconds) as r:
            answer = json.loads(r.read())
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


class RequestCounter(LocalService):
    """Counts AWS requests by ``service:Action``; faulted requests too (it runs before the fault injector)."""

    name: ClassVar[str] = "counter"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._billed: dict[str, Counter[str]] = {"by_action": Counter(), "by_queue": Counter(), "queue_requests": Counter()}

    def on_request(self, request: AwsRequest, start_response: StartResponse) -> Iterable[bytes] | None:
        """Count the request; always lets it through."""
        with self._lock:
            self._counts[request.key] += 1
        if request.service == "sqs":
            request.environ[_QUEUE_KEY] = _queue_of(request)
        return None

    def on_response(self, request: AwsRequest, response_bytes: int) -> None:
        """Count what an SQS request is billed (see the module docstring)."""
        if request.service != "sqs":
            return
        try:
            request_bytes = int(request.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            request_bytes = 0
        billed = billed_requests(max(request_bytes, response_bytes))
        queue = request.environ.get(_QUEUE_KEY)
        with self._lock:
            self._billed["by_action"][request.key] += billed
            if queue:
                self._billed["by_queue"][queue] += billed
                self._billed["queue_requests"][queue] += 1

    def endpoints(self) -> Mapping[tuple[str, str], ControlHandler]:
        """``GET /_sqsq/requests``, ``GET /_sqsq/requests/billed`` and ``POST /_sqsq/requests/reset``."""
        return {
            ("GET", "/_sqsq/requests"): self._get,
            ("GET", "/_sqsq/requests/billed"): self._get_billed,
            ("POST", "/_sqsq/requests/reset"): self._reset,
        }

    def _get(self, body: bytes) -> tuple[str, Any]:
        with self._lock:
            return "200 OK", dict(sorted(self._counts.items()))

    def _get_billed(self, body: bytes) -> tuple[str, Any]:
        with self._lock:
            by_action = {k: {"requests": self._counts[k], "billed_requests": v}
                         for k, v in sorted(self._billed["by_action"].items())}
            by_queue = {q: {"requests": self._billed["queue_requests"][q], "billed_requests": v}
                        for q, v in sorted(self._billed["by_queue"].items())}
        return "200 OK", {"by_action": by_action, "by_queue": by_queue}

    def _reset(self, body: bytes) -> tuple[str, Any]:
        with self._lock:
            self._counts.clear()
            for counter in self._billed.values():
                counter.clear()
        return "200 OK", {}
