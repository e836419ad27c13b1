"""Unit fixtures: an app on the in-memory twins (no network)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sqsq.app import App
from sqsq.results.memory import MemoryResults
from sqsq.transport.memory import MemoryTransport


@dataclass
class MemoryApp:
    app: App
    transport: MemoryTransport
    results: MemoryResults


@pytest.fixture
def mem() -> Iterator[MemoryApp]:
    """A fresh ``App("unit")`` on memory twins: queues ``default`` and ``images`` (VT 1 s, mRC 3, each with a DLQ)."""
    transport = MemoryTransport()
    results = MemoryResults()
    for q in ("default", "images"):
        transport.create_queue(f"unit-{q}-dlq")
        transport.create_queue(f"unit-{q}", visibility_timeout_seconds=1, dlq_name=f"unit-{q}-dlq", max_receive_count=3)
    app = App("unit", transport=transport, results=results, endpoint_url="http://unused.invalid")
    yield MemoryApp(app, transport, results)
