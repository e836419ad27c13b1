"""Reading a message's envelope when its body is an S3 pointer (:mod:`sqsq.payloads`), so tasks never see one.

The worker's receiver and the executor (poller and Lambda alike) decode through :func:`read_envelope`; the pointer
stays in the message as received, so a move to the DLQ copies the pointer, not the payload, and the object is
deleted only once the message is acknowledged (:func:`delete_payload`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqsq.app import App
from sqsq.errors import AwsError, MessageDecodeError, PayloadMissing
from sqsq.executor.outcomes import Ack, Outcome, Release
from sqsq.executor.recording import STORE_UNAVAILABLE_RETRY_SECONDS, Recorder
from sqsq.message import Envelope, undecodable_id
from sqsq.payloads import MESSAGE_PREFIX, deletable_message_key, parse_pointer, resolve_body
from sqsq.results import Status
from sqsq.transport import ReceivedMessage

if TYPE_CHECKING:
    from sqsq.payload_pointer import PayloadPointer

log = logging.getLogger("sqsq.executor")


def read_envelope(app: App, message: ReceivedMessage) -> Envelope:
    """The envelope ``message`` carries, fetched from S3 first when its body is a pointer.

    Signatures are checked by the caller on the envelope returned (the signed envelope is what was stored).

    Raises:
        MessageDecodeError: not an envelope; a pointer without a payload bucket here; the object is gone
            (:class:`sqsq.errors.PayloadMissing`).
        AwsError: S3 could not be read (the message should come back later).
    """
    payloads = app.payloads if parse_pointer(message.body) is not None else None
    body, _ = resolve_body(message.body, None if payloads is None else payloads.get)
    return Envelope.from_body(body)


def read_or_outcome(app: App, record: Recorder, message: ReceivedMessage) -> Envelope | Outcome:
    """``message``'s envelope (:func:`read_envelope`), or the outcome when it cannot be read: a Release while S3
    is unreadable, a dead letter for a body that is not an envelope (recorded under an id derived from the body,
    :func:`sqsq.message.undecodable_id`), and for a payload gone missing (:func:`_payload_missing`)."""
    try:
        return read_envelope(app, message)
    except PayloadMissing as exc:
        return _payload_missing(app, record, message, exc)
    except AwsError as exc:  # S3 unreadable for now: the message comes back
        log.warning("message %s: reading its payload failed (%s); it comes back", message.message_id, exc)
        return Release(STORE_UNAVAILABLE_RETRY_SECONDS, str(exc))
    except MessageDecodeError as exc:
        return record.dead_letter(
            undecodable_id(message.body), "<undecodable>", message.receive_count, 0, None, exc, "MessageDecodeError"
        )


def _payload_missing(app: App, record: Recorder, message: ReceivedMessage, exc: PayloadMissing) -> Outcome:
    """A pointer whose object is gone: a duplicate of a task that finished (its object deleted with its
    acknowledgement, whose SQS delete then failed) is acknowledged; anything else is dead-lettered."""
    task_id = task_id_of_missing(exc.where)
    try:
        existing = None if task_id is None else app.results.get(task_id)
    except AwsError as store_exc:
        return record.store_down(task_id or "?", "reading the record of a message whose payload is gone", store_exc)
    if existing is not None and existing.status is Status.SUCCESS:
        log.info("task %s: payload already deleted and the task succeeded: duplicate acknowledged", task_id)
        return Ack(duplicate=True)
    return record.dead_letter(
        undecodable_id(message.body), "<undecodable>", message.receive_count, 0, None, exc, "PayloadMissing"
    )


def task_id_of_missing(pointer_text: str) -> str | None:
    """The task id a sqsq message key names (``s3://b/sqsq/messages/<id>`` -> ``<id>``), or None."""
    _, _, key = pointer_text.removeprefix("s3://").partition("/")
    return key[len(MESSAGE_PREFIX):] if key.startswith(MESSAGE_PREFIX) and len(key) > len(MESSAGE_PREFIX) else None


def delete_payload(app: App, message: ReceivedMessage, envelope_id: str | None) -> bool:
    """Delete the S3 object an acknowledged message pointed to; True when there was one and it is gone.

    Only sqsq's own object for that envelope is deleted (:func:`sqsq.payloads.deletable_message_key`): a pointer to
    another bucket, to another key (an extended client's object, a result) or an unknown envelope deletes nothing.

    Args:
        app: its payload store.
        message: the acknowledged message.
        envelope_id: the id of the envelope the message carried (:attr:`sqsq.executor.Ack.task_id`); None: unknown.

    Never raises: an object that cannot be deleted is logged and left to the bucket's lifecycle rule.
    """
    try:
        pointer: PayloadPointer | None = parse_pointer(message.body)
    except Exception:  # a malformed pointer: nothing of ours to delete
        return False
    payloads = app.payloads if pointer is not None else None
    if pointer is None or payloads is None:
        return False
    if not deletable_message_key(pointer, payloads.bucket, envelope_id):
        log.info("message %s: payload %s is not this app's object for task %s; left in place",
                 message.message_id, pointer, envelope_id)
        return False
    try:
        payloads.delete(pointer)
    except (AwsError, MessageDecodeError) as exc:
        log.warning("could not delete payload %s of message %s (%s); the bucket's lifecycle rule expires it",
                    pointer, message.message_id, exc)
        return False
    return True
