"""The slots: the messages a worker holds (received, not yet acknowledged) and who may start running.

At most ``concurrency + prefetch`` held messages are *unfinished* (waiting or running); a finished message waiting
for its batched delete no longer takes a slot (its outcome is durable), nor does one whose task ran and whose
outcome's write was handed to the writer pool (:mod:`sqsq.worker.writers`, which bounds those on its own), nor, up
to ``concurrency + prefetch`` of them, a delivery waiting behind another delivery of its task id
(:mod:`sqsq.worker.duplicates`): it cannot run before that one ends, so its slot would leave a pool thread idle. One
condition variable guards the lot, and every part of the worker waits on it: the receiver for room, the pool for its
turn, shutdown for running tasks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqsq.executor import Ack, DeadLetter, Outcome, Prepared
from sqsq.message import Envelope
from sqsq.transport import QueueInfo, ReceivedMessage

START_WAIT_TICK_SECONDS = 0.1
"""How often a message waiting for its turn to run alone looks again (it is also woken on every change)."""


@dataclass(eq=False)
class Held:
    """One received message, from its receive until it is acknowledged, released or forgotten.

    Attributes:
        message: as received (``receipt_handle`` there is the first one; :attr:`receipt_handle` is the newest).
        info: its queue's attributes.
        receipt_handle: the newest receipt handle (a lapsed message received again gets a new one).
        received_at: monotonic seconds of the receive.
        visible_until: monotonic seconds when it becomes visible again unless extended.
        envelope: the decoded body (decoded once, on the receiver), or None when it did not decode (the executor
            records why).
        time_limit_seconds: its task's time limit, or None.
    """

    message: ReceivedMessage
    info: QueueInfo
    receipt_handle: str
    received_at: float
    visible_until: float
    envelope: Envelope | None = None
    time_limit_seconds: float | None = None
    started_at: float | None = None
    finished: bool = False
    released: bool = False
    outcome: Outcome | None = None
    child_died: bool = False
    prepared: Prepared | None = None
    """Set while its task body runs on a pool thread (the time-limit watchdog finishes it from there)."""
    finishing: bool = False
    """Its thread is recording the outcome: the watchdog keeps off."""
    timed_out: bool = False
    """The watchdog recorded TimeLimitExceeded: the thread's late outcome is discarded."""
    counted: bool = False
    """Counted among the pool runs in progress (for running last-receive messages alone)."""
    writing: bool = False
    """Its task ran and the writer pool makes its outcome's write: it takes no slot (:meth:`Slots.hand_off`)."""
    behind_same_task: bool = False
    """It waited behind another delivery of its task id (:mod:`sqsq.worker.duplicates`): its record is read first."""
    waiting_for_same_task: bool = False
    """It waits now behind another delivery of its task id: up to ``size`` such waiters take no slot."""
    acknowledged: bool = False
    """Deleted because it succeeded (not moved or rescued): its offloaded payload is deleted with it."""

    @property
    def running(self) -> bool:
        """Started and neither finished nor released."""
        return self.started_at is not None and not self.finished and not self.released

    @property
    def absorbs_redelivery(self) -> bool:
        """True while a new receive of this message is a lapse to absorb, not a delivery to run.

        That is while it waits, runs, or waits for its delete. Once its outcome put it back in the queue (a retry
        or release by visibility change), a new receive is the next attempt and must run.
        """
        return not self.released and (self.outcome is None or isinstance(self.outcome, Ack | DeadLetter))


class Slots:
    """The held messages by SQS message id, the room left, and the rule that a last receive runs alone.

    Args:
        size: unfinished messages held at most (``concurrency + prefetch``), >= 1.
        stopping: set when the worker stops; nothing starts once it is set.
    """

    def __init__(self, size: int, stopping: threading.Event):
        self.size = size
        self.cond = threading.Condition()
        self.held: dict[str, Held] = {}
        self._stopping = stopping
        self._running = 0  # pool runs in progress
        self._exclusive_waiting = 0  # last-receive messages waiting to run alone
        self._exclusive_running = False
        self._start_waiting = 0  # pool threads waiting in start() for their turn
        self._room_waiting = 0  # receivers waiting in wait_for_room()
        self._room_wanted = 0  # the free slots they wait for (the most any of them asked for)

    def unfinished(self) -> int:
        """Held messages that still take a slot: waiting or running, and the waiters behind a delivery of their own
        task id past the first ``size`` of them (so a flood of one task id holds at most twice ``size``). Caller
        holds :attr:`cond`."""
        taking, waiters = 0, 0
        for h in self.held.values():
            if h.finished or h.released or h.writing:
                continue
            if h.waiting_for_same_task:
                waiters += 1
            else:
                taking += 1
        return taking + max(0, waiters - self.size)

    def room_changed(self) -> None:
        """Wake whoever waits for room (a held message stopped taking a slot)."""
        with self.cond:
            self._wake()

    def _wake(self) -> None:
        """Wake the waiters who can go on now (caller holds :attr:`cond`): a pool thread waiting for its turn, and a
        receiver only once the room it waits for is free. Each finished message used to wake the receiver, which
        found one slot free of the 10 it waits for and slept again: a thread switch per message for nothing. The
        waits keep their timeouts, so a wake-up missed here costs time, never a message."""
        if self._start_waiting or self._stopping.is_set():
            self.cond.notify_all()
        elif self._room_waiting and self.size - self.unfinished() >= self._room_wanted:
            self.cond.notify_all()

    def wait_for_room(self, want: int) -> int:
        """Block until ``want`` slots are free (or stopping); returns the free slots."""
        with self.cond:
            while self.size - self.unfinished() < want and not self._stopping.is_set():
                self._room_waiting += 1
                self._room_wanted = max(self._room_wanted, want)
                try:
                    self.cond.wait(0.5)
                finally:
                    self._room_waiting -= 1
                    if not self._room_waiting:
                        self._room_wanted = 0
            return self.size - self.unfinished()

    def forget(self, held: Held) -> None:
        """Drop ``held`` (acknowledged, released or left to come back) and wake whoever waits for room."""
        self.forget_all((held,))

    def forget_all(self, helds: Iterable[Held]) -> None:
        """Drop each of ``helds`` (a batch acknowledged together) with one wake-up of whoever waits for room."""
        with self.cond:
            for held in helds:
                if self.held.get(held.message.message_id) is held:
                    del self.held[held.message.message_id]
            self._wake()

    def start(self, held: Held, *, exclusive: bool, isolate: bool = True) -> bool:
        """Mark ``held`` started unless stopping or released. False: do not run it.

        A message on its last receive runs alone (``exclusive``; pool runs, not the event loop's, which pass
        ``isolate=False``): it waits until nothing else runs here, and nothing else starts until it is done. So if
        this worker dies during that run, the ConsumerDied marker it left (:mod:`sqsq.executor`) blames the one task
        that was running, not innocent neighbours that happened to share the process with a poison task.
        """
        exclusive = isolate and exclusive
        with self.cond:
            if exclusive:
                self._exclusive_waiting += 1
            try:
                while True:
                    # Checked under the lock shutdown uses to pick unstarted messages, so a message is either
                    # released or run, never both.
                    if self._stopping.is_set() or held.released:
                        return False
                    if exclusive and self._running == 0:
                        break
                    if not exclusive and not (isolate and (self._exclusive_waiting or self._exclusive_running)):
                        break
                    self._start_waiting += 1
                    try:
                        self.cond.wait(START_WAIT_TICK_SECONDS)
                    finally:
                        self._start_waiting -= 1
            finally:
                if exclusive:
                    self._exclusive_waiting -= 1
            held.started_at = time.monotonic()
            if isolate:
                held.counted = True
                self._running += 1
                self._exclusive_running = self._exclusive_running or exclusive
            return True

    def hand_off(self, held: Held) -> None:
        """``held``'s task ran and its outcome's write was handed to the writer pool: free its slot and end its run,
        and wake the waiters (a last-receive run is never handed off: it runs alone until its outcome is recorded).
        It stays held (and :attr:`Held.running`, so shutdown waits for the write) until :meth:`finish`."""
        with self.cond:
            held.writing = True
            self._end_run(held)
            self._wake()

    def _end_run(self, held: Held) -> None:
        if held.counted:
            held.counted = False
            self._running -= 1
            if self._running == 0:
                self._exclusive_running = False

    def finish(self, held: Held) -> None:
        """Mark ``held`` finished (its outcome was handed to the acknowledger) and wake the waiters."""
        with self.cond:
            held.finished = True
            self._end_run(held)
            self._wake()

    def take_unstarted(self) -> list[Held]:
        """Mark every held message not yet started as released and return them (to give back to the queue)."""
        with self.cond:
            unstarted = [h for h in self.held.values() if h.started_at is None and not h.released]
            for h in unstarted:
                h.released = True
        return unstarted

    def take_running(self) -> list[Held]:
        """Mark every running message as released and return them (their tasks ran past the grace period)."""
        with self.cond:
            still = [h for h in self.held.values() if h.running]
            for h in still:
                h.released = True
        return still

    def any_running(self) -> bool:
        """Whether a task is running."""
        with self.cond:
            return any(h.running for h in self.held.values())

    def any_busy(self) -> bool:
        """Whether a task started and did not finish (released ones included: their run may go on)."""
        with self.cond:
            return any(h.started_at is not None and not h.finished for h in self.held.values())

    def empty(self) -> bool:
        """Whether nothing is held."""
        with self.cond:
            return not self.held

    def holds_from(self, queue_name: str) -> bool:
        """Whether a message of ``queue_name`` is held."""
        with self.cond:
            return any(h.message.queue_name == queue_name for h in self.held.values())
