"""The queue seam: a small interface, a boto3 SQS implementation and an in-memory twin.

Both implementations are held to the same contract tests (``tests/contract/test_transport_contract.py``).
Queue names here are physical SQS names (``"shop-images"``); the app maps logical names to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqsq.transport.depth import QueueDepth as QueueDepth
    from sqsq.transport.outgoing import BatchFailure as BatchFailure
    from sqsq.transport.outgoing import BatchSendResult as BatchSendResult
    from sqsq.transport.outgoing import OutgoingMessage as OutgoingMessage
    from sqsq.transport.outgoing import send_batch_with_retries as send_batch_with_retries
    from sqsq.transport.outgoing import split_batches as split_batches

_LAZY = {
    "BatchFailure": "sqsq.transport.outgoing",
    "BatchSendResult": "sqsq.transport.outgoing",
    "OutgoingMessage": "sqsq.transport.outgoing",
    "send_batch_with_retries": "sqsq.transport.outgoing",
    "split_batches": "sqsq.transport.outgoing",
    "QueueDepth": "sqsq.transport.depth",
}
"""Names loaded on first use, by module: a consumer that only receives (a Lambda function's first invocation)
creates neither the sending types nor the depth counts (issue 11: each frozen dataclass costs ~0.4 ms to create)."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as received.

    Attributes:
        queue_name: physical queue name it came from.
        message_id: SQS MessageId.
        receipt_handle: handle for delete / change visibility of this receive.
        body: message body.
        receive_count: ApproximateReceiveCount (1 on first delivery) — sqsq's attempt number.
        sent_timestamp_seconds: SentTimestamp, epoch seconds (SQS's clock).
        attributes: the raw system attributes SQS returned.
        message_attributes: the raw MessageAttributes.
    """

    queue_name: str
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_timestamp_seconds: float
    attributes: Mapping[str, str] = field(default_factory=dict)
    message_attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueInfo:
    """Queue attributes sqsq reads once per queue and caches.

    Attributes:
        url: the queue URL.
        arn: the queue ARN.
        max_message_size_bytes: MaximumMessageSize.
        visibility_timeout_seconds: VisibilityTimeout.
        max_receive_count: the redrive policy's maxReceiveCount, or ``None`` without a redrive policy.
        dead_letter_target_arn: the redrive policy's target, or ``None``.
        fifo: a FIFO queue (FifoQueue).
        deduplication_scope: a FIFO queue's DeduplicationScope (``"queue"``/``"messageGroup"``), else ``None``.
        fifo_throughput_limit: a FIFO queue's FifoThroughputLimit (``"perQueue"``/``"perMessageGroupId"``), else
            ``None``.
    """

    url: str
    arn: str
    max_message_size_bytes: int
    visibility_timeout_seconds: int
    max_receive_count: int | None
    dead_letter_target_arn: str | None
    fifo: bool = False
    deduplication_scope: str | None = None
    fifo_throughput_limit: str | None = None

    @property
    def dead_letter_queue_name(self) -> str | None:
        """The DLQ's queue name (the last part of :attr:`dead_letter_target_arn`), or ``None`` without a redrive
        policy."""
        arn = self.dead_letter_target_arn
        return arn.rsplit(":", 1)[1] if arn else None


class Transport(Protocol):
    """What sqsq needs from a queue service. Every method may raise :class:`sqsq.errors.AwsError`."""

    def queue_url(self, queue_name: str) -> str:
        """The queue's URL, cached after the first call: all that receiving from it needs. Raises QueueNotFound."""
        ...

    def queue_info(self, queue_name: str) -> QueueInfo:
        """Attributes of a queue, cached after the first call. Raises QueueNotFound."""
        ...

    def send_batch(self, queue_name: str, messages: Sequence[OutgoingMessage]) -> list[BatchFailure]:
        """Send up to 10 messages in one request; returns the entries SQS rejected (empty = all sent)."""
        ...

    def receive(
        self, queue_name: str, max_messages: int, wait_seconds: int, visibility_timeout_seconds: int | None = None
    ) -> list[ReceivedMessage]:
        """Long-poll for up to ``max_messages`` (1-10) for up to ``wait_seconds`` (0-20)."""
        ...

    def delete_batch(self, queue_name: str, receipt_handles: Sequence[str]) -> list[BatchFailure]:
        """Delete up to 10 messages; entry ids are the positions ``"0"``…``"9"``."""
        ...

    def change_visibility_batch(
        self, queue_name: str, changes: Sequence[tuple[str, int]]
    ) -> list[BatchFailure]:
        """Set the visibility timeout (seconds from now) of up to 10 received messages."""
        ...

    def depth(self, queue_name: str) -> QueueDepth:
        """Approximate visible, in-flight and delayed counts."""
        ...

    def purge(self, queue_name: str) -> None:
        """Delete every message (PurgeQueue). SQS refuses a second purge within 60 s (code PurgeQueueInProgress)."""
        ...

    def start_message_move_task(
        self, source_queue_name: str, destination_queue_name: str, max_per_second: int | None = None
    ) -> str:
        """Ask SQS to move every message of a dead-letter queue to ``destination_queue_name`` server-side.

        Bodies move unchanged (StartMessageMoveTask). ``max_per_second``: 1-500, ``None`` = SQS's own rate.
        Returns the move task's handle. Raises AwsError when the endpoint refuses or does not implement it.
        """
        ...
