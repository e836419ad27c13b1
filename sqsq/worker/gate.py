"""The start gate: a worker's first receive is sent before its start-up ends; what it gets waits here.

A worker needs only a queue's URL to send its first ReceiveMessage (a long poll). What running a message needs is
read meanwhile, on the main thread: the queue's attributes (GetQueueAttributes: the VisibilityTimeout the
heartbeat works from, the redrive policy's maxReceiveCount the last-receive rule reads), the pool's threads, the
acknowledger and the heartbeat. Messages a receive returns before that wait at the gate, unrun, until the worker
:meth:`opens <StartGate.open>` it; when the start fails instead (:meth:`StartGate.fail`), they are made visible
again at once (ChangeMessageVisibility 0) rather than left invisible for the queue's visibility timeout.
"""

from __future__ import annotations

import threading

from sqsq.transport import QueueInfo


class StartGate:
    """Opened once per worker, with every queue's attributes, or failed (thread-safe)."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._infos: dict[str, QueueInfo] = {}

    def open(self, infos: dict[str, QueueInfo]) -> None:
        """Let the messages of the queues in ``infos`` (by logical name) run."""
        self._infos = dict(infos)
        self._done.set()

    def fail(self) -> None:
        """The start failed: nothing received may run."""
        self._done.set()

    def wait(self, logical: str) -> QueueInfo | None:
        """Block until the gate is opened or failed; the attributes of ``logical``, or None when the start failed."""
        self._done.wait()
        return self._infos.get(logical)
