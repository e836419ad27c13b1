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

Modules, one job each: :mod:`~sqsq.dlq.entry` (one letter and how it reads), :mod:`~sqsq.dlq.decode` (decoding a
body that may be anything), :mod:`~sqsq.dlq.selection` (what to act on, what a redrive did),
:mod:`~sqsq.dlq.reader` (reading without consuming), :mod:`~sqsq.dlq.queue` (:class:`DeadLetterQueue`),
:mod:`~sqsq.dlq.redrive` and :mod:`~sqsq.dlq.purge`.
"""

from __future__ import annotations

from sqsq.dlq.entry import (
    ARGS_SUMMARY_CHARS,
    DECODE_ERROR_MAX_CHARS,
    MAX_AGE_SECONDS,
    MAX_SHOWN_DEPTH,
    NO_OUTCOME_RECORDED,
    UNDECODABLE,
    DlqEntry,
    format_age,
)
from sqsq.dlq.purge import PurgeLedger
from sqsq.dlq.queue import DEFAULT_VISIBILITY_TIMEOUT_SECONDS, LIST_WAIT_SECONDS, DeadLetterQueue, resolve_source_queue
from sqsq.dlq.selection import RedriveProgress, RedriveReport, Selection

__all__ = [
    "ARGS_SUMMARY_CHARS",
    "DECODE_ERROR_MAX_CHARS",
    "DEFAULT_VISIBILITY_TIMEOUT_SECONDS",
    "LIST_WAIT_SECONDS",
    "MAX_AGE_SECONDS",
    "MAX_SHOWN_DEPTH",
    "NO_OUTCOME_RECORDED",
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
