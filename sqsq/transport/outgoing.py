"""What a send and a batch call exchange with a :class:`sqsq.transport.Transport`: the messages to send, the entries
SQS refused, and sending a batch again for the entries it may still take.

Re-exported by :mod:`sqsq.transport` (loaded there on first use: receiving alone needs none of it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqsq import limits
from sqsq.errors import AwsError
from sqsq.retry import Backoff
from sqsq.transport.batch_retry import BatchRetry

if TYPE_CHECKING:
    from sqsq.transport import Transport

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
