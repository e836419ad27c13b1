"""The SQS event Lambda sends (one record per message), and Lambda's rules for which records a response deletes.

See https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html (the event) and
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html (partial batch responses).
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqsq.transport import ReceivedMessage

__all__ = ["Settlement", "lambda_record", "md5_of_message_attributes", "settle"]

_LAMBDA_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
    "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "DeadLetterQueueSourceArn", "AWSTraceHeader",
)


def _lambda_message_attributes(attrs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, a in attrs.items():
        binary = a.get("BinaryValue")
        out[name] = {
            "stringValue": a.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "stringListValues": list(a.get("StringListValues", [])),
            "binaryListValues": [base64.b64encode(b).decode() for b in a.get("BinaryListValues", [])],
            "dataType": a.get("DataType", "String"),
        }
    return out


def md5_of_message_attributes(attrs: Mapping[str, Any]) -> str:
    """SQS's MD5OfMessageAttributes (names sorted; each length-prefixed name, type, transport byte and value)."""
    digest = hashlib.md5()  # SQS's checksum, not for security
    for name in sorted(attrs):
        a = attrs[name]
        data_type = str(a.get("DataType", "String"))
        for part in (name.encode(), data_type.encode()):
            digest.update(struct.pack(">I", len(part)) + part)
        if a.get("StringValue") is not None:
            value = str(a["StringValue"]).encode()
            digest.update(b"\x01" + struct.pack(">I", len(value)) + value)
        else:
            value = bytes(a.get("BinaryValue", b""))
            digest.update(b"\x02" + struct.pack(">I", len(value)) + value)
    return digest.hexdigest()


def lambda_record(message: ReceivedMessage, queue_arn: str, region: str) -> dict[str, Any]:
    """One record of an SQS event, in the shape Lambda sends it."""
    attrs = {k: str(message.attributes[k]) for k in _LAMBDA_SYSTEM_ATTRIBUTES if k in message.attributes}
    attrs.setdefault("ApproximateReceiveCount", str(message.receive_count))
    attrs.setdefault("SentTimestamp", str(int(message.sent_timestamp_seconds * 1000)))
    attrs.setdefault("SenderId", "AIDAIT2UOQQY3AUEKVGXU")
    attrs.setdefault("ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000)))
    record: dict[str, Any] = {
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": attrs,
        "messageAttributes": _lambda_message_attributes(message.message_attributes),
        "md5OfBody": hashlib.md5(message.body.encode("utf-8", "surrogatepass")).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.message_attributes:
        record["md5OfMessageAttributes"] = md5_of_message_attributes(message.message_attributes)
    return record


@dataclass(frozen=True)
class Settlement:
    """What Lambda does with a batch after the invocation.

    Attributes:
        delete_ids: messageIds to delete.
        reason: ``"ok"``, ``"partial"``, ``"error"``, ``"timeout"`` or ``"invalid response: ..."``.
    """

    delete_ids: list[str]
    reason: str


def settle(
    record_ids: Sequence[str],
    response: Any,
    *,
    raised: bool = False,
    timed_out: bool = False,
    report_batch_item_failures: bool = True,
) -> Settlement:
    """Lambda's rules for which records of a batch to delete, given the invocation's result.

    Args:
        record_ids: the batch's messageIds, in order.
        response: what the handler returned (ignored when it raised or timed out).
        raised: the handler raised.
        timed_out: the invocation overran the function's timeout.
        report_batch_item_failures: the event source has ``FunctionResponseTypes: [ReportBatchItemFailures]``.

    Returns:
        The ids to delete and why.
    """
    if timed_out:
        return Settlement([], "timeout")
    if raised:
        return Settlement([], "error")
    if not report_batch_item_failures:
        return Settlement(list(record_ids), "ok")  # B12: the response is not read at all
    if response is None or (isinstance(response, dict) and response.get("batchItemFailures") is None):
        return Settlement(list(record_ids), "ok")
    if not isinstance(response, dict) or not isinstance(response["batchItemFailures"], list):
        return Settlement([], "invalid response: not a batchItemFailures list")
    failed: set[str] = set()
    for item in response["batchItemFailures"]:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident or ident not in record_ids:
            return Settlement([], f"invalid response: itemIdentifier {ident!r}")
        failed.add(ident)
    if not failed:
        return Settlement(list(record_ids), "ok")
    return Settlement([i for i in record_ids if i not in failed], "partial")
