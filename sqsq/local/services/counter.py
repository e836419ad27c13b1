"""The request counter: every AWS request the local AWS receives, by ``service:Action``.

Endpoints::

    GET    /_sqsq/requests         {"sqs:SendMessageBatch": 3, "dynamodb:PutItem": 7, ...}
    POST   /_sqsq/requests/reset   zero the counters

It patches nothing in moto.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from sqsq.local.services.base import AwsRequest, ControlHandler, LocalService

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

__all__ = ["RequestCounter"]


class RequestCounter(LocalService):
    """Counts AWS requests by ``service:Action``; faulted requests too (it runs before the fault injector)."""

    name: ClassVar[str] = "counter"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def on_request(self, request: AwsRequest, start_response: StartResponse) -> Iterable[bytes] | None:
        """Count the request; always lets it through."""
        with self._lock:
            self._counts[request.key] += 1
        return None

    def endpoints(self) -> Mapping[tuple[str, str], ControlHandler]:
        """``GET /_sqsq/requests`` and ``POST /_sqsq/requests/reset``."""
        return {("GET", "/_sqsq/requests"): self._get, ("POST", "/_sqsq/requests/reset"): self._reset}

    def _get(self, body: bytes) -> tuple[str, Any]:
        with self._lock:
            return "200 OK", dict(sorted(self._counts.items()))

    def _reset(self, body: bytes) -> tuple[str, Any]:
        with self._lock:
            self._counts.clear()
        return "200 OK", {}
