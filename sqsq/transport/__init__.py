"""The queue seam: a small interface, a boto3 SQS implementation and an in-memory twin.

Both implementations are held to the same contract tests (``tests/contract/test_transport_contract.py``).
Queue names here are physical SQS names (``"shop-images"``); the app maps logical names to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqsq import limits
from sqsq.errors import AwsError
from sqsq.retry import Backoff
from sqsq.transport.batch_retry import BatchRetry

T = TypeVar("T")


def split_batches(items: Iterable[T], size_bytes: Callable[[T], int], limit_bytes: int) -> Iterator[list[T]]:
    """Split into SendMessageBatch requests: at most 10 entries and at most ``limit_bytes`` in total (B09).

    SQS limits the sum of a batch's entries to the queue's MaximumMessageSize, not only each entry. An item larger
    than ``limit_bytes`` on its own still gets a batch of its own (callers check sizes first and report it).

    Args:
        items: what to send, in order.
        size_bytes: an item's size as SQS counts it (body plus message attributes, UTF-8 bytes).
        limit_bytes: the queue's MaximumMessageSize.
    """
    chunk: list[T] = []
    size = 0
    for item in items:
        n = size_bytes(item)
        if chunk and (len(chunk) == limits.SQS_MAX_BATCH_ENTRIES or size + n > limit_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += n
    if chunk:
        yield chunk


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to send.

    Attributes:
        id: batch entry id, unique within one request (sqsq uses the task id).
        body: the message body (already size-checked).
        delay_seconds: 0-900 (SQS's per-message DelaySeconds).
        message_attributes: SQS MessageAttributes (``{"name": {"DataType": "String", "StringValue": "…"}}``).
        group_id: MessageGroupId: the message group on a FIFO queue, the tenant on a fair (standard) queue.
        deduplication_id: MessageDeduplicationId (FIFO queues only).
    """

    id: str
    body: str
    delay_seconds: int = 0
    message_attributes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    group_id: str | None = None
    deduplication_id: str | None = None


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
class BatchFailure:
    """A batch entry SQS did not accept.

    Attributes:
        id: the entry id.
        code: AWS error code.
        message: AWS error message.
        sender_fault: True when retrying the same entry cannot succeed.
    """

    id: str
    code: str
    message: str
    sender_fault: bool


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


@dataclass(frozen=True)
class QueueDepth:
    """Approximate counts (SQS's ApproximateNumberOfMessages*)."""

    visible: int
    in_flight: int
    delayed: int


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


@dataclass(frozen=True)
class BatchSendResult:
    """What :func:`send_batch_with_retries` could not send.

    Attributes:
        failed: entry id -> ``"Code: message"`` for every entry not enqueued (empty: all were sent once).
        error: the error of a request that failed outright after botocore's retries (its entries are in
            ``failed``), or ``None``.
    """

    failed: dict[str, str]
    error: AwsError | None = None


def send_batch_with_retries(
    transport: Transport,
    queue_name: str,
    messages: Sequence[OutgoingMessage],
    attempts: int = 5,
    base_delay_seconds: float = 0.05,
) -> BatchSendResult:
    """SendMessageBatch (<= 10 entries), sending again only the entries SQS failed without a sender fault (B29).

    Entries SQS accepted are never sent again; entries it rejected as the sender's fault (too large, invalid) are
    reported at once; throttled or internal failures are retried up to ``attempts`` times with exponential backoff
    and full jitter from ``base_delay_seconds`` (:class:`sqsq.transport.batch_retry.BatchRetry`). A request that
    raises stops the retries and reports what was still pending.
    """
    batch = BatchRetry(
        messages, attempts=attempts, backoff=Backoff(base_seconds=base_delay_seconds), entry_id=lambda _, m: m.id,
        retry_errors=False,
    )
    batch.run(lambda entries: transport.send_batch(queue_name, entries))
    return BatchSendResult({m.id: why for m, why in batch.failed}, batch.error)
