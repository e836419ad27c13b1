"""One dead letter: :class:`DlqEntry` (the message, its decoded envelope, its recorded outcome) and its display.

See :mod:`sqsq.dlq` for where the failure reason comes from and what makes a letter *unreadable*.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from typing import Any

from sqsq.errors import SignatureError
from sqsq.executor import CONSUMER_DIED
from sqsq.message import Envelope, body_size_bytes, undecodable_id
from sqsq.payloads import PayloadPointer
from sqsq.results import ResultRecord, Status
from sqsq.signing import KeyRing
from sqsq.transport import ReceivedMessage

NO_OUTCOME_RECORDED = "NoOutcomeRecorded"
"""Error type shown for a sqsq message in a DLQ without a recorded FAILURE (moved by SQS's redrive policy)."""
UNDECODABLE = "<undecodable>"
"""Task name shown for a DLQ message whose body is not a sqsq envelope."""
ARGS_SUMMARY_CHARS = 60
"""Longest argument summary in a listing row."""
MAX_SHOWN_DEPTH = 200
"""Deepest argument nesting (JSON objects/arrays) the DLQ tools render; deeper letters are listed as unreadable.

pydantic's serializer refuses ~255 levels and Python's recursion limit (1,000 frames) is shared with the CLI's
own stack, so 200 leaves room for both."""
DECODE_ERROR_MAX_CHARS = 500
"""Longest decode error kept per entry (pydantic's errors quote the input, which may be the whole body)."""
MAX_AGE_SECONDS = 1e11
"""Ages beyond this (~3,000 years: a ``sent_at`` that is no real time) are shown as unknown."""


@dataclass(frozen=True)
class DlqEntry:
    """One message of a dead-letter queue, decoded, with its recorded outcome.

    Attributes:
        message: the message as received from the DLQ.
        envelope: the decoded envelope, or ``None`` when the body is not one.
        decode_error: why the body did not decode (``None`` when it did).
        record: the results-table record (by task id, or by undecodable_id(body) when undecodable), or ``None``.
        record_id: the id ``record`` was found under when it is not the envelope's (:func:`undecodable_id` of the
            body: a signature failure or a ``TaskIdConflict``); ``None`` otherwise.
        unreadable: the body is shown only by message id and size (see the module docstring); ``decode_error``
            says why. ``envelope`` is then ``None``.
        pointer: where the envelope is stored when the message carries an S3 pointer (:mod:`sqsq.payloads`); the
            envelope was read from there. ``None`` for an inline body.
    """

    message: ReceivedMessage
    envelope: Envelope | None
    decode_error: str | None
    record: ResultRecord | None
    record_id: str | None = None
    unreadable: bool = False
    pointer: PayloadPointer | None = None

    def as_unreadable(self, reason: str) -> DlqEntry:
        """This entry shown only by message id, size and ``reason`` (when rendering it failed)."""
        return replace(self, envelope=None, decode_error=cut(reason, DECODE_ERROR_MAX_CHARS), unreadable=True)

    def one_line(self) -> str:
        """``<undecodable> message MID (N bytes): reason``: how ``dlq show`` prints an unreadable entry."""
        return f"{UNDECODABLE} message {self.message_id} ({self.size_bytes} bytes): {self.decode_error}"

    @property
    def message_id(self) -> str:
        """The SQS MessageId in the DLQ."""
        return self.message.message_id

    @property
    def task_id(self) -> str:
        """The task id, or the id its record is filed under (:func:`undecodable_id`) for an undecodable body, a
        message that failed signature verification, or one whose task id held another message's record."""
        if self.record_id is not None:
            return self.record_id
        return self.envelope.id if self.envelope else undecodable_id(self.message.body)

    @property
    def task_name(self) -> str:
        """The registered task name, or ``"<undecodable>"``."""
        return self.envelope.task if self.envelope else UNDECODABLE

    @property
    def no_outcome(self) -> bool:
        """A sqsq message dead-lettered without a recorded FAILURE: SQS's redrive moved it before any outcome."""
        return self.envelope is not None and (self.record is None or self.record.status is not Status.FAILURE)

    @property
    def error_type(self) -> str | None:
        """The recorded exception class name; ``MessageDecodeError`` for an undecodable body and
        ``NoOutcomeRecorded`` for a message SQS's redrive moved without a recorded failure (see :attr:`no_outcome`)."""
        if self.record is not None and self.record.error_type and self._reason_recorded:
            return self.record.error_type
        if self.envelope is None:
            return "MessageDecodeError"
        return NO_OUTCOME_RECORDED

    @property
    def _reason_recorded(self) -> bool:
        """The record says why: a FAILURE, or the marker of a run that never ended on the last receive."""
        r = self.record
        return r is not None and (r.status is Status.FAILURE or r.error_type == CONSUMER_DIED)

    @property
    def error_message(self) -> str | None:
        """The recorded exception message, the decode error, or why a message without an outcome is here."""
        if self.record is not None and self.record.error_message is not None and self._reason_recorded:
            return self.record.error_message
        if self.envelope is None:
            return self.decode_error
        last = f"last recorded status {self.record.status.value}" if self.record else "nothing recorded"
        return (
            f"no outcome recorded ({last}): SQS's redrive policy moved it after maxReceiveCount receives, and no "
            "consumer recorded a failure first (a function that failed to start or timed out, a worker or pool child "
            "killed mid-task); see the consumer's logs, then redrive it"
        )

    @property
    def attempts(self) -> int | None:
        """Attempts recorded by the last run (SQS ApproximateReceiveCount), ``None`` without a record."""
        return self.record.attempts if self.record is not None else None

    @property
    def sent_at(self) -> float:
        """Epoch seconds the task was sent (the envelope's ``sent_at``, else the DLQ's SentTimestamp).

        Taken as sent: it may be anything a producer wrote (``inf``, ``nan``, ``1e300``); see :meth:`age_seconds`.
        """
        return self.envelope.sent_at if self.envelope else self.message.sent_timestamp_seconds

    def age_seconds(self, now: float | None = None) -> float | None:
        """Seconds since :attr:`sent_at` (0 when it is in the future), or ``None`` when that is no real time."""
        age = (time.time() if now is None else now) - self.sent_at
        if not math.isfinite(age) or abs(age) > MAX_AGE_SECONDS:
            return None
        return max(0.0, age)

    @property
    def size_bytes(self) -> int:
        """Bytes SQS counts for this message (body plus attributes)."""
        return body_size_bytes(self.message.body, dict(self.message.message_attributes))

    def args_summary(self, max_chars: int = ARGS_SUMMARY_CHARS) -> str:
        """Compact JSON of the arguments (or the start of the raw body), cut to ``max_chars`` characters."""
        if self.unreadable:
            return cut(f"(message {self.message_id}, {self.size_bytes} bytes)", max_chars)
        text = (
            json.dumps(self.envelope.args, ensure_ascii=False, separators=(",", ":"))
            if self.envelope
            else repr(self.message.body)
        )
        return text if len(text) <= max_chars else text[: max_chars - 1] + "…"

    def redrive_body(self, keyring: KeyRing | None = None) -> str:
        """The body to send back: the envelope with the next generation (signed again with ``keyring``'s signing
        key when given), or the raw body when undecodable or unreadable. See :meth:`redrive_refusal` first."""
        if self.envelope is None:  # undecodable or unreadable: moved unchanged
            return self.message.body
        recorded = self.record.generation if self.record is not None else 0
        generation = max(self.envelope.generation, recorded) + 1
        moved = self.envelope.model_copy(update={"generation": generation, "kid": None, "sig": None})
        return (keyring.sign(moved) if keyring is not None else moved).to_body()

    def redrive_refusal(self, keyring: KeyRing | None) -> str | None:
        """Why this message must not be redriven with ``keyring`` (the redriving app's keys), or ``None``."""
        if self.envelope is None:
            return None
        if keyring is None:
            if self.envelope.sig is None:
                return None
            return (
                "signed message: a redrive changes its generation, so it must be signed again; give this command the "
                "signing keys (SQSQ_SIGNING_KEYS, _PARAMETER or _SECRET)"
            )
        try:
            keyring.verify(self.envelope)
        except SignatureError as exc:
            return (
                f"{type(exc).__name__}: its signature does not verify under this app's keys, so it is not signed "
                "again nor redriven (that would vouch for a message no key holder sent); if a retired key signed it, "
                "list that key again in SQSQ_SIGNING_KEYS"
            )
        return None

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        """A JSON-ready summary (what ``sqsq dlq list --json`` prints per message)."""
        age = self.age_seconds(now)
        r = self.record
        return {
            "task_id": self.task_id,
            "task": self.task_name,
            "message_id": self.message_id,
            "args": self.envelope.args if self.envelope else None,
            "generation": self.envelope.generation if self.envelope else None,
            "status": r.status.value if r else None,
            "attempts": self.attempts,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "sent_at": self.sent_at if math.isfinite(self.sent_at) else None,
            "age_seconds": None if age is None else round(age, 3),
            "failed_at": r.updated_at if r else None,
            "size_bytes": self.size_bytes,
            "unreadable": self.unreadable,
        }

    def detail_json(self, now: float | None = None) -> dict[str, Any]:
        """Everything ``sqsq dlq show`` prints: the summary, the full envelope or body, and the traceback."""
        out = self.to_json(now)
        out["envelope"] = self.envelope.model_dump(mode="json") if self.envelope else None
        out["body"] = None if self.envelope or self.unreadable else self.message.body
        out["traceback"] = self.record.traceback if self.record else None
        out["message_attributes"] = dict(self.message.message_attributes)
        out["dlq_receive_count"] = self.message.receive_count
        return out


def cut(text: str, max_chars: int) -> str:
    """``text``, or its first ``max_chars - 1`` characters and an ellipsis when it is longer."""
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def format_age(seconds: float | None) -> str:
    """``"42s"``, ``"7m"``, ``"3h"``, ``"2d"``: the largest whole unit; ``"?"`` when unknown.

    Args:
        seconds: the age; ``None``, not finite or beyond :data:`MAX_AGE_SECONDS` is unknown; negative is 0.
    """
    if seconds is None or not math.isfinite(seconds) or abs(seconds) > MAX_AGE_SECONDS:
        return "?"
    s = max(0, int(seconds))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"
