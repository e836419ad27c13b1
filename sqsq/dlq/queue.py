"""The dead-letter queue of one of an app's queues: :class:`DeadLetterQueue` (list, find, redrive, remove, purge)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from sqsq import limits
from sqsq.app import App
from sqsq.dlq.decode import decode_body, recorded_failure_of, sent_order
from sqsq.dlq.entry import DECODE_ERROR_MAX_CHARS, MAX_SHOWN_DEPTH, DlqEntry, cut
from sqsq.dlq.purge import PurgeLedger, purge_queue
from sqsq.dlq.reader import Reader
from sqsq.dlq.redrive import run_redrive
from sqsq.dlq.selection import RedriveProgress, RedriveReport, Selection
from sqsq.errors import AwsError, ConfigError, MessageDecodeError, SignatureError
from sqsq.message import Envelope, undecodable_id
from sqsq.payloads import MESSAGE_PREFIX, PayloadPointer, deletable_message_key, parse_pointer, resolve_body
from sqsq.results import Status
from sqsq.transport import ReceivedMessage, Transport

DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 120
"""How long messages read from a DLQ stay hidden while a listing or redrive runs (made visible again after)."""
LIST_WAIT_SECONDS = 1
"""ReceiveMessage WaitTimeSeconds while reading a DLQ: 1 s asks every SQS server; 0 may miss messages."""


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

    def open_reader(self) -> Reader:
        """A reader of the DLQ (hides what it reads; call its ``release()`` at the end). Used with :meth:`scan`."""
        return Reader(self.transport, self.dlq_name, self.visibility_timeout_seconds, self.wait_seconds)

    def _entry(self, message: ReceivedMessage) -> DlqEntry:
        try:
            payloads = self.app.payloads if parse_pointer(message.body) is not None else None
            body, pointer = resolve_body(message.body, None if payloads is None else payloads.get)
        except (MessageDecodeError, AwsError) as exc:  # listed as undecodable, with the reason; moved unchanged
            failed = DlqEntry(message, None, cut(str(exc), DECODE_ERROR_MAX_CHARS), None)
            return replace(failed, record=self.app.results.get(failed.task_id))
        return replace(self._decoded(message, body), pointer=pointer)

    def _decoded(self, message: ReceivedMessage, body: str) -> DlqEntry:
        envelope, decode_error, unreadable = decode_body(body)
        body_id = undecodable_id(message.body)
        if envelope is None:
            entry = DlqEntry(message, None, decode_error, self.app.results.get(body_id))
            return replace(entry, unreadable=True) if unreadable else entry
        if self.keyring is not None and self._unverified(envelope):
            entry = DlqEntry(message, envelope, None, self.app.results.get(body_id), record_id=body_id)
        else:
            entry = DlqEntry(message, envelope, None, self.app.results.get(envelope.id))
            if not recorded_failure_of(entry.record, envelope):
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

    def scan(self, reader: Reader) -> Iterator[list[DlqEntry]]:
        """The DLQ's messages as entries, one receive round at a time, until a round brings nothing new."""
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
        reader = self.open_reader()
        out: list[DlqEntry] = []
        try:
            for batch in self.scan(reader):
                out.extend(e for e in batch if selection is None or selection.matches(e))
        finally:
            reader.release()
        return sorted(out, key=sent_order)

    def find(self, task_id: str) -> DlqEntry | None:
        """The DLQ message of ``task_id`` (or of that message id), or ``None``; stops reading once found."""
        reader = self.open_reader()
        try:
            for batch in self.scan(reader):
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
        """Move the selected messages back to the source queue (see :mod:`sqsq.dlq`).

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
        return run_redrive(self, selection, dry_run=dry_run, native=native, max_per_second=max_per_second,
                           on_progress=on_progress, body=body)

    def remove(self, task_ids: Iterable[str]) -> list[str]:
        """Delete the dead letters of ``task_ids`` (e.g. stale copies of tasks that have since succeeded).

        Returns:
            The task ids deleted; the others stay (not found, or SQS refused the delete).

        Raises:
            AwsError: reading the DLQ failed.
        """
        wanted, removed = set(task_ids), []
        reader = self.open_reader()
        try:
            for batch in self.scan(reader):
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


    def purge(self, ledger: PurgeLedger | None = None) -> None:
        """PurgeQueue on the DLQ, at most once per 60 s (see :mod:`sqsq.dlq`), then delete the S3 objects its
        offloaded messages pointed to (read before the purge; one arriving in between is left to the lifecycle rule).

        Args:
            ledger: where purges are remembered; default :meth:`PurgeLedger.default`.

        Raises:
            PurgeInProgress: this queue was purged less than 60 s ago (by sqsq here, or per SQS).
            AwsError: any other failure.
        """
        pointers = self._pointers()
        purge_queue(self.transport, self.dlq_name, ledger)
        payloads = self.app.payloads
        if payloads is not None:
            for pointer in pointers:
                payloads.delete(pointer)  # the offloaded bodies go with their messages (sqsq.payloads)

    def _owned(self, pointer: PayloadPointer) -> bool:
        """True when ``pointer`` names sqsq's own object for the envelope stored there (read to learn its id)."""
        payloads = self.app.payloads
        if payloads is None or pointer.bucket != payloads.bucket or not pointer.key.startswith(MESSAGE_PREFIX):
            return False  # cheap refusals first: nothing is read for them
        try:
            envelope_id = Envelope.from_body(payloads.get(pointer).decode("utf-8")).id
        except (MessageDecodeError, AwsError, UnicodeDecodeError):
            return False
        return deletable_message_key(pointer, payloads.bucket, envelope_id)

    def _pointers(self) -> list[PayloadPointer]:
        """The S3 objects of the DLQ's messages that sqsq may delete with them (read without consuming them): only
        its own object for each envelope (:func:`sqsq.payloads.deletable_message_key`, the object read to know the
        envelope's id); none without a payload bucket. A pointer to anything else is never followed to a delete."""
        if self.app.payloads is None:
            return []
        reader = self.open_reader()
        found: list[PayloadPointer] = []
        try:
            while True:
                new = reader.next_round()
                if not new:
                    return found
                for m in new:
                    try:
                        pointer = parse_pointer(m.body)
                    except MessageDecodeError:
                        pointer = None
                    if pointer is not None and self._owned(pointer):
                        found.append(pointer)
        finally:
            reader.release()
