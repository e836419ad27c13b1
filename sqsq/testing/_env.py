"""What the eager and in-memory modes share: the app's queues on the in-memory twin, and a handle to inspect them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqsq import limits
from sqsq.app import App
from sqsq.dlq import DeadLetterQueue, DlqEntry
from sqsq.results import ResultRecord
from sqsq.results.memory import MemoryResults
from sqsq.transport import QueueDepth
from sqsq.transport.memory import MemoryTransport
from sqsq.transport.payloads import MemoryPayloadStore
from sqsq.transport.schedules import MemoryScheduler


def create_app_queues(
    app: App, transport: MemoryTransport, *, max_receive_count: int, visibility_timeout_seconds: int
) -> list[str]:
    """Create every queue the app uses on ``transport``, each with its DLQ and redrive policy, as provisioned.

    The queues are :meth:`App.logical_queues` (the tasks' queues, the declared ones and the default queue), named
    as the app names them (``"<prefix><queue>"``, DLQ ``"<prefix><queue>-dlq"``), with SQS's 1 MiB
    MaximumMessageSize as ``sqsq provision`` and ``sqsq template`` set it.

    Args:
        app: the app whose settings name the queues.
        transport: the in-memory twin to create them on (idempotent).
        max_receive_count: the redrive policy's maxReceiveCount (1-1,000).
        visibility_timeout_seconds: every queue's VisibilityTimeout.

    Returns:
        The physical names of the source queues (DLQs not listed), sorted by logical name.
    """
    names = []
    for logical in app.logical_queues():
        dlq = app.dlq_name(logical)  # a FIFO queue's DLQ ends with .fifo too
        transport.create_queue(dlq, visibility_timeout_seconds, limits.SQS_MAX_MESSAGE_SIZE_BYTES)
        name = app.queue_name(logical)
        transport.create_queue(
            name,
            visibility_timeout_seconds,
            limits.SQS_MAX_MESSAGE_SIZE_BYTES,
            dlq_name=dlq,
            max_receive_count=max_receive_count,
        )
        names.append(name)
    return names


class MemoryEnv:
    """An app's queues and results in memory, as a test sees them (base of the eager and in-memory modes).

    Its methods work inside and after the ``with`` block that made it (they use its twins, not the app's current
    backends).

    Attributes:
        app: the app under test.
        transport: the in-memory SQS twin holding the app's queues and DLQs.
        results: the in-memory results store.
        payloads: the in-memory payload store: a body past the queue's 1 MiB MaximumMessageSize is kept here as
            S3 would keep it (``payloads.objects``: ``(bucket, key) -> bytes``), so large arguments round-trip and
            nothing is written to S3, whatever ``SQSQ_PAYLOAD_BUCKET`` says.
        scheduler: the in-memory EventBridge Scheduler: a send delayed past 900 s is kept here as a one-time
            schedule (``scheduler.schedules``), never fired.
    """

    def __init__(
        self,
        app: App,
        transport: MemoryTransport,
        results: MemoryResults,
        payloads: MemoryPayloadStore | None = None,
        scheduler: MemoryScheduler | None = None,
    ) -> None:
        self.app = app
        self.transport = transport
        self.results = results
        self.payloads = MemoryPayloadStore() if payloads is None else payloads
        self.scheduler = MemoryScheduler() if scheduler is None else scheduler

    @contextlib.contextmanager
    def active(self) -> Iterator[App]:
        """The app on this env's twins (queues, results, payloads, scheduler) for the block (:meth:`App.using`)."""
        with self.app.using(
            transport=self.transport, results=self.results, payloads=self.payloads, scheduler=self.scheduler
        ) as app:
            yield app

    def queue_name(self, queue: str | None = None) -> str:
        """The physical name of a logical queue (``None``: the default queue)."""
        return self.app.queue_name(queue)

    def depth(self, queue: str | None = None) -> QueueDepth:
        """Visible, in-flight and delayed messages of a logical queue (``None``: the default queue)."""
        return self.transport.depth(self.queue_name(queue))

    def record(self, task_id: str) -> ResultRecord | None:
        """The stored result record of a task (status, result JSON, error, attempts), or ``None`` (PENDING)."""
        return self.results.get(task_id)

    def dead_letters(self, queue: str | None = None) -> list[DlqEntry]:
        """The messages in the DLQ of a logical queue, or of every queue of the app (``queue=None``), oldest first.

        Each :class:`sqsq.dlq.DlqEntry` has ``task_id``, ``task_name``, ``error_type``, ``error_message``,
        ``attempts`` and the ``envelope``; nothing is consumed (as ``sqsq dlq list`` reads them).
        """
        queues = [queue] if queue is not None else self.app.logical_queues()
        entries: list[DlqEntry] = []
        with self.active():
            for q in queues:
                entries.extend(DeadLetterQueue(self.app, q, wait_seconds=0).entries())
        return entries
