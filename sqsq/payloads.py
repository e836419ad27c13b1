"""Payloads past the queue's size limit: the S3 pointer a message carries instead, in the AWS extended client's format.

A body larger than the queue's ``MaximumMessageSize`` (SQS allows up to 1 MiB) is stored as an S3 object and the
message carries a pointer, exactly as the AWS SQS extended client libraries write it (Java:
https://github.com/awslabs/amazon-sqs-java-extended-client-lib, Python: ``amazon-sqs-extended-client`` 1.0.1 on
PyPI), so those libraries can produce to and consume from sqsq queues::

    body:       ["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "b", "s3Key": "k"}]
    attribute:  ExtendedPayloadSize (Number) = the payload's size in UTF-8 bytes

Read side, both libraries' older spellings are accepted too: the pointer class
``com.amazon.sqs.javamessaging.MessageS3Pointer`` and the attribute ``SQSLargePayloadSize``. The Python library
only resolves a message that carries one of the two attributes, so sqsq always sets ``ExtendedPayloadSize``.

sqsq names objects after the task id (:func:`message_key`, :func:`result_key`), so a redrive or a resend of the same
task overwrites rather than multiplies objects. This module holds the format only; S3 I/O is in
:mod:`sqsq.transport.payloads`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqsq.errors import MessageDecodeError

if TYPE_CHECKING:
    from sqsq.payload_pointer import PayloadPointer as PayloadPointer


def __getattr__(name: str) -> Any:
    # PayloadPointer lives in sqsq.payload_pointer, loaded when a pointer is first made: an ordinary message makes
    # none (a Lambda function's first invocation; issue 11, start-up).
    if name != "PayloadPointer":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from sqsq.payload_pointer import PayloadPointer

    return PayloadPointer

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
"""The pointer class both extended client libraries write today."""
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
"""The Java library's pointer class before 2.0 (read, never written)."""
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
"""Message attribute (Number) with the payload's size in bytes; marks a message as offloaded."""
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
"""The older name of :data:`SIZE_ATTRIBUTE` (read, never written)."""
S3_KEY_ATTRIBUTE = "S3Key"
"""Attribute the Python extended client reads as the object key to use when sending (reserved for it)."""
RESERVED_ATTRIBUTES = frozenset({SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE, S3_KEY_ATTRIBUTE})
"""Attribute names a sqsq user may not set: the extended clients give them a meaning."""
SQSQ_ATTRIBUTES_PER_MESSAGE = 1
"""Message attributes sqsq itself may set on one message (:data:`SIZE_ATTRIBUTE`, when the body is offloaded)."""
MESSAGE_PREFIX = "sqsq/messages/"
"""Key prefix of offloaded message bodies (the template's lifecycle rule expires it)."""
RESULT_PREFIX = "sqsq/results/"
"""Key prefix of offloaded results (expired after the results' TTL by the template's lifecycle rule)."""


LIFECYCLE_MARGIN_DAYS = 1
"""Days an object outlives what may still point to it before the bucket's lifecycle rule expires it."""


def expiry_days(dlq_retention_seconds: int, result_ttl_seconds: int) -> dict[str, int]:
    """Days after which the bucket's lifecycle rules expire each prefix: the backstop behind sqsq's own deletes.

    A message body may be pointed to for as long as the message can live: at most its DLQ's retention (a DLQ keeps
    the pointer; SQS keeps a moved message's original enqueue time only for FIFO, so this is generous for standard
    queues). A result lives as long as its record (the results TTL). One day of margin on each.

    Returns:
        ``{"sqsq/messages/": days, "sqsq/results/": days}``.
    """
    def days(seconds: int) -> int:
        return -(-seconds // 86_400) + LIFECYCLE_MARGIN_DAYS

    return {MESSAGE_PREFIX: days(dlq_retention_seconds), RESULT_PREFIX: days(result_ttl_seconds)}


def message_key(task_id: str) -> str:
    """The object key of a task's offloaded message body (``sqsq/messages/<task id>``)."""
    return f"{MESSAGE_PREFIX}{task_id}"


def result_key(task_id: str) -> str:
    """The object key of a task's offloaded result (``sqsq/results/<task id>``)."""
    return f"{RESULT_PREFIX}{task_id}"


def deletable_message_key(pointer: PayloadPointer, bucket: str, envelope_id: str | None) -> bool:
    """True when sqsq may delete the object ``pointer`` names, its message being done (acknowledged or purged).

    sqsq deletes only what it wrote for that message: the key :func:`message_key` of the envelope read from the
    object, in its own payload bucket. Anything else a pointer may name is left alone, whoever sent it: an object
    in another bucket, another task's object or an offloaded result (``sqsq/results/...``), and an object the AWS
    extended client wrote (a random key): the producer owns those (its own ``delete_payload_from_s3`` on receive,
    or a lifecycle rule on the bucket). A pointer to another task's message object still replays that task's
    envelope (as a replayed body would); its object is deleted only once that envelope succeeded (or was revoked).

    Args:
        pointer: the pointer the message carried.
        bucket: the configured payload bucket.
        envelope_id: the id of the envelope read from the object; None: not read or not an envelope (never deleted).
    """
    return envelope_id is not None and pointer.bucket == bucket and pointer.key == message_key(envelope_id)


def size_attribute(size_bytes: int) -> dict[str, dict[str, str]]:
    """The message attribute an offloaded message carries (``ExtendedPayloadSize``, a Number)."""
    return {SIZE_ATTRIBUTE: {"DataType": "Number", "StringValue": str(size_bytes)}}


def pointer_from_json(value: object) -> PayloadPointer | None:
    """The pointer in ``{"s3BucketName": ..., "s3Key": ...}``, or None when ``value`` is not one."""
    if not isinstance(value, Mapping):
        return None
    bucket, key = value.get("s3BucketName"), value.get("s3Key")
    if isinstance(bucket, str) and isinstance(key, str) and bucket and key:
        from sqsq.payload_pointer import PayloadPointer

        return PayloadPointer(bucket, key)
    return None


def parse_pointer(body: str, message_attributes: Mapping[str, Any] | None = None) -> PayloadPointer | None:
    """The pointer a message body carries, or None for an ordinary body.

    A body is a pointer when it is the extended clients' two-item JSON array (either pointer class). The size
    attribute is not required here (a message the SQS console re-sent may have lost it), but a body that looks like
    a pointer without it is still read as one only when the class name matches exactly.

    Args:
        body: the SQS message body.
        message_attributes: the message's attributes (unused for the decision; kept for symmetry with the clients).

    Raises:
        MessageDecodeError: the body names the pointer class but its object is malformed.
    """
    del message_attributes
    if not body.startswith("["):  # a sqsq envelope is an object: skip parsing the common case
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not (isinstance(data, list) and len(data) == 2 and data[0] in (POINTER_CLASS, LEGACY_POINTER_CLASS)):
        return None
    pointer = pointer_from_json(data[1])
    if pointer is None:
        raise MessageDecodeError(
            f"message body is a {data[0]} without s3BucketName/s3Key strings; it was not written by an extended client"
        )
    return pointer


def resolve_body(body: str, fetch: Callable[[PayloadPointer], bytes] | None) -> tuple[str, PayloadPointer | None]:
    """The real body of a message: fetched from S3 when ``body`` is a pointer, else ``body`` itself.

    Args:
        body: the body as received.
        fetch: reads an object's bytes (:meth:`sqsq.transport.payloads.PayloadStore.get`); None: offloading is not
            configured here.

    Returns:
        ``(body, pointer)``: the payload text and the pointer it came from (None for an ordinary body).

    Raises:
        MessageDecodeError: a pointer arrived but no bucket is configured here, the object is gone, or its bytes are
            not UTF-8.
        AwsError: S3 could not be read for another reason (try again later).
    """
    pointer = parse_pointer(body)
    if pointer is None:
        return body, None
    if fetch is None:
        raise MessageDecodeError(
            f"message carries a payload in {pointer} but this process has no payload bucket; set SQSQ_PAYLOAD_BUCKET "
            "(payload_bucket=) where tasks run"
        )
    data = fetch(pointer)
    try:
        return data.decode("utf-8"), pointer
    except UnicodeDecodeError as exc:
        raise MessageDecodeError(f"payload object {pointer} is not UTF-8 text ({exc.reason})") from None
