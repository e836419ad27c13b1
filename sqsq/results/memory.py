"""In-memory twin of the results store (same forward-only rule as DynamoDB's conditional write)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqsq.results import ResultRecord, may_claim, may_overwrite


class MemoryResults:
    """:class:`sqsq.results.ResultStore` in this process's memory. Thread-safe.

    Args:
        clock: epoch seconds now (default ``time.time``); tests pass a fake clock to expire leases and TTLs.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._items: dict[str, ResultRecord] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self.writes = 0
        self._revocations: dict[str, tuple[set[str], float]] = {}

    def put(self, record: ResultRecord) -> bool:
        """Conditional write; returns False (nothing written) when a later state is stored."""
        with self._lock:
            if not may_overwrite(self._items.get(record.task_id), record, self._clock()):
                return False
            self._items[record.task_id] = record
            self.writes += 1
            return True

    def get(self, task_id: str) -> ResultRecord | None:
        """The record, or None when missing or past ``expires_at``."""
        with self._lock:
            record = self._items.get(task_id)
        if record is None or record.expires_at <= self._clock():
            return None
        return record

    def claim(self, record: ResultRecord) -> ResultRecord | None:
        """Atomic conditional claim (see :func:`sqsq.results.may_claim`); returns the blocking record or None."""
        with self._lock:
            existing = self._items.get(record.task_id)
            if not may_claim(existing, record, self._clock()):
                assert existing is not None
                return existing
            self._items[record.task_id] = record
            self.writes += 1
            return None

    def add_revocation(self, key: str, task_id: str, ttl_seconds: int) -> None:
        """Add ``task_id`` to the marker ``key`` (see :mod:`sqsq.results.revocations`)."""
        with self._lock:
            ids, expires_at = self._revocations.get(key, (set(), 0.0))
            now = self._clock()
            ids = set() if expires_at <= now else ids
            ids.add(task_id)
            self._revocations[key] = (ids, now + ttl_seconds)
            self.writes += 1

    def revocations(self, key: str) -> frozenset[str]:
        """The ids in the marker ``key``; empty when missing or expired."""
        with self._lock:
            ids, expires_at = self._revocations.get(key, (set(), 0.0))
            return frozenset(ids) if expires_at > self._clock() else frozenset()
