"""The acknowledger: turns outcomes into SQS calls in batches of 10, on its own thread.

- :class:`sqsq.executor.Ack`: DeleteMessageBatch (the outcome is already durable: the executor wrote it first),
  then the S3 object of an offloaded body (:mod:`sqsq.payloads`);
- :class:`sqsq.executor.RetryAfter` / :class:`sqsq.executor.Release`: ChangeMessageVisibilityBatch (or nothing, to
  let the visibility timeout run out); on the message's last receive a release sends a rescued copy instead
  (:mod:`sqsq.rescue`) and deletes the original;
- :class:`sqsq.executor.DeadLetter`: a copy to the DLQ first, then the delete, so the delete cannot lose it.

A batch is sent once it holds 10 entries or its oldest entry has waited :data:`ACK_FLUSH_SECONDS`. Entries SQS
fails without a sender fault are tried again (:class:`sqsq.transport.batch_retry.BatchRetry`, jittered backoff)
on a later turn of the loop, never by sleeping on this thread; a message stays held until its batch is done. What
still fails is logged with the message ids: a failed delete comes back and is acknowledged as a duplicate (its
SUCCESS is recorded); a failed visibility change comes back after its visibility timeout.

An outcome the results store could not be written for (``Release`` not deferred) pauses receiving with a growing
delay (:attr:`Acknowledger.paused_until`), so messages wait in SQS rather than spend their receives here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqsq import limits
from sqsq.app import App
from sqsq.errors import AwsError
from sqsq.executor import Ack, DeadLetter, LogThrottle, Outcome, Release, RetryAfter
from sqsq.executor.payload import delete_payload
from sqsq.rescue import is_last_receive, send_rescue
from sqsq.retry import Backoff, clamp_visibility_seconds
from sqsq.transport import BatchFailure
from sqsq.transport.batch_retry import BatchRetry
from sqsq.transport.copies import copy_of
from sqsq.worker.inbox import OutcomeInbox
from sqsq.worker.slots import Held, Slots
from sqsq.worker.stats import WorkerStats

log = logging.getLogger("sqsq.worker")

ACK_FLUSH_SECONDS = 0.2
"""Longest a finished message waits for its batch of 10 to fill before the batch is sent anyway."""
ACK_ENTRY_ATTEMPTS = 3
"""Tries of a DeleteMessageBatch / ChangeMessageVisibilityBatch entry sqsq makes (on top of botocore's)."""
ACK_ENTRY_RETRY_SECONDS = 0.2
"""Bound of the (jittered) pause before trying failed entries again, doubled each time."""
ACK_ENTRY_BACKOFF = Backoff(base_seconds=ACK_ENTRY_RETRY_SECONDS, max_seconds=5.0)
AWS_ERROR_BACKOFF_BASE_SECONDS = 1.0
"""First pause after a failed receive (or results-store failure), doubled on each further failure."""
AWS_ERROR_BACKOFF_MAX_SECONDS = 30.0
"""Longest pause between receives that keep failing (and after results-store failures)."""

_T = TypeVar("_T")
_Call = Callable[[list[Held]], list[BatchFailure]]
_Pending = tuple[BatchRetry[Held], _Call, Callable[[BatchRetry[Held]], None]]


def _batches(pending: dict[str, list[_T]], all_: bool) -> list[tuple[str, list[_T]]]:
    """Take the full batches of 10 (``all_``: also the partial ones) out of ``pending``, by queue."""
    step = limits.SQS_MAX_BATCH_ENTRIES
    out: list[tuple[str, list[_T]]] = []
    for queue_name in list(pending):
        entries = pending[queue_name]
        cut = len(entries) if all_ else len(entries) - len(entries) % step
        out.extend((queue_name, entries[i : i + step]) for i in range(0, cut, step))
        if cut == len(entries):
            del pending[queue_name]
        else:
            pending[queue_name] = entries[cut:]
    return out


def _oldest_waiting(
    deletes: dict[str, list[Held]], visibility: dict[str, list[tuple[Held, int]]], arrived: dict[Held, float]
) -> float | None:
    """When the oldest entry still waiting for its batch arrived (None: none waits); ``arrived`` is trimmed to them.

    The deadline is the oldest *waiting* entry's: after a full batch is sent, what is left may have arrived later
    than the batch's first entry (entries of two receives interleave), and timing those from the first would send
    them as a partial batch early, one DeleteMessageBatch more than the traffic needs.
    """
    waiting = [h for entries in deletes.values() for h in entries]
    waiting += [h for entries in visibility.values() for h, _ in entries]
    if len(arrived) != len(waiting):
        kept = {h: arrived[h] for h in waiting if h in arrived}
        arrived.clear()
        arrived.update(kept)
    return min(arrived.values(), default=None)


def acked_task_id(held: Held) -> str | None:
    """The envelope id an acknowledged message carried (its Ack's, else the receiver's decode), or None."""
    if isinstance(held.outcome, Ack) and held.outcome.task_id is not None:
        return held.outcome.task_id
    return held.envelope.id if held.envelope is not None else None


class Acknowledger:
    """Receives ``(held, outcome)`` from the pool (:meth:`put`) and acknowledges on its thread (:meth:`run`).

    Args:
        app: for its transport (SQS calls) and rescue sends.
        slots: the held messages (a message is forgotten once its acknowledgement is done).
        stats: counters to update.
        throttle: where recurring failures are logged.
        after_move: told, for each DeadLetter outcome, whether its copy reached the DLQ (the FIFO group gate,
            :meth:`sqsq.worker.groups.GroupGate.moved`), or None.
    """

    def __init__(
        self, app: App, slots: Slots, stats: WorkerStats, throttle: LogThrottle,
        after_move: Callable[[Held, bool], None] | None = None,
    ):
        self._app = app
        self._after_move = after_move
        self._slots = slots
        self._stats = stats
        self._throttle = throttle
        self._inbox = OutcomeInbox()
        self._retrying: list[_Pending] = []
        self._store_failures = 0
        self.paused_until = 0.0
        """Monotonic seconds until which receiving pauses (the results store failed)."""

    def put(self, held: Held, outcome: Outcome) -> None:
        """Hand over one outcome (thread-safe)."""
        self._inbox.put(held, outcome)

    def close(self) -> None:
        """Flush what is buffered, finish the retries in progress, then end :meth:`run`."""
        self._inbox.close()

    def run(self) -> None:
        """Acknowledge until :meth:`close` (the thread's target)."""
        deletes: dict[str, list[Held]] = {}
        visibility: dict[str, list[tuple[Held, int]]] = {}
        arrived: dict[Held, float] = {}  # when each waiting entry's outcome arrived: the deadline is the oldest's
        oldest: float | None = None
        done = False
        while not done or self._retrying:
            held_entries = sum(map(len, deletes.values())) + sum(map(len, visibility.values()))
            items, done = self._inbox.take(self._next_wait(oldest), held_entries)
            now = time.monotonic()
            for held, outcome in items:
                arrived.setdefault(held, now)
                try:
                    self._route(held, outcome, deletes, visibility)
                except Exception:  # never lose the acknowledger; what it did not delete comes back (deduplicated)
                    log.exception("unexpected error acknowledging message %s", held.message.message_id)
            try:
                oldest = _oldest_waiting(deletes, visibility, arrived)
                flush_all = done or (oldest is not None and time.monotonic() - oldest >= ACK_FLUSH_SECONDS)
                self._flush(deletes, visibility, flush_all)
                oldest = _oldest_waiting(deletes, visibility, arrived)
                self._retry_due()
            except Exception:  # never lose the acknowledger; what it did not delete comes back and is deduplicated
                log.exception("unexpected error acknowledging messages")

    def _next_wait(self, oldest: float | None) -> float:
        now = time.monotonic()
        wait = ACK_FLUSH_SECONDS if oldest is None else max(0.0, oldest + ACK_FLUSH_SECONDS - now)
        if self._retrying:
            wait = min(wait, max(0.0, min(b.due_at for b, _, _ in self._retrying) - now))
        return wait

    def _flush(self, deletes: dict[str, list[Held]], visibility: dict[str, list[tuple[Held, int]]], all_: bool) -> None:
        """Send every full batch of 10 (``all_``: every entry) per queue; a partial batch waits for its deadline."""
        for queue_name, batch in _batches(deletes, all_):
            self._delete(queue_name, batch)
        for queue_name, changes in _batches(visibility, all_):
            self._change_visibility(queue_name, changes)

    def _retry_due(self) -> None:
        now = time.monotonic()
        due = [p for p in self._retrying if p[0].due_at <= now]
        self._retrying = [p for p in self._retrying if p[0].due_at > now]
        for batch, call, finished in due:
            self._attempt(batch, call, finished, wait=False)

    def _attempt(
        self, batch: BatchRetry[Held], call: _Call, finished: Callable[[BatchRetry[Held]], None], *, wait: bool
    ) -> None:
        """One call now; the failed entries wait for a later turn (``wait``: retried here, sleeping between)."""
        if wait:
            batch.run(call)
        else:
            batch.attempt(call)
        if batch.done:
            finished(batch)
        else:
            self._retrying.append((batch, call, finished))

    def _route(
        self, held: Held, outcome: Outcome, deletes: dict[str, list[Held]], visibility: dict[str, list[tuple[Held, int]]]
    ) -> None:
        if held.released:
            # Released after the grace period while it ran: another worker may hold it now. Its outcome is
            # recorded (when it succeeded), so the redelivery is acknowledged as a duplicate.
            if isinstance(outcome, DeadLetter):
                self._moved(held, False)
            return
        queue_name = held.message.queue_name
        if isinstance(outcome, Release) and not outcome.deferred and not held.child_died:
            self._store_failed()
        else:
            self._store_failures = 0
        stats = self._stats
        if isinstance(outcome, Ack):
            stats.succeeded += 0 if outcome.duplicate else 1
            stats.duplicates += 1 if outcome.duplicate else 0
            held.acknowledged = True
            deletes.setdefault(queue_name, []).append(held)
        elif isinstance(outcome, RetryAfter):
            stats.retried += 1
            if outcome.delay_seconds is None:
                self._slots.forget(held)  # visible again when its visibility timeout runs out
            else:
                visibility.setdefault(queue_name, []).append((held, clamp_visibility_seconds(outcome.delay_seconds)))
        elif isinstance(outcome, Release):
            if outcome.deferred:
                stats.deferred += 1
            else:
                stats.released += 1
            if self._rescued(held):
                deletes.setdefault(queue_name, []).append(held)
            else:
                visibility.setdefault(queue_name, []).append((held, clamp_visibility_seconds(outcome.delay_seconds)))
        elif isinstance(outcome, DeadLetter):
            stats.dead_lettered += 1
            moved = False
            try:
                moved = self._move_to_dlq(held)
            finally:
                self._moved(held, moved)  # a FIFO group's next message starts only now (sqsq.worker.groups)
            if moved:
                deletes.setdefault(queue_name, []).append(held)
            else:
                self._slots.forget(held)

    def _moved(self, held: Held, moved: bool) -> None:
        if self._after_move is not None:
            self._after_move(held, moved)

    def _store_failed(self) -> None:
        """The results store could not be written: pause receiving (growing, capped) so messages wait in SQS."""
        self._store_failures += 1
        pause = min(AWS_ERROR_BACKOFF_MAX_SECONDS, AWS_ERROR_BACKOFF_BASE_SECONDS * 2 ** (self._store_failures - 1))
        self.paused_until = max(self.paused_until, time.monotonic() + pause)
        self._throttle.log(
            logging.WARNING, "store",
            "results store unavailable (%d failure(s) in a row): receiving paused for %.1f s; messages stay in SQS",
            self._store_failures, pause,
        )

    def _move_to_dlq(self, held: Held) -> bool:
        """Send a copy to the DLQ (first), so the delete (second) cannot lose it. False: leave the message."""
        arn = held.info.dead_letter_target_arn
        if arn is None:
            log.warning(
                "message %s failed for good and its queue has no DLQ: deleting it (FAILURE is recorded)",
                held.message.message_id,
            )
            return True
        dlq_name = arn.rsplit(":", 1)[1]
        copy = copy_of(held.message, dlq_name, "dlq")  # keeps its MessageGroupId; a FIFO DLQ gets a dedup id
        try:
            failed = self._app.transport.send_batch(dlq_name, [copy])
        except AwsError as exc:
            self._throttle.log(
                logging.ERROR, "dlq", "moving message %s to %s failed (%s); it stays in its queue and comes back",
                held.message.message_id, dlq_name, exc,
            )
            return False
        if failed:
            self._throttle.log(
                logging.ERROR, "dlq", "moving message %s to %s rejected: %s %s; it stays in its queue",
                held.message.message_id, dlq_name, failed[0].code, failed[0].message,
            )
            return False
        return True

    def _delete(self, queue_name: str, items: list[Held], *, wait: bool = False) -> None:
        def call(hs: list[Held]) -> list[BatchFailure]:
            return self._app.transport.delete_batch(queue_name, [h.receipt_handle for h in hs])

        def finished(batch: BatchRetry[Held]) -> None:
            if batch.failed:
                self._stats.deletes_failed += len(batch.failed)
                self._throttle.log(
                    logging.WARNING, f"delete:{queue_name}",
                    "delete on %s failed for message(s) %s (%s); their results are recorded, so a redelivery is "
                    "acknowledged as a duplicate without running", queue_name,
                    ", ".join(h.message.message_id for h, _ in batch.failed), batch.failed[0][1],
                )
            failed = {id(h) for h, _ in batch.failed}
            for h in items:
                if h.acknowledged and id(h) not in failed:
                    delete_payload(self._app, h.message, acked_task_id(h))  # after the SQS delete (a crash before: left)
            self._slots.forget_all(items)  # one wake-up for the batch

        batch = BatchRetry(items, attempts=ACK_ENTRY_ATTEMPTS, backoff=ACK_ENTRY_BACKOFF)
        self._attempt(batch, call, finished, wait=wait)

    def _change_visibility(self, queue_name: str, items: list[tuple[Held, int]], *, wait: bool = False) -> None:
        seconds = {id(h): s for h, s in items}

        def call(hs: list[Held]) -> list[BatchFailure]:
            changes = [(h.receipt_handle, seconds[id(h)]) for h in hs]
            return self._app.transport.change_visibility_batch(queue_name, changes)

        def finished(batch: BatchRetry[Held]) -> None:
            if batch.failed:
                self._stats.visibility_changes_failed += len(batch.failed)
                self._throttle.log(
                    logging.WARNING, f"visibility:{queue_name}",
                    "visibility change on %s failed for message(s) %s (%s); they are not deleted and come back after "
                    "their visibility timeout", queue_name,
                    ", ".join(h.message.message_id for h, _ in batch.failed), batch.failed[0][1],
                )
            self._slots.forget_all(h for h, _ in items)

        batch = BatchRetry([h for h, _ in items], attempts=ACK_ENTRY_ATTEMPTS, backoff=ACK_ENTRY_BACKOFF)
        self._attempt(batch, call, finished, wait=wait)

    def _rescued(self, held: Held) -> bool:
        """On the message's last receive, send its rescued copy (:mod:`sqsq.rescue`); True: delete the original."""
        if not is_last_receive(held.message.receive_count, held.info.max_receive_count):
            return False
        if send_rescue(self._app, held.message.queue_name, held.message):
            self._stats.rescued += 1
            log.info("message %s: last receive (%d of %d) given back without an outcome; rescued as a fresh copy",
                     held.message.message_id, held.message.receive_count, held.info.max_receive_count)
            return True
        return False

    def release(self, items: Sequence[Held]) -> None:
        """Visibility 0 for messages the worker will not run (or finish), so others receive them at once; on their
        last receive, a rescued copy instead (the original deleted), so giving them back cannot dead-letter them.

        Called from the receiver or at shutdown, not from the acknowledger's thread: it waits for its calls.
        """
        by_queue: dict[str, list[Held]] = {}
        rescued: dict[str, list[Held]] = {}
        for h in items:
            target = rescued if self._rescued(h) else by_queue
            target.setdefault(h.message.queue_name, []).append(h)
        step = limits.SQS_MAX_BATCH_ENTRIES
        for queue_name, hs in rescued.items():
            for i in range(0, len(hs), step):
                self._delete(queue_name, hs[i : i + step], wait=True)
        for queue_name, hs in by_queue.items():
            for i in range(0, len(hs), step):
                chunk = hs[i : i + step]
                self._stats.released += len(chunk)
                self._change_visibility(queue_name, [(h, 0) for h in chunk], wait=True)
