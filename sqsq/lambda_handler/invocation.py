"""The state of one invocation: its context, counts, run times and the visibility changes to send at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Invocation", "LambdaContextLike"]


class LambdaContextLike(Protocol):
    """The part of Lambda's context object the handler reads."""

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda stops the invocation."""
        ...


@dataclass(eq=False)  # per-invocation state, never compared: no generated __eq__ (issue 11, start-up)
class Invocation:
    """Per-invocation state (a handler may serve several invocations at once when run locally).

    Attributes:
        context: Lambda's context, or None (no deadline).
        visibility: per queue name, ``(receipt handle, visibility seconds)`` to send before returning.
        counts: what happened to the records, by name (``succeeded``, ``retried``, ``not_started``...).
        durations_seconds: how long each record that ran took.
        handled: message ids the record handler was called for (a failed record not among them was held back by
            Powertools' FIFO processor because an earlier record of its group failed).
        remaining_time_unknown: the context cannot tell the remaining time (logged once); no record is held back
            for lack of time.
    """

    context: LambdaContextLike | None
    visibility: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    durations_seconds: list[float] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)
    remaining_time_unknown: bool = False

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the count ``name``."""
        self.counts[name] = self.counts.get(name, 0) + n

    def change_visibility(self, queue_name: str, receipt_handle: str, seconds: int) -> None:
        """Queue a visibility change (sent in batches of 10 when the batch is done)."""
        self.visibility.setdefault(queue_name, []).append((receipt_handle, seconds))
