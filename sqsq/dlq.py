"""Dead-letter queues: list, show, redrive and purge the messages of a queue's DLQ.

Reading a DLQ without consuming it
    SQS has no "peek". A :class:`DeadLetterQueue` reads with ReceiveMessage in rounds of 10, hiding what it read
    for ``visibility_timeout_seconds`` (so the next round returns other messages), de-duplicates by MessageId,
    and stops at the first round that brings nothing new (WaitTimeSeconds 1: a long poll asks every SQS server,
    a short poll only some). At the end every message it read and did not move is made visible again at once
    (ChangeMessageVisibilityBatch to 0). If the process dies instead, they reappear after the visibility timeout.

Where the failure reason comes from
    The results table: the FAILURE record keyed by the envelope's task id (for an undecodable body, by
    :func:`sqsq.message.undecodable_id` of the body, which survives the copy to the DLQ; without a record the
    reason is the decode error, computed again here). A message that failed signature verification, or whose task
    id held another message's record (``TaskIdConflict``), has its FAILURE under that same body-derived id: an
    envelope whose own id holds no FAILURE of that message is looked up there as well (one more read, only then).

One bad letter never stops a tool
    A letter that cannot be decoded, or decodes but cannot be rendered safely (arguments nested deeper than
    :data:`MAX_SHOWN_DEPTH` levels, which pydantic's serializer and Python's recursion limit refuse to print),
    is an *unreadable* entry: task ``<undecodable>``, shown by its SQS message id and size with the reason, its
    body never printed. The CLI renders each entry on its own and turns an entry whose rendering still fails
    into such a line (:meth:`DlqEntry.as_unreadable`), so the other letters still list, show and redrive.

Redrive
    Selected messages go back to their source queue, send first and delete second, so a crash in between
    duplicates a message (it is then in both queues) and never loses one. Each envelope is re-encoded with
    ``generation`` = max(its generation, its record's generation) + 1: the new message starts at
    ApproximateReceiveCount 1 and the results store's forward-only rule lets the new run replace FAILURE.
    Undecodable bodies move unchanged. With signing on, the new envelope is signed again with the current
    signing key (its generation changed); a message whose signature does not verify under this app's keys is never
    redriven (re-signing it would vouch for a message no key holder sent) and is reported as failed, as is a
    signed message when this app has no keys. Sends are batched by count (<= 10) and by total bytes (<= the source
    queue's MaximumMessageSize, read from the queue). A rejected entry stays in the DLQ and is reported.

    ``native=True`` (``--all --native`` on the CLI) asks SQS to move everything server-side with
    StartMessageMoveTask instead. SQS moves bodies unchanged, so the generation is *not* advanced and the
    results table keeps the old FAILURE when the task then succeeds; use it for large DLQs where that is
    acceptable. Where the endpoint refuses or does not implement it (moto 5.2.5), sqsq falls back to moving
    the messages itself and says so in the report.

Purge
    SQS allows one PurgeQueue per queue per 60 s, and a purge may take up to 60 s, deleting messages sent
    meanwhile. sqsq remembers its own purges in a small JSON ledger (``$XDG_CACHE_HOME/sqsq/purges.json``,
    default ``~/.cache/sqsq/purges.json``) keyed by queue URL, refuses a second purge within 60 s before
    calling AWS, and turns SQS's ``PurgeQueueInProgress`` into :class:`sqsq.errors.PurgeInProgress` with an
    estimate of when to retry. So the behaviour is the same whether or not the endpoint enforces the rule.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqsq import limits
from sqsq.app import App
from sqsq.errors import AwsError, ConfigError, MessageDecodeError, PurgeInProgress, QueueNotFound, SignatureError
from sqsq.executor import CONSUMER_DIED
from sqsq.message import Envelope, body_size_bytes, undecodable_id
from sqsq.results import ResultRecord, Status, stored_sent_at
from sqsq.signing import KeyRing
from sqsq.transport import (
    BatchFailure,
    OutgoingMessage,
    ReceivedMessage,
    Transport,
    send_batch_with_retries,
    split_batches,
)

log = logging.getLogger("sqsq.dlq")

NO_OUTCOME_RECORDED = "NoOutcomeRecorded"
"""Error type shown for a sqsq message in a DLQ without a recorded FAILURE (moved by SQS's redrive policy)."""
UNDECODABLE = "<undecodable>"
"""Task name shown for a DLQ message whose body is not a sqsq envelope."""
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 120
"""How long messages read from a DLQ stay hidden while a listing or redrive runs (made visible again after)."""
LIST_WAIT_SECONDS = 1
"""ReceiveMessage WaitTimeSeconds while reading a DLQ: 1 s asks every SQS server; 0 may miss messages."""
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
_ENTRY_RETRY_ATTEMPTS = 3
_PURGE_IN_PROGRESS_CODES = {"AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress"}


# -- entries ----------------------------------------------------------------------------------------------------


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
    """

    message: ReceivedMessage
    envelope: Envelope | None
    decode_error: str | None
    record: ResultRecord | None
    record_id: str | None = None
    unreadable: bool = False

    def as_unreadable(self, reason: str) -> DlqEntry:
        """This entry shown only by message id, size and ``reason`` (when rendering it failed)."""
        return replace(self, envelope=None, decode_error=_cut(reason, DECODE_ERROR_MAX_CHARS), unreadable=True)

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
            return _cut(f"(message {self.message_id}, {self.size_bytes} bytes)", max_chars)
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


@dataclass(frozen=True)
class Selection:
    """Which DLQ messages to act on. Kinds combine with AND; values of one kind with OR.

    Attributes:
        task_ids: task ids (or message ids, for undecodable bodies).
        task_names: registered task names (``"<undecodable>"`` selects undecodable bodies).
        error_types: recorded exception class names (``"RuntimeError"``, ``"MessageDecodeError"``).
        everything: select every message (alone, or narrowed by the other kinds).
    """

    task_ids: frozenset[str] = frozenset()
    task_names: frozenset[str] = frozenset()
    error_types: frozenset[str] = frozenset()
    everything: bool = False

    @property
    def is_empty(self) -> bool:
        """True when nothing would be selected (no filter and not ``everything``)."""
        return not (self.task_ids or self.task_names or self.error_types or self.everything)

    def matches(self, entry: DlqEntry) -> bool:
        """Whether ``entry`` is selected."""
        if self.is_empty:
            return False
        if self.task_ids and entry.task_id not in self.task_ids and entry.message_id not in self.task_ids:
            return False
        if self.task_names and entry.task_name not in self.task_names:
            return False
        return not (self.error_types and entry.error_type not in self.error_types)


@dataclass(frozen=True)
class RedriveProgress:
    """Where a redrive is, for progress display.

    Attributes:
        scanned: distinct DLQ messages read so far.
        moved: messages sent to the source queue and deleted from the DLQ so far.
        total_estimate: the DLQ's approximate depth when the redrive started.
    """

    scanned: int
    moved: int
    total_estimate: int


@dataclass
class RedriveReport:
    """What a redrive did.

    Attributes:
        source_queue: physical source queue name (destination of the redrive).
        dlq: physical dead-letter queue name.
        dry_run: nothing was moved; ``selected`` lists what would have been.
        scanned: distinct DLQ messages read.
        selected: the entries that matched the selection.
        moved: task ids sent to the source queue and deleted from the DLQ.
        failed: ``{task_id: reason}`` for selected messages not sent; they are still in the DLQ.
        not_deleted: ``{task_id: reason}`` for messages sent but not deleted from the DLQ (now in both queues).
        native_task_handle: the StartMessageMoveTask handle when SQS moved the messages server-side.
        native_fallback_reason: why a requested native move was not used (the AWS error), else ``None``.
        not_found: ids asked for with ``task_ids`` that are not in the DLQ.
    """

    source_queue: str
    dlq: str
    dry_run: bool = False
    scanned: int = 0
    selected: list[DlqEntry] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    not_deleted: dict[str, str] = field(default_factory=dict)
    native_task_handle: str | None = None
    native_fallback_reason: str | None = None
    not_found: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every selected message was moved (or a dry run)."""
        return not self.failed and not self.not_deleted

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "source_queue": self.source_queue,
            "dlq": self.dlq,
            "dry_run": self.dry_run,
            "scanned": self.scanned,
            "selected": [e.task_id for e in self.selected],
            "moved": self.moved,
            "failed": self.failed,
            "not_deleted": self.not_deleted,
            "native_task_handle": self.native_task_handle,
            "native_fallback_reason": self.native_fallback_reason,
            "not_found": self.not_found,
        }


# -- reading without consuming -------------------------------------------------------------------------------------


class _Reader:
    """Receives a queue's messages round by round, hiding them, and makes the unmoved ones visible at the end."""

    def __init__(self, transport: Transport, queue_name: str, visibility_timeout_seconds: int, wait_seconds: int):
        self._transport = transport
        self._queue = queue_name
        self._vt = visibility_timeout_seconds
        self._wait = wait_seconds
        self._seen: dict[str, ReceivedMessage] = {}
        self._gone: set[str] = set()
        self._seen_again = 0

    @property
    def scanned(self) -> int:
        return len(self._seen)

    def next_round(self) -> list[ReceivedMessage]:
        """Up to 10 messages not seen before; empty when a receive brings nothing new (the end)."""
        got = self._transport.receive(self._queue, limits.SQS_MAX_RECEIVE_MESSAGES, self._wait, self._vt)
        new = [m for m in got if m.message_id not in self._seen]
        self._seen_again += len(got) - len(new)
        for m in got:
            # Keep the latest receipt handle: SQS acts only on the most recent one.
            self._seen[m.message_id] = m
        return new

    def latest(self, message_id: str) -> ReceivedMessage:
        return self._seen[message_id]

    def gone(self, message_ids: Iterable[str]) -> None:
        """Mark messages as deleted (they need no visibility reset)."""
        self._gone.update(message_ids)

    def release(self) -> None:
        """Visibility 0 for every message read and not deleted, so it is visible again at once."""
        handles = [m.receipt_handle for mid, m in self._seen.items() if mid not in self._gone]
        failed = 0
        for i in range(0, len(handles), limits.SQS_MAX_BATCH_ENTRIES):
            chunk = handles[i : i + limits.SQS_MAX_BATCH_ENTRIES]
            try:
                failures = self._transport.change_visibility_batch(self._queue, [(h, 0) for h in chunk])
            except AwsError as exc:
                log.warning("making %d messages of %s visible again failed (%s)", len(chunk), self._queue, exc)
                failed += len(chunk)
                continue
            failed += len(failures)
        if failed:
            log.warning(
                "%d message(s) of %s could not be made visible again; they reappear within %d s",
                failed, self._queue, self._vt,
            )
        if self._seen_again:
            # A message came back while we read: the visibility timeout ran out, so reading may have stopped
            # before every message was seen (it ends at the first round with nothing new).
            log.warning(
                "the %d s visibility timeout ran out while reading %s; some messages may not have been seen. "
                "Use a longer visibility timeout (--visibility-timeout-seconds)", self._vt, self._queue,
            )


# -- the DLQ ---------------------------------------------------------------------------------------------------


def resolve_source_queue(app: App, queue: str) -> str:
    """The physical source queue for a CLI QUEUE argument.

    A name among the app's logical queues (``"default"``, ``"images"``) maps through the app's prefix; a name
    that already starts with the prefix (``"shop-images"``) is taken as physical; anything else as logical.
    """
    if queue in app.logical_queues():
        return app.queue_name(queue)
    prefix = app.settings.queue_prefix or ""
    if prefix and queue.startswith(prefix):
        return queue
    return app.queue_name(queue)


class DeadLetterQueue:
    """The dead-letter queue of one of an app's queues.

    Args:
        app: the app (its transport and results store are used).
        queue: the source queue, logical (``"default"``) or physical (``"shop-default"``); see
            :func:`resolve_source_queue`. Its DLQ is the target of its redrive policy.
        visibility_timeout_seconds: how long messages read stay hidden while a listing or redrive runs
            (1-43,200 s); they are made visible again when it ends.
        wait_seconds: ReceiveMessage WaitTimeSeconds while reading (0-20; default 1).

    Raises:
        QueueNotFound: the source queue or its DLQ does not exist.
        ConfigError: the source queue has no redrive policy, hence no DLQ.

    Example:
        >>> dlq = DeadLetterQueue(app, "default")                        # doctest: +SKIP
        >>> [e.task_id for e in dlq.entries()]                           # doctest: +SKIP
        >>> dlq.redrive(Selection(task_names=frozenset({"tests.add"})))  # doctest: +SKIP
    """

    def __init__(
        self,
        app: App,
        queue: str,
        *,
        visibility_timeout_seconds: int = DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
        wait_seconds: int = LIST_WAIT_SECONDS,
    ):
        if not 1 <= visibility_timeout_seconds <= limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS:
            raise ConfigError(
                f"visibility_timeout_seconds={visibility_timeout_seconds} is outside SQS's "
                f"1..{limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS} s"
            )
        self.app = app
        self.keyring = app.keyring
        self.transport: Transport = app.transport
        self.source_queue = resolve_source_queue(app, queue)
        info = self.transport.queue_info(self.source_queue)
        if not info.dead_letter_target_arn:
            raise ConfigError(
                f"queue {self.source_queue!r} has no redrive policy, so it has no dead-letter queue; "
                "provision it with one (`sqsq provision APP`, or template.yaml)"
            )
        self.dlq_name = info.dead_letter_target_arn.rsplit(":", 1)[1]
        self.transport.queue_info(self.dlq_name)  # QueueNotFound now rather than mid-way
        self.max_message_size_bytes = info.max_message_size_bytes
        self.visibility_timeout_seconds = visibility_timeout_seconds
        self.wait_seconds = max(0, min(limits.SQS_MAX_WAIT_TIME_SECONDS, wait_seconds))

    def _reader(self) -> _Reader:
        return _Reader(self.transport, self.dlq_name, self.visibility_timeout_seconds, self.wait_seconds)

    def _entry(self, message: ReceivedMessage) -> DlqEntry:
        envelope, decode_error, unreadable = _decode(message.body)
        body_id = undecodable_id(message.body)
        if envelope is None:
            entry = DlqEntry(message, None, decode_error, self.app.results.get(body_id))
            return replace(entry, unreadable=True) if unreadable else entry
        if self.keyring is not None and self._unverified(envelope):
            entry = DlqEntry(message, envelope, None, self.app.results.get(body_id), record_id=body_id)
        else:
            entry = DlqEntry(message, envelope, None, self.app.results.get(envelope.id))
            if not _recorded_failure_of(entry.record, envelope):
                # A TaskIdConflict (or a signature failure seen by a consumer with keys) is filed under the body's id.
                filed = self.app.results.get(body_id)
                if filed is not None and filed.status is Status.FAILURE:
                    entry = DlqEntry(message, envelope, None, filed, record_id=body_id)
        if unreadable:
            return entry.as_unreadable(
                f"arguments nested more than {MAX_SHOWN_DEPTH} levels deep (task {envelope.task}, id {envelope.id})"
            )
        return entry

    def _unverified(self, envelope: Envelope) -> bool:
        assert self.keyring is not None
        try:
            self.keyring.verify(envelope)
        except SignatureError:
            return True
        return False

    def _scan(self, reader: _Reader) -> Iterator[list[DlqEntry]]:
        while True:
            new = reader.next_round()
            if not new:
                return
            yield [self._entry(m) for m in new]

    def entries(self, selection: Selection | None = None) -> list[DlqEntry]:
        """Every message in the DLQ (or those ``selection`` matches), oldest sent first; nothing is consumed.

        Raises:
            AwsError: SQS or DynamoDB failed (messages read so far are made visible again first).
        """
        reader = self._reader()
        out: list[DlqEntry] = []
        try:
            for batch in self._scan(reader):
                out.extend(e for e in batch if selection is None or selection.matches(e))
        finally:
            reader.release()
        return sorted(out, key=_sent_order)

    def find(self, task_id: str) -> DlqEntry | None:
        """The DLQ message of ``task_id`` (or of that message id), or ``None``; stops reading once found."""
        reader = self._reader()
        try:
            for batch in self._scan(reader):
                for entry in batch:
                    if task_id in (entry.task_id, entry.message_id):
                        return entry
        finally:
            reader.release()
        return None

    def depth(self) -> int:
        """Approximate number of messages in the DLQ (visible + in flight)."""
        d = self.transport.depth(self.dlq_name)
        return d.visible + d.in_flight

    # -- redrive ------------------------------------------------------------------------------------------------

    def redrive(
        self,
        selection: Selection,
        *,
        dry_run: bool = False,
        native: bool = False,
        max_per_second: float | None = None,
        on_progress: Callable[[RedriveProgress], None] | None = None,
        body: Callable[[DlqEntry], str] | None = None,
    ) -> RedriveReport:
        """Move the selected messages back to the source queue (see the module docstring).

        Args:
            selection: which messages; an empty selection moves nothing.
            dry_run: only list what would move (``report.selected``).
            native: with ``selection.everything`` and no other filter, use SQS's StartMessageMoveTask
                (bodies unchanged, generation not advanced); falls back to moving client-side when refused.
            max_per_second: client-side cap on messages sent per second (also passed to a native move,
                rounded, 1-500); ``None`` = as fast as SQS answers.
            on_progress: called after every batch with the counts so far.
            body: the body to send for an entry; default :meth:`DlqEntry.redrive_body` (the next generation).
                The DLQ sweep passes a rescued copy (same generation, see :mod:`sqsq.rescue`).

        Returns:
            The report; ``report.ok`` is False when some selected messages could not be moved (they are
            still in the DLQ, listed in ``failed``) or were sent but not deleted (``not_deleted``).

        Raises:
            ConfigError: ``native`` with filters, or ``max_per_second`` <= 0.
            AwsError: a receive from the DLQ failed (what was sent so far stays sent; nothing is lost).
        """
        if max_per_second is not None and max_per_second <= 0:
            raise ConfigError(f"max_per_second must be > 0, got {max_per_second}")
        report = RedriveReport(source_queue=self.source_queue, dlq=self.dlq_name, dry_run=dry_run)
        if selection.is_empty:
            return report
        if native:
            if not selection.everything or selection.task_ids or selection.task_names or selection.error_types:
                raise ConfigError("a native (server-side) redrive moves every message; it cannot take filters")
            if not dry_run and self._native(report, max_per_second):
                return report

        total = self.depth()
        reader = self._reader()
        started = time.monotonic()
        wanted_ids = set(selection.task_ids)
        try:
            for batch in self._scan(reader):
                chosen = [e for e in batch if selection.matches(e)]
                report.selected.extend(chosen)
                if chosen and not dry_run:
                    self._move(chosen, reader, report, started, max_per_second,
                               body or (lambda e: e.redrive_body(self.keyring)))
                report.scanned = reader.scanned
                if on_progress is not None:
                    on_progress(RedriveProgress(reader.scanned, len(report.moved), max(total, reader.scanned)))
                # --task-id alone: stop reading once every requested id was found.
                if wanted_ids and not (selection.everything or selection.task_names or selection.error_types):
                    wanted_ids -= {e.task_id for e in chosen} | {e.message_id for e in chosen}
                    if not wanted_ids:
                        break
        finally:
            reader.release()
        report.scanned = reader.scanned
        found = {e.task_id for e in report.selected} | {e.message_id for e in report.selected}
        report.not_found = sorted(set(selection.task_ids) - found)
        return report

    def remove(self, task_ids: Iterable[str]) -> list[str]:
        """Delete the dead letters of ``task_ids`` (e.g. stale copies of tasks that have since succeeded).

        Returns:
            The task ids deleted; the others stay (not found, or SQS refused the delete).

        Raises:
            AwsError: reading the DLQ failed.
        """
        wanted, removed = set(task_ids), []
        reader = self._reader()
        try:
            for batch in self._scan(reader):
                chosen = [e for e in batch if e.task_id in wanted]
                if not chosen:
                    continue
                handles = [reader.latest(e.message_id).receipt_handle for e in chosen]
                try:
                    failed = {int(f.id) for f in self.transport.delete_batch(self.dlq_name, handles)}
                except AwsError:
                    continue
                for i, e in enumerate(chosen):
                    if i not in failed:
                        removed.append(e.task_id)
                        reader.gone([e.message_id])
        finally:
            reader.release()
        return removed

    def _native(self, report: RedriveReport, max_per_second: float | None) -> bool:
        rate = None if max_per_second is None else max(1, min(500, round(max_per_second)))
        try:
            report.native_task_handle = self.transport.start_message_move_task(
                self.dlq_name, self.source_queue, rate
            )
        except QueueNotFound:
            raise
        except AwsError as exc:
            report.native_fallback_reason = str(exc)
            log.warning("StartMessageMoveTask is not available (%s); moving the messages client-side", exc.code)
            return False
        return True

    def _move(
        self,
        entries: Sequence[DlqEntry],
        reader: _Reader,
        report: RedriveReport,
        started: float,
        max_per_second: float | None,
        body_of: Callable[[DlqEntry], str],
    ) -> None:
        outgoing: list[tuple[DlqEntry, OutgoingMessage, int]] = []
        for entry in entries:
            refusal = entry.redrive_refusal(self.keyring)
            if refusal is not None:
                report.failed[entry.task_id] = refusal
                continue
            try:
                body = body_of(entry)
            except Exception as exc:  # one letter that cannot be re-encoded stays in the DLQ; the others move
                report.failed[entry.task_id] = f"cannot re-encode it ({type(exc).__name__}: {_cut(str(exc), 200)})"
                continue
            attrs = {k: dict(v) for k, v in entry.message.message_attributes.items()}
            size = body_size_bytes(body, attrs)
            if size > self.max_message_size_bytes:
                report.failed[entry.task_id] = (
                    f"PayloadTooLarge: {size} bytes > {self.source_queue}'s MaximumMessageSize "
                    f"{self.max_message_size_bytes} bytes; raise the queue's MaximumMessageSize to redrive it"
                )
                continue
            outgoing.append((entry, OutgoingMessage(id="", body=body, message_attributes=attrs), size))
        for chunk in split_batches(outgoing, _item_size, self.max_message_size_bytes):
            if max_per_second is not None:
                # Wait until sending this chunk keeps the average at or below max_per_second.
                due = started + (len(report.moved) + len(chunk)) / max_per_second
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            sent = self._send_chunk([(e, m) for e, m, _ in chunk], report)
            self._delete_sent(sent, reader, report)

    def _send_chunk(
        self, chunk: Sequence[tuple[DlqEntry, OutgoingMessage]], report: RedriveReport
    ) -> list[DlqEntry]:
        """Send one batch; returns the entries SQS accepted. Every failed entry is recorded, never dropped."""
        messages = [OutgoingMessage(str(i), m.body, 0, m.message_attributes) for i, (_, m) in enumerate(chunk)]
        result = send_batch_with_retries(self.transport, self.source_queue, messages, attempts=_ENTRY_RETRY_ATTEMPTS)
        for i, (entry, _) in enumerate(chunk):
            if str(i) in result.failed:
                report.failed[entry.task_id] = result.failed[str(i)]
        return [entry for i, (entry, _) in enumerate(chunk) if str(i) not in result.failed]

    def _delete_sent(self, sent: Sequence[DlqEntry], reader: _Reader, report: RedriveReport) -> None:
        if not sent:
            return
        handles = [reader.latest(e.message_id).receipt_handle for e in sent]
        try:
            failures = self.transport.delete_batch(self.dlq_name, handles)
            if failures:
                retry_positions = [int(f.id) for f in failures]
                again = self.transport.delete_batch(self.dlq_name, [handles[p] for p in retry_positions])
                failures = [
                    BatchFailure(str(retry_positions[int(f.id)]), f.code, f.message, f.sender_fault) for f in again
                ]
        except AwsError as exc:
            failures = [BatchFailure(str(i), exc.code or "AwsError", str(exc), False) for i in range(len(sent))]
        failed_positions = {int(f.id): f for f in failures}
        for i, entry in enumerate(sent):
            f = failed_positions.get(i)
            if f is None:
                report.moved.append(entry.task_id)
                reader.gone([entry.message_id])
            else:
                report.not_deleted[entry.task_id] = (
                    f"sent to {self.source_queue} but not deleted from {self.dlq_name} ({f.code}: {f.message}); "
                    "it is now in both queues"
                )

    # -- purge --------------------------------------------------------------------------------------------------

    def purge(self, ledger: PurgeLedger | None = None) -> None:
        """PurgeQueue on the DLQ, at most once per 60 s (see the module docstring).

        Args:
            ledger: where purges are remembered; default :meth:`PurgeLedger.default`.

        Raises:
            PurgeInProgress: this queue was purged less than 60 s ago (by sqsq here, or per SQS).
            AwsError: any other failure.
        """
        ledger = ledger or PurgeLedger.default()
        url = self.transport.queue_info(self.dlq_name).url
        now = time.time()
        last = ledger.last_purge_at(url)
        if last is not None and now - last < limits.SQS_PURGE_INTERVAL_SECONDS:
            raise PurgeInProgress(self.dlq_name, _retry_after(last, now))
        try:
            self.transport.purge(self.dlq_name)
        except AwsError as exc:
            if exc.code in _PURGE_IN_PROGRESS_CODES:
                raise PurgeInProgress(
                    self.dlq_name,
                    _retry_after(last, now) if last is not None else limits.SQS_PURGE_INTERVAL_SECONDS,
                ) from exc
            raise
        ledger.record(url, now)


def _cut(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _too_deep(value: Any, limit: int) -> bool:
    """Whether JSON-like ``value`` nests objects/arrays more than ``limit`` levels (iterative: never recurses)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _decode(body: str) -> tuple[Envelope | None, str | None, bool]:
    """``(envelope, decode_error, unreadable)`` of a DLQ body; never raises, whatever the body holds."""
    try:
        envelope = Envelope.from_body(body)
    except MessageDecodeError as exc:
        # JSON nested too deeply to parse: not printable either (the same recursion limit), so unreadable.
        return None, _cut(str(exc), DECODE_ERROR_MAX_CHARS), isinstance(exc.__cause__, RecursionError)
    except Exception as exc:  # e.g. RecursionError while describing a malformed envelope's input
        return None, f"body cannot be decoded ({type(exc).__name__}); it was not sent by sqsq", True
    if _too_deep(envelope.args, MAX_SHOWN_DEPTH):
        return envelope, None, True
    return envelope, None, False


def _retry_after(last: float, now: float) -> int:
    return max(1, int(limits.SQS_PURGE_INTERVAL_SECONDS - (now - last) + 0.999))


def _item_size(item: tuple[DlqEntry, OutgoingMessage, int]) -> int:
    return item[2]


# -- purge ledger ----------------------------------------------------------------------------------------------


class PurgeLedger:
    """When sqsq last purged each queue, in a small JSON file (``{queue_url: epoch_seconds}``).

    Entries older than 60 s are dropped on every write. An unreadable file counts as empty.

    Args:
        path: the JSON file (created with its directory on first write).
    """

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def default(cls, environ: Mapping[str, str] | None = None) -> PurgeLedger:
        """The ledger at ``$XDG_CACHE_HOME/sqsq/purges.json`` (default ``~/.cache/sqsq/purges.json``)."""
        env = os.environ if environ is None else environ
        base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
        return cls(base / "sqsq" / "purges.json")

    def _read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}

    def last_purge_at(self, queue_url: str) -> float | None:
        """Epoch seconds of the last recorded purge of ``queue_url``, or ``None``."""
        return self._read().get(queue_url)

    def record(self, queue_url: str, at: float) -> None:
        """Remember a purge of ``queue_url`` at ``at`` (epoch seconds). A write failure is logged, not raised."""
        data = {k: v for k, v in self._read().items() if at - v < limits.SQS_PURGE_INTERVAL_SECONDS}
        data[queue_url] = at
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("cannot record the purge in %s (%s); the 60 s rule is then left to SQS", self.path, exc)


def _recorded_failure_of(record: ResultRecord | None, envelope: Envelope) -> bool:
    """True when ``record`` is a FAILURE written by this envelope's message (same task name and sent_at)."""
    return (
        record is not None
        and record.status is Status.FAILURE
        and record.task_name == envelope.task
        and stored_sent_at(record.sent_at) == stored_sent_at(envelope.sent_at)
    )


def _sent_order(entry: DlqEntry) -> tuple[bool, float]:
    """Oldest sent first; entries whose ``sent_at`` is not a number (NaN) last."""
    sent_at = entry.sent_at
    return (math.isnan(sent_at), 0.0 if math.isnan(sent_at) else sent_at)


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


__all__ = [
    "DEFAULT_VISIBILITY_TIMEOUT_SECONDS",
    "MAX_SHOWN_DEPTH",
    "UNDECODABLE",
    "DeadLetterQueue",
    "DlqEntry",
    "PurgeLedger",
    "RedriveProgress",
    "RedriveReport",
    "Selection",
    "format_age",
    "resolve_source_queue",
]
