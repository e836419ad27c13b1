"""In-memory twin of the SQS transport, for fast unit tests.

It models what sqsq's semantics depend on, held to the same contract tests as SQS: visibility timeouts,
ApproximateReceiveCount, per-message delay, long polling, MaximumMessageSize, and redrive to a dead-letter queue
on the receive that would exceed maxReceiveCount. Not modelled: FIFO (a MessageGroupId is stored and returned, no
more), message retention, purge's 60 s rule.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqsq import limits
from sqsq.errors import AwsError, QueueNotFound
from sqsq.message import body_size_bytes
from sqsq.transport import QueueInfo, ReceivedMessage

if TYPE_CHECKING:  # imported where used, as in sqsq.transport.sqs
    from sqsq.transport.depth import QueueDepth
    from sqsq.transport.outgoing import BatchFailure, OutgoingMessage

_ACCOUNT = "000000000000"
_REGION = "memory"


@dataclass(eq=False)  # never compared: no generated __eq__ (issue 11, start-up)
class _Stored:
    message_id: str
    body: str
    sent_at: float
    visible_at: float
    message_attributes: dict[str, object]
    receive_count: int = 0
    receipt_handle: str | None = None
    first_receive_at: float | None = None
    group_id: str | None = None  # MessageGroupId, passed through (FIFO ordering itself is not modelled)


@dataclass(eq=False)
class _Queue:
    info: QueueInfo
    messages: dict[str, _Stored] = field(default_factory=dict)


class MemoryTransport:
    """:class:`sqsq.transport.Transport` kept in this process's memory. Thread-safe.

    Example:
        >>> t = MemoryTransport()
        >>> t.create_queue("q-dlq"); t.create_queue("q", dlq_name="q-dlq", max_receive_count=3)
    """

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._cond = threading.Condition()

    def create_queue(
        self,
        queue_name: str,
        visibility_timeout_seconds: int = 30,
        max_message_size_bytes: int = limits.SQS_DEFAULT_MAX_MESSAGE_SIZE_BYTES,
        dlq_name: str | None = None,
        max_receive_count: int | None = None,
    ) -> QueueInfo:
        """Create a queue (idempotent); with ``dlq_name`` and ``max_receive_count`` it gets a redrive policy."""
        with self._cond:
            if queue_name in self._queues:
                return self._queues[queue_name].info
            dlq_arn = None
            if dlq_name is not None:
                if dlq_name not in self._queues:
                    raise QueueNotFound(f"dead-letter queue {dlq_name!r} must exist first")
                dlq_arn = self._queues[dlq_name].info.arn
            info = QueueInfo(
                url=f"memory://{_ACCOUNT}/{queue_name}",
                arn=f"arn:aws:sqs:{_REGION}:{_ACCOUNT}:{queue_name}",
                max_message_size_bytes=max_message_size_bytes,
                visibility_timeout_seconds=visibility_timeout_seconds,
                max_receive_count=max_receive_count if dlq_arn else None,
                dead_letter_target_arn=dlq_arn,
            )
            self._queues[queue_name] = _Queue(info)
            return info

    def _queue(self, queue_name: str) -> _Queue:
        try:
            return self._queues[queue_name]
        except KeyError:
            raise QueueNotFound(
                f"queue {queue_name!r} does not exist in the in-memory transport; create it first",
                code="AWS.SimpleQueueService.NonExistentQueue",
            ) from None

    def queue_url(self, queue_name: str) -> str:
        """The queue's URL. Raises QueueNotFound."""
        with self._cond:
            return self._queue(queue_name).info.url

    def queue_info(self, queue_name: str) -> QueueInfo:
        """The queue's attributes. Raises QueueNotFound."""
        with self._cond:
            return self._queue(queue_name).info

    def send_batch(self, queue_name: str, messages: Sequence[OutgoingMessage]) -> list[BatchFailure]:
        """Enqueue up to 10 messages; oversize entries are rejected one by one, like SQS."""
        if len(messages) > limits.SQS_MAX_BATCH_ENTRIES:
            raise AwsError("too many entries in one batch request", code="AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
        from sqsq.transport.outgoing import BatchFailure

        now = time.time()
        failures = []
        with self._cond:
            queue = self._queue(queue_name)
            sizes = [body_size_bytes(m.body, dict(m.message_attributes)) for m in messages]
            if sum(sizes) > queue.info.max_message_size_bytes:
                # Like SQS: a request over the size limit in total is refused whole, nothing enqueued.
                raise AwsError("batch request too long", code="AWS.SimpleQueueService.BatchRequestTooLong")
            for m, size in zip(messages, sizes, strict=True):
                if size > queue.info.max_message_size_bytes:
                    failures.append(BatchFailure(m.id, "InvalidParameterValue", "message too long", True))
                    continue
                if not 0 <= m.delay_seconds <= limits.SQS_MAX_DELAY_SECONDS:
                    failures.append(BatchFailure(m.id, "InvalidParameterValue", "DelaySeconds out of range", True))
                    continue
                message_id = str(uuid.uuid4())
                queue.messages[message_id] = _Stored(
                    message_id=message_id,
                    body=m.body,
                    sent_at=now,
                    visible_at=now + m.delay_seconds,
                    message_attributes=dict(m.message_attributes),
                    group_id=m.group_id,
                )
            self._cond.notify_all()
        return failures

    def receive(
        self, queue_name: str, max_messages: int, wait_seconds: int, visibility_timeout_seconds: int | None = None
    ) -> list[ReceivedMessage]:
        """Long-poll: wait up to ``wait_seconds`` for at least one visible message, take up to ``max_messages``."""
        deadline = time.monotonic() + wait_seconds
        with self._cond:
            while True:
                got = self._take(queue_name, max(1, min(10, max_messages)), visibility_timeout_seconds)
                remaining = deadline - time.monotonic()
                if got or remaining <= 0:
                    return got
                # Wake at the latest when a delayed or in-flight message becomes visible.
                self._cond.wait(timeout=min(remaining, 0.05))

    def _take(self, queue_name: str, n: int, vt: int | None) -> list[ReceivedMessage]:
        queue = self._queue(queue_name)
        now = time.time()
        out: list[ReceivedMessage] = []
        for stored in list(queue.messages.values()):
            if len(out) >= n:
                break
            if stored.visible_at > now:
                continue
            mrc = queue.info.max_receive_count
            if mrc is not None and stored.receive_count >= mrc and queue.info.dead_letter_target_arn:
                # SQS moves the message on the receive that would exceed maxReceiveCount.
                del queue.messages[stored.message_id]
                dlq = self._queues[queue.info.dead_letter_target_arn.rsplit(":", 1)[1]]
                stored.visible_at = now
                stored.receipt_handle = None
                dlq.messages[stored.message_id] = stored
                continue
            stored.receive_count += 1
            stored.first_receive_at = stored.first_receive_at or now
            stored.receipt_handle = f"{stored.message_id}#{uuid.uuid4().hex}"
            stored.visible_at = now + (queue.info.visibility_timeout_seconds if vt is None else vt)
            out.append(
                ReceivedMessage(
                    queue_name=queue_name,
                    message_id=stored.message_id,
                    receipt_handle=stored.receipt_handle,
                    body=stored.body,
                    receive_count=stored.receive_count,
                    sent_timestamp_seconds=stored.sent_at,
                    attributes={
                        "ApproximateReceiveCount": str(stored.receive_count),
                        "SentTimestamp": str(int(stored.sent_at * 1000)),
                        "ApproximateFirstReceiveTimestamp": str(int((stored.first_receive_at or now) * 1000)),
                        **({"MessageGroupId": stored.group_id} if stored.group_id is not None else {}),
                    },
                    message_attributes=dict(stored.message_attributes),
                )
            )
        return out

    def _find(self, queue: _Queue, receipt_handle: str) -> _Stored | None:
        stored = queue.messages.get(receipt_handle.split("#", 1)[0])
        if stored is None or stored.receipt_handle != receipt_handle:
            return None
        return stored

    def delete_batch(self, queue_name: str, receipt_handles: Sequence[str]) -> list[BatchFailure]:
        """Delete by receipt handle. A stale handle of a message already deleted succeeds, as in SQS."""
        with self._cond:
            queue = self._queue(queue_name)
            for handle in receipt_handles:
                stored = self._find(queue, handle)
                if stored is not None:
                    del queue.messages[stored.message_id]
        return []

    def change_visibility_batch(self, queue_name: str, changes: Sequence[tuple[str, int]]) -> list[BatchFailure]:
        """Set visibility of received messages; an unknown or stale handle fails that entry."""
        from sqsq.transport.outgoing import BatchFailure

        failures = []
        now = time.time()
        with self._cond:
            queue = self._queue(queue_name)
            for i, (handle, seconds) in enumerate(changes):
                stored = self._find(queue, handle)
                if stored is None or stored.visible_at <= now:
                    failures.append(BatchFailure(str(i), "MessageNotInflight", "message is not in flight", True))
                    continue
                stored.visible_at = now + seconds
            self._cond.notify_all()
        return failures

    def depth(self, queue_name: str) -> QueueDepth:
        """Visible, in-flight (received, not yet visible) and delayed (never received, not yet visible)."""
        now = time.time()
        with self._cond:
            queue = self._queue(queue_name)
            visible = sum(1 for s in queue.messages.values() if s.visible_at <= now)
            in_flight = sum(1 for s in queue.messages.values() if s.visible_at > now and s.receive_count)
            delayed = sum(1 for s in queue.messages.values() if s.visible_at > now and not s.receive_count)
        from sqsq.transport.depth import QueueDepth

        return QueueDepth(visible=visible, in_flight=in_flight, delayed=delayed)

    def purge(self, queue_name: str) -> None:
        """Remove every message."""
        with self._cond:
            self._queue(queue_name).messages.clear()

    def start_message_move_task(
        self, source_queue_name: str, destination_queue_name: str, max_per_second: int | None = None
    ) -> str:
        """Move every message of ``source_queue_name`` now (SQS does it in the background): bodies and attributes
        unchanged, new message ids, receive counts starting again. ``max_per_second`` is not modelled."""
        now = time.time()
        with self._cond:
            source = self._queue(source_queue_name)
            destination = self._queue(destination_queue_name)
            for stored in list(source.messages.values()):
                del source.messages[stored.message_id]
                message_id = str(uuid.uuid4())
                destination.messages[message_id] = _Stored(
                    message_id=message_id,
                    body=stored.body,
                    sent_at=now,
                    visible_at=now,
                    message_attributes=dict(stored.message_attributes),
                )
            self._cond.notify_all()
        return f"memory-move-{uuid.uuid4().hex}"
