"""The versioned JSON envelope that travels in an SQS message body.

Shape (schema version 1)::

    {"v": 1, "id": "<task id>", "task": "<registered name>", "args": {...}, "sent_at": 1764470000.25,
     "generation": 0, "rescues": 0, "kid": "k1", "sig": "<base64 HMAC-SHA256>"}

``args`` is the task's argument model dumped in pydantic's JSON mode, so datetimes, UUIDs, Decimals, sets and
nested models round-trip exactly. ``generation`` counts redrives from a DLQ (a redriven task starts a fresh
attempt count and its result record may move on from FAILURE). Attempt numbers are not in the body: SQS's
``ApproximateReceiveCount`` is the attempt number. ``rescues`` (optional, 0 when absent) counts the copies sqsq
sent of this generation because a receive was spent without an outcome (see :mod:`sqsq.rescue`); a rescued copy
reads the task's record before it runs, so a task that finished meanwhile is not run again. It is not signed: it
only makes a copy read the record first. ``kid`` and ``sig`` are present when the producer signs
(:mod:`sqsq.signing`); a reader without signing ignores them, so the schema version stays 1.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from sqsq.errors import MessageDecodeError, describe_errors
from sqsq.message_flow import Flow

SCHEMA_VERSION = 1

# SQS accepts #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF in a body
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html).
# json.dumps already escapes control characters; these are the others SQS refuses. They can only occur inside
# JSON strings, where a \\uXXXX escape means the same character, so escaping them keeps the JSON equal.
_SQS_FORBIDDEN = "[\ud800-\udfff\ufffe\uffff]"


@functools.cache
def _sqs_forbidden() -> re.Pattern[str]:
    # Compiled on the first body encoded (a send), not at import: a consumer's start-up does not need it (issue 11).
    return re.compile(_SQS_FORBIDDEN)


def _escape_forbidden(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group(0)):04x}"


_INTEGER_FIELDS = ("v", "generation", "rescues", "prior_attempts")
"""The envelope's integer fields."""


def undecodable_id(body: str) -> str:
    """The id an undecodable body's FAILURE record is filed under: ``"undecodable-"`` + 32 hex of SHA-256(body).

    Such a body carries no task id, and its SQS MessageId changes when the worker copies it to the DLQ, so the
    id is derived from the body itself: the DLQ tools find the record from the message they read.
    """
    return "undecodable-" + hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def new_task_id() -> str:
    """A new random task id (UUID4 as a 36-character string)."""
    return str(uuid.uuid4())


class Envelope(BaseModel):
    """One task invocation as it travels through SQS.

    Attributes:
        v: schema version (1).
        id: task id, unique per ``send``.
        task: registered task name.
        args: arguments in JSON mode (already validated by the sender).
        sent_at: epoch seconds when the producer built the message.
        generation: number of redrives from a dead-letter queue (0 for a fresh send).
        rescues: copies sqsq sent of this generation because a receive was spent without an outcome (0 for a send).
        kid: id of the signing key (see :mod:`sqsq.signing`), or ``None`` when unsigned.
        sig: base64 HMAC-SHA256 of the envelope's other fields under that key, or ``None`` when unsigned.
        prior_attempts: attempts made before this copy was scheduled (a retry past 12 hours, see
            :mod:`sqsq.scheduling.retry`); the attempt number is this plus SQS's receive count. Not signed.
        due_at: epoch seconds before which the task must not run (sends through a one-time schedule only; not
            signed: a changed value can only delay a task, see :mod:`sqsq.scheduling.guard`), or ``None``.
        flow: the workflow continuation (:class:`sqsq.message_flow.Flow`), or ``None`` outside a workflow.
    """

    # defer_build: the validator is built on the first send or receive, not when sqsq is imported (start-up).
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    v: int = SCHEMA_VERSION
    id: str = Field(min_length=1, max_length=128)
    task: str = Field(min_length=1, max_length=256)
    args: dict[str, Any]
    # Epoch seconds from 1970 to the year 5138: a finite number DynamoDB can store, checked when decoding.
    sent_at: float = Field(default_factory=time.time, ge=0, le=1e11, allow_inf_nan=False)
    generation: int = Field(default=0, ge=0)
    rescues: int = Field(default=0, ge=0)
    kid: str | None = Field(default=None, max_length=64)
    sig: str | None = Field(default=None, max_length=128)
    # -- scheduling (issue 12) --
    due_at: float | None = Field(default=None, ge=0, le=1e11, allow_inf_nan=False)
    prior_attempts: int = Field(default=0, ge=0)
    # -- issue 12: periodic tasks (sqsq.scheduling.periodic) --------------------------------------------------
    # Set on the messages EventBridge Scheduler sends for a periodic task: the schedule's fixed id. The task id is
    # then "<periodic>:<scheduled time>" (the scheduler substitutes the time at each firing), and a signature
    # covers the fixed id instead (see sqsq.signing.canonical_bytes).
    periodic: str | None = Field(default=None, min_length=1, max_length=80)
    # -- issue 13, workflows: where this message stands in a chain/group/chord (sqsq.message_flow); absent otherwise.
    flow: Flow | None = None

    def to_body(self) -> str:
        """Encode as the SQS message body (compact JSON, UTF-8, only SQS-legal characters)."""
        # An unsigned, unrescued body is as before these fields existed.
        omitted = {name for name in ("kid", "sig", "due_at", "periodic", "flow") if getattr(self, name) is None}
        omitted |= {name for name in ("rescues", "prior_attempts") if not getattr(self, name)}
        data = self.model_dump(mode="json", exclude=omitted | {"flow"})
        if self.flow is not None:  # defaults left out: the body stays small (a chain's rest travels in it)
            data["flow"] = self.flow.model_dump(mode="json", exclude_defaults=True)
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return _sqs_forbidden().sub(_escape_forbidden, text)

    @classmethod
    def from_body(cls, body: str) -> Envelope:
        """Decode an SQS message body.

        Raises:
            MessageDecodeError: the body is not JSON, not an object, of a newer schema version, or lacks fields.
        """
        try:
            data = json.loads(body)
        except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: JSON nested too deeply
            raise MessageDecodeError(f"message body is not JSON ({exc}); it was not sent by sqsq") from exc
        if not isinstance(data, dict):
            raise MessageDecodeError("message body is JSON but not an object; it was not sent by sqsq")
        version = data.get("v")
        if isinstance(version, bool) or version != SCHEMA_VERSION:  # JSON true is not the integer 1
            raise MessageDecodeError(
                f"envelope schema version {version!r} is not supported (this sqsq reads {SCHEMA_VERSION}); "
                "upgrade the worker or check the producer"
            )
        for name in _INTEGER_FIELDS:  # JSON Schema's integers include 2.0; strict validation would refuse it
            value = data.get(name)
            if isinstance(value, float) and value.is_integer():
                data[name] = int(value)
        try:  # strict: a value of the wrong JSON type ("1", true) is refused, as the published schema refuses it
            return cls.model_validate(data, strict=True)
        except PydanticValidationError as exc:
            # Field and problem only: pydantic's own text would echo the values (arguments may hold secrets).
            detail = describe_errors(exc.errors(include_url=False), root="(envelope)")  # type: ignore[arg-type]
            raise MessageDecodeError(f"malformed envelope: {detail}") from None


def body_size_bytes(body: str, message_attributes: dict[str, Any] | None = None) -> int:
    """Bytes SQS counts against MaximumMessageSize: UTF-8 body plus attribute names, types and values."""
    size = len(body.encode("utf-8", "surrogatepass"))
    for name, attr in (message_attributes or {}).items():
        size += len(name.encode()) + len(str(attr.get("DataType", "")).encode())
        value = attr.get("StringValue") if "StringValue" in attr else attr.get("BinaryValue", b"")
        size += len(value.encode() if isinstance(value, str) else bytes(value))
    return size
