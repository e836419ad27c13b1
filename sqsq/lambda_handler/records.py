"""SQS events as Lambda sends them: the checks an event must pass, and a record as the executor's message.

Nothing here imports aws_lambda_powertools: these are plain checks over the event's dicts.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from sqsq.errors import MessageDecodeError, SqsqError
from sqsq.message import Envelope
from sqsq.transport import ReceivedMessage

__all__ = [
    "SQS_EVENT_SOURCE",
    "RecordFailed",
    "describe",
    "group_of",
    "is_fifo_record",
    "malformed",
    "peek",
    "queue_name_of",
    "sqs_records",
    "to_received_message",
]

SQS_EVENT_SOURCE = "aws:sqs"
"""``eventSource`` of an SQS record (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html)."""


class RecordFailed(SqsqError):
    """Raised inside the record handler to report one record failed; ``reason`` is logged with its ids."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def queue_name_of(arn: str) -> str:
    """The queue name at the end of a queue ARN (``arn:aws:sqs:us-east-1:123:files`` -> ``files``)."""
    return arn.rsplit(":", 1)[-1]


def group_of(record: Mapping[str, Any]) -> str | None:
    """The record's FIFO ``MessageGroupId``, or None (a standard queue, or ``attributes`` not an object)."""
    attrs = record.get("attributes")
    group = attrs.get("MessageGroupId") if isinstance(attrs, Mapping) else None
    return None if group is None else str(group)


def is_fifo_record(record: Mapping[str, Any]) -> bool:
    """Whether the record came from a FIFO queue: its ``eventSourceARN`` ends in ``.fifo`` (SQS names every FIFO
    queue so). A ``MessageGroupId`` alone does not say FIFO: fair queues (standard) carry one too."""
    arn = record.get("eventSourceARN")
    return isinstance(arn, str) and arn.endswith(".fifo")


def peek(body: str) -> tuple[str, str]:
    """Task id and name for logs and the time check; a body that cannot be read is the executor's to record."""
    try:
        envelope = Envelope.from_body(body)
    except (MessageDecodeError, RecursionError, ValueError, TypeError):  # RecursionError: JSON nested too deeply
        return "<undecodable>", "<undecodable>"
    return envelope.id, envelope.task


def describe(exc: BaseException) -> str:
    """``"Type: message"``, never raising (an exception's ``__str__`` may itself raise)."""
    try:
        text = str(exc)
    except Exception:
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def sqs_records(event: Any) -> list[Mapping[str, Any]]:
    """The records of an SQS event, checked just enough that each can be reported on by its ``messageId``.

    Raises:
        ValueError: not an SQS event (no ``Records`` list, a record that is not an object, of another
            ``eventSource``, or without ``messageId``).
    """
    expected = 'expected an SQS event, {"Records": [{"messageId": ..., "body": ..., "eventSource": "aws:sqs", ...}]}'
    if not isinstance(event, Mapping):
        raise ValueError(f"{expected}; got a {type(event).__name__}")
    records = event.get("Records")
    if not isinstance(records, list):
        keys = ", ".join(sorted(map(str, event))[:10]) or "none"
        got = "no Records key" if "Records" not in event else f"Records is a {type(records).__name__}"
        raise ValueError(f"{expected}; got {got} (keys: {keys})")
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise ValueError(f"{expected}; Records[{i}] is a {type(record).__name__}, not an object")
        source = record.get("eventSource")
        if source is not None and source != SQS_EVENT_SOURCE:
            raise ValueError(
                f"{expected}; Records[{i}] has eventSource {source!r}: this handler takes SQS events only "
                "(check the function's triggers)"
            )
        message_id = record.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            raise ValueError(
                f"{expected}; Records[{i}] has no messageId (got {message_id!r}), so it cannot be reported failed "
                "on its own"
            )
    return records


def malformed(record: Mapping[str, Any]) -> str | None:
    """Why a record (with a messageId) cannot be run, or None."""
    problems = []
    for key in ("receiptHandle", "body", "eventSourceARN"):
        if not isinstance(record.get(key), str):
            problems.append(f"{key} is {_kind(record.get(key))}, expected a string")
    for key in ("attributes", "messageAttributes"):
        value = record.get(key)
        if value is not None and not isinstance(value, Mapping):
            problems.append(f"{key} is {_kind(value)}, expected an object")
    return f"malformed SQS record: {'; '.join(problems)}" if problems else None


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


def _message_attributes(lambda_attrs: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Lambda's ``messageAttributes`` (camelCase, binary as base64) in SQS API shape, for the DLQ copy."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in (lambda_attrs or {}).items():
        entry: dict[str, Any] = {"DataType": attr.get("dataType", "String")}
        if attr.get("stringValue") is not None:
            entry["StringValue"] = attr["stringValue"]
        elif attr.get("binaryValue") is not None:
            entry["BinaryValue"] = base64.b64decode(attr["binaryValue"])
        out[name] = entry
    return out


def to_received_message(record: Mapping[str, Any]) -> ReceivedMessage:
    """A Lambda SQS record as the :class:`ReceivedMessage` the executor takes.

    Raises:
        RecordFailed: a field Lambda always sends is missing (the record is reported failed, its neighbours run).
    """
    try:
        reason = malformed(record)
        if reason is not None:
            raise RecordFailed(reason)
        attrs = dict(record.get("attributes") or {})
        return ReceivedMessage(
            queue_name=queue_name_of(str(record["eventSourceARN"])),
            message_id=str(record["messageId"]),
            receipt_handle=str(record["receiptHandle"]),
            body=str(record["body"]),
            receive_count=int(attrs.get("ApproximateReceiveCount", "1")),
            sent_timestamp_seconds=int(attrs.get("SentTimestamp", "0")) / 1000.0,
            attributes=attrs,
            message_attributes=_message_attributes(record.get("messageAttributes")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordFailed(f"malformed SQS record ({type(exc).__name__}: {exc})") from exc
