"""Copies of a received message sent on by sqsq (to the DLQ, back from it, a rescue): what ids they carry.

A copy keeps the original's ``MessageGroupId`` (on a FIFO queue its message group, on a fair queue its tenant), so
the DLQ copy of a FIFO message names its group and a redriven copy goes back into that group. Sent to a FIFO
queue, a copy also needs a ``MessageDeduplicationId``: ``"<purpose>-<MessageId of the original>"``. That is new for
every copy (each copy is a new message with its own MessageId), yet the same when sqsq retries sending one copy,
so SQS enqueues a retried copy once within its 5-minute window
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagededuplicationid-property.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqsq import limits

if TYPE_CHECKING:  # consumers import this module; a copy is made only on a dead letter, a rescue or a redrive
    from sqsq.transport import ReceivedMessage
    from sqsq.transport.outgoing import OutgoingMessage


def group_of(message: ReceivedMessage) -> str | None:
    """The message's MessageGroupId (FIFO group or fair-queue tenant), or None."""
    group = message.attributes.get("MessageGroupId")
    return None if group is None else str(group)


def copy_of(
    message: ReceivedMessage,
    target_queue_name: str,
    purpose: str,
    *,
    entry_id: str = "0",
    body: str | None = None,
    message_attributes: Mapping[str, Any] | None = None,
) -> OutgoingMessage:
    """An OutgoingMessage copying ``message`` to ``target_queue_name``, with the group and deduplication ids it needs.

    Args:
        message: the message as received.
        target_queue_name: where the copy goes (``.fifo``: it gets a MessageDeduplicationId).
        purpose: a short word naming the copy (``"dlq"``, ``"redrive"``, ``"rescue"``); part of the dedup id.
        entry_id: the batch entry id.
        body: the copy's body (default: the original's).
        message_attributes: the copy's message attributes (default: the original's).
    """
    fifo = target_queue_name.endswith(limits.SQS_FIFO_SUFFIX)
    dedup = f"{purpose}-{message.message_id}"[: limits.SQS_MAX_DEDUPLICATION_ID_LENGTH] if fifo else None
    from sqsq.transport.outgoing import OutgoingMessage

    return OutgoingMessage(
        id=entry_id,
        body=message.body if body is None else body,
        message_attributes=dict(message.message_attributes if message_attributes is None else message_attributes),
        group_id=group_of(message),
        deduplication_id=dedup,
    )
