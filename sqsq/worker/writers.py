"""The writer pool: the result writes of finished thread-pool runs, off the task threads and off the slots.

Where the write happens, and what stays ordered (issue 11, "results on >= 1.0x at 10 ms RTT"):

- A pool thread runs the task and encodes its value, then hands the one ``finish`` call of its outcome (the
  conditional write with its retries, refusal check and store-down Release: :meth:`sqsq.executor.Executor.finish`)
  to this pool and takes the next message. A writer thread makes the write, then the outcome goes to the
  acknowledger, which deletes the message: the order per message is unchanged (run -> one conditional write ->
  delete), and one write per task.
- The hand-off frees the message's slot (:meth:`sqsq.worker.slots.Slots.hand_off`), so the receiver fetches the
  next batch while writes are in flight: with the slots held until the write was done, the receiver waited for
  the writes (each one round trip, 10-30 ms on AWS) and only ``concurrency`` of them were made at once.
- This pool has its own bound instead: at most ``size`` writes accepted and not done (:meth:`WriterPool.submit`
  blocks the task thread beyond that, which keeps its slot taken, so receiving stops too). A message waiting for its
  write stays held: the heartbeat extends its visibility, shutdown waits for it within the grace period like a
  running task, and the time-limit watchdog keeps off (``Held.finishing`` is set before the hand-off).
- Claimed runs and runs on a message's last receive (which run alone, :meth:`sqsq.worker.slots.Slots.start`, until
  their outcome is recorded) finish on the task thread too (:mod:`sqsq.worker.dispatch`).
- Runs whose finish writes nothing (``ignore_result`` successes of fresh, unclaimed sends) finish on the task
  thread: a hand-off would cost more than it saves.
"""

from __future__ import annotations

import logging
import queue as queue_mod
import threading
from collections.abc import Callable

log = logging.getLogger("sqsq.worker")


class WriterPool:
    """``size`` daemon threads running accepted result writes (callables), at most ``size`` accepted at once.

    Args:
        size: threads and the most writes accepted and not done (>= 1); the worker passes ``concurrency + prefetch``.
    """

    def __init__(self, size: int):
        self.size = max(1, size)
        self._room = threading.BoundedSemaphore(self.size)
        self._jobs: queue_mod.SimpleQueue[Callable[[], None] | None] = queue_mod.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the threads (daemon: a write hanging past the shutdown grace must not keep the process alive)."""
        self._threads = [
            threading.Thread(target=self._loop, name=f"sqsq-write-{i}", daemon=True) for i in range(self.size)
        ]
        for t in self._threads:
            t.start()

    def submit(self, job: Callable[[], None], accepted: Callable[[], None] | None = None) -> None:
        """Run ``job`` on a writer thread; blocks while ``size`` writes are accepted and not done.

        Args:
            job: the write; it must handle its own errors (one that escapes is logged).
            accepted: called on this thread once the write is accepted, before it can start (frees the slot).
        """
        self._room.acquire()
        if accepted is not None:
            accepted()
        self._jobs.put(job)

    def close(self) -> None:
        """End the threads once the writes accepted before this call are done (does not wait)."""
        for _ in self._threads:
            self._jobs.put(None)

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except BaseException:  # never lose a writer thread
                log.exception("unexpected error writing a task's outcome")
            finally:
                self._room.release()
