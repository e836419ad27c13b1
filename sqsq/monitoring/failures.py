"""Dead letters with their reasons, and the actions on them, through :class:`sqsq.dlq.DeadLetterQueue`: the same
code as ``sqsq dlq list``, ``sqsq dlq redrive`` and ``sqsq dlq purge``.

Reading a DLQ receives its messages (hidden for a moment, then released; their DLQ receive count grows), so the
listing is cached for :data:`DLQ_CACHE_SECONDS` and a live page does not re-read it on every refresh.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sqsq.app import App
from sqsq.dlq import DeadLetterQueue, DlqEntry, RedriveReport, Selection
from sqsq.monitoring.masking import mask

DLQ_CACHE_SECONDS = 10.0
"""How long a DLQ listing is reused before it is read again (an action clears it at once)."""
DLQ_READ_WAIT_SECONDS = 0
"""ReceiveMessage WaitTimeSeconds while listing (short polls: the page answers at once)."""


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter as the failures page shows it (arguments masked)."""

    queue: str
    entry: DlqEntry

    def to_json(self) -> dict[str, Any]:
        """:meth:`DlqEntry.to_json` with the source queue and the arguments masked."""
        out = self.entry.to_json()
        out["args"] = mask(out["args"])
        out["queue"] = self.queue
        return out


class Failures:
    """The app's DLQs: listing (cached), retry of one task, bulk redrive by filter, purge.

    Args:
        app: the app.
    """

    def __init__(self, app: App):
        self.app = app
        self._lock = threading.Lock()
        self._cache: tuple[float, list[DeadLetter]] | None = None

    def _dlq(self, logical: str) -> DeadLetterQueue:
        return DeadLetterQueue(self.app, logical, wait_seconds=DLQ_READ_WAIT_SECONDS)

    def dead_letters(self, fresh: bool = False) -> list[DeadLetter]:
        """Every dead letter of every queue with a DLQ, newest failure first.

        Raises:
            QueueNotFound, AwsError.
        """
        with self._lock:
            if not fresh and self._cache is not None and time.monotonic() - self._cache[0] < DLQ_CACHE_SECONDS:
                return self._cache[1]
            out = []
            for logical in self.app.logical_queues():
                if not self.app.transport.queue_info(self.app.queue_name(logical)).dead_letter_target_arn:
                    continue
                out += [DeadLetter(self.app.queue_name(logical), e) for e in self._dlq(logical).entries()]
            out.sort(key=lambda d: -(d.entry.record.updated_at if d.entry.record else 0.0))
            self._cache = (time.monotonic(), out)
            return out

    def find(self, task_id: str) -> DeadLetter | None:
        """The dead letter of ``task_id`` in the (cached) listing, or None."""
        return next((d for d in self.dead_letters() if d.entry.task_id == task_id), None)

    def redrive(self, selection: Selection, queues: list[str] | None = None) -> list[RedriveReport]:
        """Redrive ``selection`` from the DLQ of each queue (logical names; default all with a DLQ).

        Returns:
            One report per DLQ read (``moved``, ``not_found``...).

        Raises:
            ConfigError, AwsError: as :meth:`DeadLetterQueue.redrive`.
        """
        reports = []
        for logical in queues or self.app.logical_queues():
            if not self.app.transport.queue_info(self.app.queue_name(logical)).dead_letter_target_arn:
                continue
            reports.append(self._dlq(logical).redrive(selection))
            if selection.task_ids and not selection.everything and not reports[-1].not_found:
                break  # every requested id was found in this DLQ
        with self._lock:
            self._cache = None
        return reports

    def purge(self, logical: str) -> None:
        """Purge one queue's DLQ (SQS allows one purge per queue per 60 s; see :func:`sqsq.dlq.purge.purge_queue`).

        Raises:
            ConfigError, AwsError.
        """
        self._dlq(logical).purge()
        with self._lock:
            self._cache = None
