"""Turning validated calls into SQS messages: prepare (validate, sign, encode), check sizes, send in batches.

The mechanics behind :meth:`sqsq.App.send`, :meth:`sqsq.App.send_many` and :meth:`sqsq.App.batch`; the App
resolves names, queues and keys and passes them in, so this module does not import :mod:`sqsq.app`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqsq import limits
from sqsq.errors import AwsError, LimitExceeded, PayloadTooLarge, SendFailed, ValidationError
from sqsq.message import Envelope, body_size_bytes, new_task_id
from sqsq.signing import KeyRing
from sqsq.task import Args, Task
from sqsq.transport import OutgoingMessage, Transport, send_batch_with_retries, split_batches

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
    task: Task[Any, Any], args: Args, delay_seconds: int, queue_name: str, keyring: KeyRing | None,
    due_at: float | None = None,
) -> Prepared:
    """Validate ``args``, build and sign the envelope, and check the worker will read it back as validated.

    ``due_at`` (epoch seconds) goes into the envelope of a send delivered through a one-time schedule.

    Raises:
        LimitExceeded: ``delay_seconds`` out of SQS's range.
        ValidationError: arguments invalid, not encodable as JSON, or not arriving as they are.
    """
    check_delay(delay_seconds)
    model = task.validate_args(args)
    envelope = Envelope(id=new_task_id(), task=task.name, args=task.dump_args(model), due_at=due_at)
    try:
        if keyring is not None:
            envelope = keyring.sign(envelope)
        body = envelope.to_body()
    except (ValueError, RecursionError) as exc:  # e.g. an int of more than 4,300 digits
        raise ValidationError(task.name, f"arguments cannot be encoded as JSON: {exc}") from exc
    task.check_arrival(model, body)  # what the worker will validate is what was validated here
    return Prepared(task, envelope, queue_name, body, delay_seconds)


def check_size(transport: Transport, p: Prepared) -> None:
    """Raise PayloadTooLarge when the body exceeds the queue's MaximumMessageSize."""
    limit = transport.queue_info(p.queue_name).max_message_size_bytes
    size = body_size_bytes(p.body)
    if size > limit:
        raise PayloadTooLarge(size, limit, p.queue_name)


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
    messages = [OutgoingMessage(p.envelope.id, p.body, p.delay_seconds) for p in chunk]
    result = send_batch_with_retries(transport, queue_name, messages, attempts=ENTRY_RETRY_ATTEMPTS)
    sent = [p.envelope.id for p in chunk if p.envelope.id not in result.failed]
    return result.failed, sent, result.error


def _body_size(p: Prepared) -> int:
    return body_size_bytes(p.body)


class BatchBuffer:
    """The sends of one ``App.batch()`` block: sent every 10 messages per queue, and the rest at the end.

    Args:
        transport_of: returns the transport (called at each size check and flush; the App builds it lazily).
    """

    def __init__(self, transport_of: Callable[[], Transport]):
        self.transport_of = transport_of
        self.pending: dict[str, list[Prepared]] = {}

    def add(self, p: Prepared) -> None:
        """Buffer one message (size checked now); send its queue's 10 once they are there."""
        check_size(self.transport_of(), p)
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
