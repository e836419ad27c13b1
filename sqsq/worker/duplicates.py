"""Deliveries of one task id in one worker: one at a time, each after the one before has its recorded outcome.

A task's message can be held twice by one worker: SQS delivers at least once, a producer may send a body again, and
a workflow sends some steps again on purpose (a chord member's duplicate delivery re-sends the callback while the
callback has no record: :mod:`sqsq.workflows.continuation`). Were both deliveries to start at once, the second's
claim (``claim=True`` tasks, workflow steps, redriven copies: :mod:`sqsq.executor`) would find the first one's live
lease and be deferred until that lease ends, 15 minutes for a task without a time limit, although the first one
finishes moments later in this same process. Until then the duplicate stays in flight: it is acknowledged a lease
later, and a burst worker (``--burst``) never finds its queue drained.

The gate between the FIFO group gate (:mod:`sqsq.worker.groups`) and the pool keeps them apart: a delivery whose
task id already has one submitted here waits, held (its visibility is extended like any held message's; it takes no
slot, up to ``concurrency + prefetch`` such waiters, so other tasks use the pool threads meanwhile:
:meth:`sqsq.worker.slots.Slots.unfinished`), and is submitted when the one before has its outcome, which is recorded by then
(:meth:`sqsq.worker.dispatch.Dispatcher.done`): it reads the record (:attr:`Held.behind_same_task`, even for a plain
task on its first receive, which otherwise reads none) and finds it final and is acknowledged as a duplicate, or runs
if the one before was released or retried. Deliveries of distinct task ids, and bodies that could not be decoded,
pass straight through (so does a body whose payload could not be fetched from S3 on receive). At shutdown a
waiting delivery is unstarted and is released like any other. Between two workers nothing changes: the claim's
lease decides, and the loser is deferred.

Not covered: a thread-pool run past its time limit is recorded by the watchdog and its thread runs on
(:mod:`sqsq.worker.dispatch`); when that outcome is a retry, the next delivery of its task id starts beside it. A
flood of one task id beyond ``concurrency + prefetch`` waiters takes slots again, so it holds at most twice that
many messages and the rest stay in the queue.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from sqsq.executor import Outcome
from sqsq.worker.slots import Held
from sqsq.worker.stats import WorkerStats


def task_id_of(held: Held) -> str | None:
    """The task id a held message carries, or None when its body could not be decoded."""
    return None if held.envelope is None else held.envelope.id


class DuplicateGate:
    """Per task id, at most one delivery submitted to the pool; later ones wait for its outcome, in receive order.

    Args:
        submit: hands a message to the pool (:meth:`sqsq.worker.dispatch.Dispatcher.submit`; must not block).
        stats: counts the deliveries that waited (:attr:`WorkerStats.waited_for_same_task`).
        room_changed: called (without the gate's lock) when a delivery starts waiting and so gives up its slot
            (:meth:`sqsq.worker.slots.Slots.room_changed`).
    """

    def __init__(self, submit: Callable[[Held], None], stats: WorkerStats,
                 room_changed: Callable[[], None] = lambda: None):
        self._submit = submit
        self._stats = stats
        self._room_changed = room_changed
        self._lock = threading.Lock()
        self._active: dict[str, Held] = {}
        self._waiting: dict[str, deque[Held]] = {}

    def dispatch(self, held: Held) -> None:
        """Submit ``held``, or queue it behind the delivery of its task id submitted before. Never blocks."""
        key = task_id_of(held)
        if key is not None:
            with self._lock:
                waits = key in self._active
                if waits:
                    held.behind_same_task = held.waiting_for_same_task = True
                    self._waiting.setdefault(key, deque()).append(held)
                    self._stats.waited_for_same_task += 1
                else:
                    self._active[key] = held
            if waits:
                self._room_changed()
                return
        self._submit(held)

    def finished(self, held: Held, outcome: Outcome) -> None:
        """``held`` has its outcome (recorded): submit the next delivery of its task id, if one waits."""
        key = task_id_of(held)
        if key is None:
            return
        with self._lock:
            if self._active.get(key) is not held:
                return
            waiting = self._waiting.get(key)
            if not waiting:
                del self._active[key]
                return
            nxt = waiting.popleft()
            if not waiting:
                del self._waiting[key]
            self._active[key] = nxt
            nxt.waiting_for_same_task = False  # it takes its slot again (the receiver may briefly hold one more)
        self._submit(nxt)

    def waiting(self) -> int:
        """Deliveries waiting behind another delivery of their task id."""
        with self._lock:
            return sum(len(w) for w in self._waiting.values())
