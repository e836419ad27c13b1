"""The pool threads' work queue: messages to run, put one at a time or a received batch at once.

A :class:`queue.Queue` wakes a waiting thread on every put. The receiver hands over up to 10 messages per
ReceiveMessage; put one by one, each put is a lock round and, while threads are idle, a wake-up that the woken
thread then spends waiting for the GIL the receiver still holds. :meth:`WorkQueue.put_all` (and what a thread puts
within :meth:`WorkQueue.gathered`) puts the batch in one lock round and wakes at most as many idle threads as it
brought items, none of those already woken; a thread that finishes a task takes the next item without any wake-up.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

_T = TypeVar("_T")


class WorkQueue(Generic[_T]):
    """A FIFO of work items for a set of threads (:meth:`get` blocks; :meth:`put` and :meth:`put_all` never do)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[_T] = deque()
        self._idle = 0  # threads waiting in get()
        self._woken = 0  # 1 while one of those is notified and not yet back (at most one at a time)
        self._gathering = threading.local()  # .batch: what this thread puts within gathered()

    def put(self, item: _T) -> None:
        """Add one item (within :meth:`gathered` on this thread: at its end); wake an idle thread for it."""
        batch: list[_T] | None = getattr(self._gathering, "batch", None)
        if batch is not None:
            batch.append(item)
        else:
            self.put_all((item,))

    def put_all(self, items: Sequence[_T]) -> None:
        """Add ``items`` in order with one lock round; wake one idle thread unless one is already woken (each thread
        that takes an item wakes the next while items remain, so up to ``len(items)`` threads wake in turn)."""
        if not items:
            return
        with self._cond:
            self._items.extend(items)
            self._wake_one()

    def _wake_one(self) -> None:
        if self._items and not self._woken and self._idle:
            self._woken = 1
            self._cond.notify()

    @contextmanager
    def gathered(self) -> Iterator[None]:
        """Within it, what this thread puts is kept and put at once on exit (:meth:`put_all`), also on an error."""
        batch: list[_T] = []
        self._gathering.batch = batch
        try:
            yield
        finally:
            self._gathering.batch = None
            self.put_all(batch)

    def get(self) -> _T:
        """The oldest item, waiting for one."""
        with self._cond:
            while not self._items:
                self._idle += 1
                try:
                    self._cond.wait()
                finally:
                    self._idle -= 1
                    self._woken = max(0, self._woken - 1)
            item = self._items.popleft()
            self._wake_one()
            return item
