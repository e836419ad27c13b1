"""Turning validated calls into SQS messages: prepare (validate, sign, encode), check sizes, send in batches.

The mechanics behind :meth:`sqsq.App.send`, :meth:`sqsq.App.send_many` and :meth:`sqsq.App.batch`; the App
resolves names, queues and keys and passes them in, so this module does not import :mod:`sqsq.app`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqsq import limits
from sqsq.attributes import encode_attributes
from sqsq.errors import AwsError, LimitExceeded, PayloadTooLarge, SendFailed, ValidationError
from sqsq.grouping import NO_GROUP, NO_IDS, GroupOptions, MessageIds, message_ids
from sqsq.message import Envelope, body_size_bytes, new_task_id
from sqsq.payloads import PayloadPointer, message_key, size_attribute
from sqsq.signing import KeyRing
from sqsq.task import Args, Task
from sqsq.transport import OutgoingMessage, Transport, send_batch_with_retries, split_batches

if TYPE_CHECKING:
    from sqsq.transport.payloads import PayloadStore

# Per-entry retries for SendMessageBatch entries SQS failed without a sender fault (throttled, internal).
ENTRY_RETRY_ATTEMPTS = 5


@dataclass(frozen=True)
class Prepared:
    """One validated, encoded message, ready for SendMessage(Batch)."""

    task: Task[Any, Any]
    envelope: Envelope
    queue_name: str
    body: str
    delay_seconds: int
    ids: MessageIds = NO_IDS  # FIFO / fair queues (issue 14): MessageGroupId, MessageDeduplicationId
    message_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    pointer: PayloadPointer | None = None
    """Where the envelope was stored when it was too large to travel inline (:mod:`sqsq.payloads`)."""

    @property
    def size_bytes(self) -> int:
        """The message's size as SQS counts it: body plus message attributes (UTF-8 bytes)."""
        return body_size_bytes(self.body, self.message_attributes)


def check_delay(delay_seconds: int) -> None:
    """Raise LimitExceeded unless ``delay_seconds`` is a whole number within SQS's 0..900 s."""
    if isinstance(delay_seconds, bool) or not isinstance(delay_seconds, int):
        raise LimitExceeded(f"delay_seconds must be a whole number of seconds, got {delay_seconds!r}")
    if not 0 <= delay_seconds <= limits.SQS_MAX_DELAY_SECONDS:
        raise LimitExceeded(
            f"delay_seconds={delay_seconds} is outside SQS's 0..{limits.SQS_MAX_DELAY_SECONDS} s; "
            "longer delays (up to 365 days) go through App.send, which schedules them"
        )


def prepare(
    task: Task[Any, Any],
    args: Args,
    delay_seconds: int,
    queue_name: str,
    keyring: KeyRing | None,
    group: GroupOptions = NO_GROUP,
    attributes: Mapping[str, object] | None = None,
    due_at: float | None = None,
) -> Prepared:
    """Validate ``args``, build and sign the envelope, and check the worker will read it back as validated.

    ``group``: the send's message group options (FIFO and fair queues, :mod:`sqsq.grouping`). ``due_at`` (epoch
    seconds) goes into the envelope of a send delivered through a one-time schedule (:mod:`sqsq.scheduling`).

    Raises:
        LimitExceeded: ``delay_seconds`` out of SQS's range, any per-message delay on a FIFO queue, or too many
            ``attributes`` (:mod:`sqsq.attributes`).
        ValidationError: arguments invalid, not encodable as JSON, or not arriving as they are.
        SendOptionError: a FIFO send without a message group, group options the queue's type does not take, or a
            bad attribute (a :class:`ValidationError` too).
    """
    check_delay(delay_seconds)
    message_attributes = encode_attributes(attributes)
    model = task.validate_args(args)
    envelope = Envelope(id=new_task_id(), task=task.name, args=task.dump_args(model), due_at=due_at)
    if due_at is not None and queue_name.endswith(limits.SQS_FIFO_SUFFIX):
        raise LimitExceeded(
            f"a send due more than {limits.SQS_MAX_DELAY_SECONDS} s ahead cannot go to FIFO queue {queue_name}: "
            "SQS allows no per-message delay there and sqsq's one-time schedules do not carry message groups yet; "
            "send it to a standard queue, or give the FIFO queue a delay (its DelaySeconds attribute)"
        )
    ids = message_ids(task, model, envelope.id, group, queue_name=queue_name, delay_seconds=delay_seconds)
    try:
        if keyring is not None:
            envelope = keyring.sign(envelope)
        body = envelope.to_body()
    except (ValueError, RecursionError) as exc:  # e.g. an int of more than 4,300 digits
        raise ValidationError(task.name, f"arguments cannot be encoded as JSON: {exc}") from exc
    task.check_arrival(model, body)  # what the worker will validate is what was validated here
    return Prepared(task, envelope, queue_name, body, delay_seconds, ids, message_attributes)


def check_size(transport: Transport, p: Prepared, payloads: PayloadStore | None = None) -> Prepared:
    """``p`` if it fits the queue's MaximumMessageSize; else, with a payload store, ``p`` offloaded to S3.

    The signed envelope is what is stored (sign first, then offload): the worker verifies it after fetching. The
    message then carries the extended client's pointer and ``ExtendedPayloadSize`` (:mod:`sqsq.payloads`).

    Raises:
        PayloadTooLarge: too large and no ``payload_bucket`` configured (or the pointer itself does not fit).
        LimitExceeded: larger than one S3 PutObject.
        AwsError: the S3 PutObject failed.
    """
    limit = transport.queue_info(p.queue_name).max_message_size_bytes
    size = p.size_bytes
    if size <= limit:
        return p
    if payloads is None:
        raise PayloadTooLarge(size, limit, p.queue_name)
    data = p.body.encode("utf-8")
    pointer = payloads.put(message_key(p.envelope.id), data)
    attributes = {**p.message_attributes, **size_attribute(len(data))}
    offloaded = replace(p, body=pointer.to_body(), message_attributes=attributes, pointer=pointer)
    if offloaded.size_bytes > limit:
        payloads.delete(pointer)
        raise PayloadTooLarge(offloaded.size_bytes, limit, p.queue_name)
    return offloaded


def send_prepared(transport: Transport, prepared: Sequence[Prepared]) -> None:
    """Send in SendMessageBatch requests; every task is either sent once or reported in SendFailed.

    A request that fails outright (after botocore's retries) stops the send: its entries and the ones not yet
    tried are reported as not sent. If nothing at all was sent, that AWS error is raised as it is.

    Raises:
        SendFailed: some entries were not sent (``.failures`` by task id); the rest were sent once.
        AwsError: the first request failed outright and nothing was sent.
    """
    by_queue: dict[str, list[Prepared]] = {}
    for p in prepared:
        by_queue.setdefault(p.queue_name, []).append(p)
    failures: dict[str, str] = {}
    sent: list[str] = []
    broken: AwsError | None = None
    for queue_name, items in by_queue.items():
        limit = transport.queue_info(queue_name).max_message_size_bytes if broken is None else 0
        for chunk in split_batches(items, _body_size, limit) if broken is None else [items]:
            if broken is not None:
                failures.update({p.envelope.id: f"not sent: an earlier request failed ({broken})" for p in chunk})
                continue
            f, s, broken = _send_chunk(transport, queue_name, chunk)
            failures.update(f)
            sent.extend(s)
    if broken is not None and not sent:
        raise broken
    if failures:
        raise SendFailed(failures, sent)


def _send_chunk(
    transport: Transport, queue_name: str, chunk: list[Prepared]
) -> tuple[dict[str, str], list[str], AwsError | None]:
    """One batch: (failures by task id, sent task ids, the error of a request that failed outright)."""
    messages = [
        OutgoingMessage(p.envelope.id, p.body, p.delay_seconds, p.message_attributes, group_id=p.ids.group_id,
                        deduplication_id=p.ids.deduplication_id)
        for p in chunk
    ]
    result = send_batch_with_retries(transport, queue_name, messages, attempts=ENTRY_RETRY_ATTEMPTS)
    sent = [p.envelope.id for p in chunk if p.envelope.id not in result.failed]
    return result.failed, sent, result.error


def _body_size(p: Prepared) -> int:
    return p.size_bytes


class BatchBuffer:
    """The sends of one ``App.batch()`` block: sent every 10 messages per queue, and the rest at the end.

    Args:
        transport_of: returns the transport (called at each size check and flush; the App builds it lazily).
        payloads_of: returns the payload store, or None (large bodies are offloaded when they are buffered).
    """

    def __init__(
        self, transport_of: Callable[[], Transport], payloads_of: Callable[[], PayloadStore | None] = lambda: None
    ):
        self.transport_of = transport_of
        self.payloads_of = payloads_of
        self.pending: dict[str, list[Prepared]] = {}

    def add(self, p: Prepared) -> None:
        """Buffer one message (size checked now, offloaded if needed); send its queue's 10 once they are there."""
        p = check_size(self.transport_of(), p, self.payloads_of())
        items = self.pending.setdefault(p.queue_name, [])
        items.append(p)
        if len(items) >= limits.SQS_MAX_BATCH_ENTRIES:
            self.pending[p.queue_name] = []
            send_prepared(self.transport_of(), items)

    def flush_all(self) -> None:
        """Send everything still buffered."""
        items = [p for ps in self.pending.values() for p in ps]
        self.pending.clear()
        if items:
            send_prepared(self.transport_of(), items)
