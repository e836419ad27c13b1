"""Reading a queue without consuming it: rounds of ReceiveMessage that hide what was read, then release it."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqsq import limits
from sqsq.errors import AwsError
from sqsq.transport import ReceivedMessage, Transport

log = logging.getLogger("sqsq.dlq")


class Reader:
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
