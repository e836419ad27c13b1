"""Decoding a dead letter's body without ever raising, and the small rules the DLQ tools sort and match by."""

from __future__ import annotations

import math
from typing import Any

from sqsq.dlq.entry import DECODE_ERROR_MAX_CHARS, MAX_SHOWN_DEPTH, DlqEntry, cut
from sqsq.errors import MessageDecodeError
from sqsq.message import Envelope
from sqsq.results import ResultRecord, Status, stored_sent_at


def too_deep(value: Any, limit: int) -> bool:
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


def decode_body(body: str) -> tuple[Envelope | None, str | None, bool]:
    """``(envelope, decode_error, unreadable)`` of a DLQ body; never raises, whatever the body holds."""
    try:
        envelope = Envelope.from_body(body)
    except MessageDecodeError as exc:
        # JSON nested too deeply to parse: not printable either (the same recursion limit), so unreadable.
        return None, cut(str(exc), DECODE_ERROR_MAX_CHARS), isinstance(exc.__cause__, RecursionError)
    except Exception as exc:  # e.g. RecursionError while describing a malformed envelope's input
        return None, f"body cannot be decoded ({type(exc).__name__}); it was not sent by sqsq", True
    if too_deep(envelope.args, MAX_SHOWN_DEPTH):
        return envelope, None, True
    return envelope, None, False


def recorded_failure_of(record: ResultRecord | None, envelope: Envelope) -> bool:
    """True when ``record`` is a FAILURE written by this envelope's message (same task name and sent_at)."""
    return (
        record is not None
        and record.status is Status.FAILURE
        and record.task_name == envelope.task
        and stored_sent_at(record.sent_at) == stored_sent_at(envelope.sent_at)
    )


def sent_order(entry: DlqEntry) -> tuple[bool, float]:
    """Oldest sent first; entries whose ``sent_at`` is not a number (NaN) last."""
    sent_at = entry.sent_at
    return (math.isnan(sent_at), 0.0 if math.isnan(sent_at) else sent_at)
