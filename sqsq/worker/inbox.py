"""The acknowledger's inbox: outcomes handed over by the pool, and when the acknowledger needs waking for them.

A :class:`queue.Queue` wakes its reader on every put: for no-op tasks that is one thread switch per message for an
acknowledger that only sends once it has a batch of 10 (or its oldest entry waited
:data:`sqsq.worker.acknowledger.ACK_FLUSH_SECONDS`). :class:`OutcomeInbox` wakes it only when that can matter:

- the first outcome while the acknowledger holds nothing (it starts the flush clock);
- when a new outcome brings what waits here plus what the acknowledger holds to a batch of 10 entries (10 held
  entries with nothing new is no reason to wake: those of two queues, or deletes and visibility changes, may hold
  no full batch);
- for every outcome that is not a plain :class:`sqsq.executor.Ack` (retries, releases, dead letters: a store
  failure pauses receiving, a FIFO group waits for its DLQ copy), and for :meth:`OutcomeInbox.close`.

Otherwise outcomes wait here until the acknowledger's own deadline (its flush clock or retry) wakes it. So the
batches and their flush deadline are what they were with a queue; only the wake-ups between are skipped.
"""

from __future__ import annotations

import threading

from sqsq import limits
from sqsq.executor import Ack, Outcome
from sqsq.worker.slots import Held

Item = tuple[Held, Outcome]


class OutcomeInbox:
    """Outcomes from the pool threads (:meth:`put`) for the acknowledger's thread (:meth:`take`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._items: list[Item] = []
        self._urgent = False
        self._closed = False
        self._close_told = False
        self._held = 0  # entries the acknowledger holds (told by take)

    def put(self, held: Held, outcome: Outcome) -> None:
        """Hand over one outcome (thread-safe); wakes the acknowledger only when it has something to do."""
        with self._cond:
            self._items.append((held, outcome))
            if not isinstance(outcome, Ack):
                self._urgent = True
            if self._due():
                self._cond.notify()

    def close(self) -> None:
        """No more outcomes: wake the acknowledger to flush everything."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def take(self, timeout_seconds: float, held_entries: int) -> tuple[list[Item], bool]:
        """Wait (at most ``timeout_seconds``) until there is something to do; return the outcomes and whether closed.

        Args:
            timeout_seconds: the acknowledger's next deadline (flush clock or retry), in seconds.
            held_entries: batch entries the acknowledger holds, not yet sent.

        Returns:
            ``(outcomes in the order they were put, closed)``; once closed, later calls wait for their timeout
            (the acknowledger's retries) unless an outcome is due.
        """
        with self._cond:
            self._held = held_entries
            if not self._due():
                self._cond.wait(timeout_seconds)
            items, self._items = self._items, []
            self._urgent = False
            self._close_told = self._closed
            return items, self._closed

    def _due(self) -> bool:
        if self._urgent or (self._closed and not self._close_told):
            return True
        waiting = len(self._items)
        # Only something new can change what the acknowledger sends before its deadline: with 10 entries held but
        # no full batch (two queues, or deletes and visibility changes) and nothing new, it would spin here.
        return waiting > 0 and (self._held == 0 or waiting + self._held >= limits.SQS_MAX_BATCH_ENTRIES)
