"""Redrive: send selected dead letters back to their source queue, send first and delete second."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqsq.dlq.entry import DlqEntry, cut
from sqsq.dlq.reader import Reader
from sqsq.dlq.selection import RedriveProgress, RedriveReport, Selection
from sqsq.errors import AwsError, ConfigError, QueueNotFound
from sqsq.message import body_size_bytes
from sqsq.payloads import message_key, size_attribute
from sqsq.transport import BatchFailure, OutgoingMessage, send_batch_with_retries, split_batches
from sqsq.transport.copies import copy_of

if TYPE_CHECKING:
    from sqsq.dlq.queue import DeadLetterQueue

log = logging.getLogger("sqsq.dlq")

_ENTRY_RETRY_ATTEMPTS = 3


def run_redrive(
    dlq: DeadLetterQueue,
    selection: Selection,
    *,
    dry_run: bool = False,
    native: bool = False,
    max_per_second: float | None = None,
    on_progress: Callable[[RedriveProgress], None] | None = None,
    body: Callable[[DlqEntry], str] | None = None,
) -> RedriveReport:
    """Move the selected messages of ``dlq`` back to its source queue.

    The body of :meth:`sqsq.dlq.DeadLetterQueue.redrive`, whose docstring gives the arguments, the report returned
    and the errors raised (ConfigError, AwsError): kept there, once, for the users who call the method.
    """
    if max_per_second is not None and max_per_second <= 0:
        raise ConfigError(f"max_per_second must be > 0, got {max_per_second}")
    report = RedriveReport(source_queue=dlq.source_queue, dlq=dlq.dlq_name, dry_run=dry_run)
    if selection.is_empty:
        return report
    if native:
        if not selection.everything or selection.task_ids or selection.task_names or selection.error_types:
            raise ConfigError("a native (server-side) redrive moves every message; it cannot take filters")
        if not dry_run and _native(dlq, report, max_per_second):
            return report

    total = dlq.depth()
    reader = dlq.open_reader()
    started = time.monotonic()
    wanted_ids = set(selection.task_ids)
    try:
        for batch in dlq.scan(reader):
            chosen = [e for e in batch if selection.matches(e)]
            report.selected.extend(chosen)
            if chosen and not dry_run:
                _move(dlq, chosen, reader, report, started, max_per_second,
                           body or (lambda e: e.redrive_body(dlq.keyring)))
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


def _native(dlq: DeadLetterQueue, report: RedriveReport, max_per_second: float | None) -> bool:
    rate = None if max_per_second is None else max(1, min(500, round(max_per_second)))
    try:
        report.native_task_handle = dlq.transport.start_message_move_task(
            dlq.dlq_name, dlq.source_queue, rate
        )
    except QueueNotFound:
        raise
    except AwsError as exc:
        report.native_fallback_reason = str(exc)
        log.warning("StartMessageMoveTask is not available (%s); moving the messages client-side", exc.code)
        return False
    return True

def _move(
    dlq: DeadLetterQueue,
    entries: Sequence[DlqEntry],
    reader: Reader,
    report: RedriveReport,
    started: float,
    max_per_second: float | None,
    body_of: Callable[[DlqEntry], str],
) -> None:
    outgoing: list[tuple[DlqEntry, OutgoingMessage, int]] = []
    for entry in entries:
        refusal = entry.redrive_refusal(dlq.keyring)
        if refusal is not None:
            report.failed[entry.task_id] = refusal
            continue
        try:
            body = body_of(entry)
        except Exception as exc:  # one letter that cannot be re-encoded stays in the DLQ; the others move
            report.failed[entry.task_id] = f"cannot re-encode it ({type(exc).__name__}: {cut(str(exc), 200)})"
            continue
        attrs = {k: dict(v) for k, v in entry.message.message_attributes.items()}
        if entry.pointer is not None and body != entry.message.body:
            try:
                body, attrs = _offload_again(dlq, entry, body, attrs)
            except AwsError as exc:
                report.failed[entry.task_id] = f"cannot store its payload again ({cut(str(exc), 200)})"
                continue
        size = body_size_bytes(body, attrs)
        if size > dlq.max_message_size_bytes:
            report.failed[entry.task_id] = (
                f"PayloadTooLarge: {size} bytes > {dlq.source_queue}'s MaximumMessageSize "
                f"{dlq.max_message_size_bytes} bytes; raise the queue's MaximumMessageSize to redrive it"
            )
            continue
        copy = copy_of(entry.message, dlq.source_queue, "redrive", entry_id="", body=body, message_attributes=attrs)
        outgoing.append((entry, copy, size))
    for chunk in split_batches(outgoing, _item_size, dlq.max_message_size_bytes):
        if max_per_second is not None:
            # Wait until sending this chunk keeps the average at or below max_per_second.
            due = started + (len(report.moved) + len(chunk)) / max_per_second
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sent = _send_chunk(dlq, [(e, m) for e, m, _ in chunk], report)
        _delete_sent(dlq, sent, reader, report)


def _offload_again(
    dlq: DeadLetterQueue, entry: DlqEntry, body: str, attrs: dict[str, dict[str, Any]]
) -> tuple[str, dict[str, dict[str, Any]]]:
    """An offloaded letter's new envelope (next generation) stored again under its task's key, replacing the object
    sqsq wrote at send: the pointer body and attributes to send. (Only sqsq envelopes are re-encoded, so the key is
    always sqsq's; a letter written by another producer moves unchanged, its pointer with it.)

    Raises:
        AwsError: S3 refused, or no payload bucket is configured here (code ``NoPayloadBucket``).
    """
    payloads = dlq.app.payloads
    if payloads is None:
        raise AwsError("the letter's payload is in S3 and this app has no payload bucket; set SQSQ_PAYLOAD_BUCKET",
                       code="NoPayloadBucket")
    data = body.encode("utf-8")
    pointer = payloads.put(message_key(entry.envelope.id if entry.envelope is not None else entry.task_id), data)
    return pointer.to_body(), {**attrs, **size_attribute(len(data))}


def _send_chunk(
    dlq: DeadLetterQueue, chunk: Sequence[tuple[DlqEntry, OutgoingMessage]], report: RedriveReport
) -> list[DlqEntry]:
    """Send one batch; returns the entries SQS accepted. Every failed entry is recorded, never dropped."""
    messages = [replace(m, id=str(i)) for i, (_, m) in enumerate(chunk)]
    result = send_batch_with_retries(dlq.transport, dlq.source_queue, messages, attempts=_ENTRY_RETRY_ATTEMPTS)
    for i, (entry, _) in enumerate(chunk):
        if str(i) in result.failed:
            report.failed[entry.task_id] = result.failed[str(i)]
    return [entry for i, (entry, _) in enumerate(chunk) if str(i) not in result.failed]

def _delete_sent(dlq: DeadLetterQueue, sent: Sequence[DlqEntry], reader: Reader, report: RedriveReport) -> None:
    if not sent:
        return
    handles = [reader.latest(e.message_id).receipt_handle for e in sent]
    try:
        failures = dlq.transport.delete_batch(dlq.dlq_name, handles)
        if failures:
            retry_positions = [int(f.id) for f in failures]
            again = dlq.transport.delete_batch(dlq.dlq_name, [handles[p] for p in retry_positions])
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
                f"sent to {dlq.source_queue} but not deleted from {dlq.dlq_name} ({f.code}: {f.message}); "
                "it is now in both queues"
            )

# -- purge --------------------------------------------------------------------------------------------------


def _item_size(item: tuple[DlqEntry, OutgoingMessage, int]) -> int:
    return item[2]
