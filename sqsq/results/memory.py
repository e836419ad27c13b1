"""In-memory twin of the results store (same forward-only rule as DynamoDB's conditional write)."""

from __future__ import annotations

import threading
import time

from sqsq.results import ResultRecord, may_overwrite


class MemoryResults:
    """:class:`sqsq.results.ResultStore` in this process's memory. Thread-safe."""

    def __init__(self) -> None:
        self._items: dict[str, ResultRecord] = {}
        self._lock = threading.Lock()
        self.writes = 0

    def put(self, record: ResultRecord) -> bool:
        """Conditional write; returns False (nothing written) when a later state is stored."""
        with self._lock:
            if not may_overwrite(self._items.get(record.task_id), record, time.time()):
                return False
            self._items[record.task_id] = record
            self.writes += 1
            return True

    def get(self, task_id: str) -> ResultRecord | None:
        """The record, or None when missing or past ``expires_at``."""
        with self._lock:
            record = self._items.get(task_id)
        if record is None or record.expires_at <= time.time():
            return None
        return record
