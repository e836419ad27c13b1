"""In-memory twin of the results store (same forward-only rule as DynamoDB's conditional write)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from sqsq.results import ResultRecord, may_claim, may_overwrite

if TYPE_CHECKING:  # imported where a chord is counted, as in sqsq.results.dynamodb_chords
    from sqsq.results.chords import ChordState, Transition


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
        self._chords: dict[str, ChordState] = {}
        self._members: dict[str, set[int]] = {}

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

    # -- issue 13, chords (sqsq.results.chords) ---------------------------------------------------------------------

    def add_member(self, counter_id: str, member: int, expires_at: int) -> int:
        """Add ``member`` to the counter's set once; the set's size."""
        with self._lock:
            members = self._members.setdefault(counter_id, set())
            if member not in members:
                from sqsq.results.chords import ChordState

                members.add(member)
                state = self._chords.get(counter_id) or ChordState(counter_id, 0, False, False)
                self._chords[counter_id] = replace(state, done=len(members))
                self.writes += 1
            return len(members)

    def chord_state(self, counter_id: str) -> ChordState | None:
        """The counter, or None."""
        with self._lock:
            return self._chords.get(counter_id)

    def chord_transition(self, counter_id: str, flag: Transition, target: int, expires_at: int) -> bool:
        """Set ``flag`` once (see :class:`sqsq.results.chords.ChordStore`)."""
        from sqsq.results.chords import ChordState

        with self._lock:
            state = self._chords.get(counter_id) or ChordState(counter_id, 0, False, False)
            allowed = (state.done >= target and not state.fired) if flag == "fired" else not (state.fired or state.failed)
            if not allowed:
                return False
            self._chords[counter_id] = replace(state, fired=True) if flag == "fired" else replace(state, failed=True)
            self.writes += 1
            return True

    def get_many(self, task_ids: Sequence[str]) -> dict[str, ResultRecord]:
        """The live records among ``task_ids``."""
        found = {i: self.get(i) for i in task_ids}
        return {i: r for i, r in found.items() if r is not None}
