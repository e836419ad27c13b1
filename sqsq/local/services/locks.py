"""Locks for the local AWS's services: a shared/exclusive lock, and striped locks for many small keys."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

__all__ = ["SharedExclusiveLock", "StripedLocks"]


class SharedExclusiveLock:
    """Many holders in shared mode, or one in exclusive mode. Not reentrant.

    Writer-preferring: once an exclusive holder waits, new shared holders wait behind it, so a steady stream of
    shared holders cannot starve it.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._shared = 0
        self._exclusive = False
        self._exclusive_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock in shared mode for the ``with`` block."""
        with self._condition:
            while self._exclusive or self._exclusive_waiting:
                self._condition.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._condition:
                self._shared -= 1
                if not self._shared:
                    self._condition.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock alone for the ``with`` block."""
        with self._condition:
            self._exclusive_waiting += 1
            try:
                while self._exclusive or self._shared:
                    self._condition.wait()
            finally:
                self._exclusive_waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._condition.notify_all()


class StripedLocks:
    """A fixed set of locks; a key always maps to the same one (two keys may share one, which is only slower).

    Args:
        stripes: how many locks; more means fewer unrelated keys wait on each other.
    """

    def __init__(self, stripes: int = 256) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    def for_key(self, key: Hashable) -> threading.Lock:
        """The lock that guards ``key``."""
        return self._locks[hash(key) % len(self._locks)]
