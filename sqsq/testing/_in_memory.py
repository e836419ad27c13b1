"""In-memory mode: a real :class:`sqsq.worker.Worker` on the in-memory twins of SQS and DynamoDB.

Sends are enqueued, not run; :meth:`InMemoryEnv.drain` runs a worker in burst mode until every queue is empty
(or a worker in the background with :meth:`InMemoryEnv.running`). Everything a worker does happens: receive counts,
visibility heartbeats, retries as visibility changes, dead letters moved by the worker with their FAILURE
recorded, and SQS's redrive policy on the receive past maxReceiveCount.

Time is the one thing compressed: the queues' VisibilityTimeout is 1 s, and (unless ``real_delays=True``) no
message waits longer than that to become visible again: a ``delay_seconds`` at send, a backoff or a
``Retry(delay_seconds=...)`` is shortened to it. Heartbeats never exceed it, so they are unaffected.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace

from sqsq.app import App
from sqsq.errors import SqsqError
from sqsq.results.memory import MemoryResults
from sqsq.testing._env import MemoryEnv, create_app_queues
from sqsq.transport import BatchFailure, OutgoingMessage, ReceivedMessage
from sqsq.transport.memory import MemoryTransport
from sqsq.transport.payloads import MemoryPayloadStore
from sqsq.worker import Worker, WorkerStats

IN_MEMORY_VISIBILITY_TIMEOUT_SECONDS = 1
"""VisibilityTimeout of the in-memory queues: a retry without a delay runs again after this long."""
DRAIN_POLL_SECONDS = 0.02
"""How often a receive of the in-memory mode looks again while it waits for a message to become visible."""


class DrainTimeout(SqsqError):
    """:meth:`InMemoryEnv.drain` ran out of time with messages still in the queues (or still running)."""


class InMemoryTransport(MemoryTransport):
    """The in-memory SQS twin with time compressed for tests (see the module docstring).

    Args:
        max_wait_seconds: the longest a message waits to become visible (a send's delay or a visibility change);
            ``None`` keeps every delay as asked.
    """

    def __init__(self, max_wait_seconds: int | None = IN_MEMORY_VISIBILITY_TIMEOUT_SECONDS) -> None:
        super().__init__()
        self._max_wait = max_wait_seconds

    def _cap(self, seconds: int) -> int:
        return seconds if self._max_wait is None else min(seconds, self._max_wait)

    def send_batch(self, queue_name: str, messages: Sequence[OutgoingMessage]) -> list[BatchFailure]:
        """Enqueue, with each delay shortened to ``max_wait_seconds``."""
        return super().send_batch(queue_name, [replace(m, delay_seconds=self._cap(m.delay_seconds)) for m in messages])

    def change_visibility_batch(self, queue_name: str, changes: Sequence[tuple[str, int]]) -> list[BatchFailure]:
        """Change visibility, each shortened to ``max_wait_seconds``."""
        return super().change_visibility_batch(queue_name, [(h, self._cap(s)) for h, s in changes])

    def receive(
        self, queue_name: str, max_messages: int, wait_seconds: int, visibility_timeout_seconds: int | None = None
    ) -> list[ReceivedMessage]:
        """Long-poll as the twin does, but answer at once when the queue is empty and nothing can become visible
        (nothing in flight or delayed), so a worker in burst mode stops as soon as the work is done."""
        deadline = time.monotonic() + wait_seconds
        while True:
            got = super().receive(queue_name, max_messages, 0, visibility_timeout_seconds)
            if got or time.monotonic() >= deadline:
                return got
            depth = self.depth(queue_name)
            if depth.visible == depth.in_flight == depth.delayed == 0:
                return got
            time.sleep(DRAIN_POLL_SECONDS)


class InMemoryEnv(MemoryEnv):
    """What :func:`in_memory` yields: the app's queues, DLQs and results in memory, and a worker to run them.

    Attributes:
        transport: the :class:`InMemoryTransport` the app sends through inside the block.
    """

    transport: InMemoryTransport

    def _worker(self, queues: Sequence[str] | None, concurrency: int, burst: bool) -> Worker:
        return Worker(
            self.app, queues, concurrency=concurrency, burst=burst, wait_time_seconds=1, shutdown_grace_seconds=5,
            dlq_sweep_interval_seconds=0,  # dead letters stay as the run left them, for the test to look at
        )

    def drain(
        self, *, timeout_seconds: float = 30.0, queues: Sequence[str] | None = None, concurrency: int = 4
    ) -> WorkerStats:
        """Run a worker (``sqsq worker --burst``) until every queue is empty and nothing is held, then return.

        Tasks sent while it runs (by tasks, or by other threads) are run too. Retries run after at most the queues'
        1 s visibility timeout (see the module docstring), so a task that fails every time reaches the DLQ after
        about maxReceiveCount seconds.

        Args:
            timeout_seconds: the longest the drain may take, in seconds.
            queues: logical queues to drain; default: all of the app's.
            concurrency: tasks run at once.

        Returns:
            The worker's counters (received, succeeded, retried, dead_lettered, ...).

        Raises:
            DrainTimeout: the work was not done within ``timeout_seconds``; the message says what was left then.
                The worker is stopped first (running tasks get 5 s to finish; what it still held goes back to its
                queue).
        """
        with self.active():
            worker = self._worker(queues, concurrency, burst=True)
            left: list[str] = []

            def time_out() -> None:
                left.append(self._describe(worker.logical_queues))
                worker.stop()

            timer = threading.Timer(timeout_seconds, time_out)
            timer.daemon = True
            timer.start()
            try:
                worker.run()
            finally:
                timer.cancel()
        if left:
            raise DrainTimeout(
                f"the queues were not drained within {timeout_seconds} s ({left[0]}); a task that does not return, "
                "or tasks that keep sending tasks? Give a larger timeout_seconds if the work is only slow"
            )
        return worker.stats

    def _describe(self, queues: Sequence[str]) -> str:
        parts = []
        for q in queues:
            d = self.depth(q)
            parts.append(f"{q}: {d.visible} visible, {d.in_flight} in flight, {d.delayed} delayed")
        return "; ".join(parts)

    @contextlib.contextmanager
    def running(self, *, queues: Sequence[str] | None = None, concurrency: int = 4) -> Iterator[Worker]:
        """Run a worker in a background thread for the block (for code that sends and then waits on ``get()``).

        The worker is stopped at the end of the block (running tasks get 5 s to finish) and joined.

        Args:
            queues: logical queues to consume; default: all of the app's.
            concurrency: tasks run at once.

        Yields:
            The running :class:`sqsq.worker.Worker` (``.stats``).
        """
        with self.active():
            worker = self._worker(queues, concurrency, burst=False)
            thread = threading.Thread(target=worker.run, name="sqsq-testing-worker", daemon=True)
            thread.start()
            try:
                yield worker
            finally:
                worker.stop()
                thread.join(timeout=30)


@contextlib.contextmanager
def in_memory(
    app: App,
    *,
    max_receive_count: int | None = None,
    real_delays: bool = False,
    payloads: MemoryPayloadStore | None = None,
) -> Iterator[InMemoryEnv]:
    """Send the app's tasks to in-memory queues (each with its DLQ) and record to an in-memory results store.

    Nothing runs until :meth:`InMemoryEnv.drain` (or inside :meth:`InMemoryEnv.running`), which run a real
    :class:`sqsq.worker.Worker`. On exit the app's own configuration is back (:meth:`App.using`).

    Args:
        app: the app under test; its queues (:meth:`App.logical_queues`) are created as provisioned.
        max_receive_count: the queues' maxReceiveCount; default: the app's setting (``SQSQ_MAX_RECEIVE_COUNT``, 5).
        real_delays: keep delays and backoffs as long as asked instead of at most 1 s.
        payloads: the payload store bodies past the queues' 1 MiB are offloaded to; default: a fresh
            :class:`sqsq.transport.payloads.MemoryPayloadStore` (``env.payloads``; never S3, whatever
            ``SQSQ_PAYLOAD_BUCKET`` says). Sends delayed past 900 s are kept in ``env.scheduler`` (never fired).

    Yields:
        An :class:`InMemoryEnv` (``drain()``, ``running()``, ``dead_letters()``, ``record()``, ``depth()``).

    Raises:
        ConfigError: the app's settings are invalid (they name the queues).

    Example:
        >>> with sqsq.testing.in_memory(app) as env:      # doctest: +SKIP
        ...     h = sqsq.send(add, {"x": 1, "y": 2})
        ...     env.drain()
        ...     assert h.get() == 3
    """
    transport = InMemoryTransport(None if real_delays else IN_MEMORY_VISIBILITY_TIMEOUT_SECONDS)
    results = MemoryResults()
    mrc = app.settings.max_receive_count if max_receive_count is None else max_receive_count
    create_app_queues(
        app, transport, max_receive_count=mrc, visibility_timeout_seconds=IN_MEMORY_VISIBILITY_TIMEOUT_SECONDS
    )
    env = InMemoryEnv(app, transport, results, payloads)
    with env.active():
        yield env
