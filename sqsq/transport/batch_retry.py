"""Retry the failed entries of one SQS batch call (SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch).

botocore's standard retry mode already retries a whole request that was throttled or failed with a 5xx
(:mod:`sqsq.transport.aws`). A batch request can also *succeed* with some entries in ``Failed``: SQS then says per
entry whether the sender is at fault (``SenderFault``: the same entry can never succeed) or not (throttled, internal
error: it may succeed when tried again). :class:`BatchRetry` tries the second kind again, with exponential backoff
and full jitter (:class:`sqsq.retry.Backoff`), and never sends an accepted entry twice.

It does not sleep by itself: :meth:`BatchRetry.attempt` makes one call and says when the next is due, so a caller
that must not block (the worker's acknowledger) keeps the batch and tries again on a later turn of its loop, while
a caller that may wait (a producer) uses :meth:`BatchRetry.run`.
See https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_BatchResultErrorEntry.html.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from sqsq.errors import AwsError
from sqsq.retry import Backoff

T = TypeVar("T")


class EntryFailure(Protocol):
    """What :class:`BatchRetry` reads of a failed entry (:class:`sqsq.transport.BatchFailure` has it)."""

    @property
    def id(self) -> str: ...

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def sender_fault(self) -> bool: ...


def position_id(index: int, entry: object) -> str:
    """An entry's batch id as sqsq's delete/visibility calls assign it: its position, ``"0"``…``"9"``."""
    return str(index)


class BatchRetry(Generic[T]):
    """The entries of one batch call, tried until each was accepted, failed for good, or ran out of attempts.

    Args:
        entries: up to 10 entries (what ``call`` is given).
        attempts: calls at most, >= 1 (on top of botocore's retries of the whole request).
        backoff: pause before the next call after ``n`` calls with retryable failures (full jitter by default).
        entry_id: the batch entry id of ``(position, entry)`` in the list a call is given (default: the position).
        retry_errors: a call that raises :class:`sqsq.errors.AwsError` counts as every pending entry failing
            without a sender fault (True), or ends the retries with every pending entry failed (False; the error is
            kept in :attr:`error`).

    Attributes:
        pending: entries still to be tried (empty once :attr:`done`).
        failed: ``(entry, "Code: message")`` of each entry that failed for good.
        error: the error of a call that raised and ended the retries, or None.
        due_at: monotonic seconds when the next call may be made.
    """

    def __init__(
        self,
        entries: Sequence[T],
        *,
        attempts: int,
        backoff: Backoff,
        entry_id: Callable[[int, T], str] = position_id,
        retry_errors: bool = True,
    ):
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self.pending: list[T] = list(entries)
        self.failed: list[tuple[T, str]] = []
        self.error: AwsError | None = None
        self.due_at = 0.0
        self._attempts = attempts
        self._backoff = backoff
        self._entry_id = entry_id
        self._retry_errors = retry_errors
        self._calls = 0

    @property
    def done(self) -> bool:
        """True when no entry is left to try."""
        return not self.pending

    def attempt(self, call: Callable[[list[T]], Sequence[EntryFailure]]) -> None:
        """Make one call with the pending entries; keep the retryable failures pending (with :attr:`due_at` set).

        Args:
            call: the batch request; returns the entries SQS did not accept (ids as ``entry_id`` gives them).
        """
        entries, self.pending = self.pending, []
        self._calls += 1
        last = self._calls >= self._attempts
        try:
            failures = call(entries)
        except AwsError as exc:
            why = f"{exc.code or type(exc).__name__}: {exc}"
            if last or not self._retry_errors:
                self.error = None if self._retry_errors else exc
                self.failed += [(e, why) for e in entries]
            else:
                self.pending = entries
        else:
            by_id = {self._entry_id(i, e): e for i, e in enumerate(entries)}
            for f in failures:
                entry = by_id[f.id]
                if f.sender_fault or last:
                    self.failed.append((entry, f"{f.code}: {f.message}"))
                else:
                    self.pending.append(entry)
        if self.pending:
            self.due_at = time.monotonic() + self._backoff.delay_seconds(self._calls)

    def run(self, call: Callable[[list[T]], Sequence[EntryFailure]], sleep: Callable[[float], None] = time.sleep) -> None:
        """Call until :attr:`done`, sleeping the backoff between calls (for callers that may block)."""
        while not self.done:
            wait = self.due_at - time.monotonic()
            if wait > 0:
                sleep(wait)
            self.attempt(call)
