"""Recording outcomes in the results store, and what each recorded outcome means for the message.

Every write goes through :class:`Recorder`: a write that fails (the store is down or throttled after botocore's
retries) turns into :class:`~sqsq.executor.outcomes.Release` (the message comes back in
:data:`STORE_UNAVAILABLE_RETRY_SECONDS`); a write the store refuses because the record belongs to another message
turns into a ``TaskIdConflict`` dead letter (see "Foreign task ids" in :mod:`sqsq.executor`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqsq.app import App
from sqsq.errors import AttemptLost, AwsError, Retry, TaskIdConflict
from sqsq.executor.outcomes import Ack, DeadLetter, Outcome, Release, RetryAfter
from sqsq.executor.rules import attempts_allowed, claim_lease_seconds, error_fields, finished
from sqsq.executor.throttle import LogThrottle
from sqsq.results import ResultRecord, Status, same_message
from sqsq.task import Task


def revoked_by_id(record: ResultRecord) -> bool:
    """:func:`sqsq.scheduling.cancel.revoked_by_id`, imported when a record is read (a redelivery or a refused
    write): a first delivery that succeeds reads none (issue 11, start-up)."""
    from sqsq.scheduling.cancel import revoked_by_id as revoked

    return revoked(record)

log = logging.getLogger("sqsq.executor")

STORE_UNAVAILABLE_RETRY_SECONDS = 10
"""Visibility given back to a message whose outcome could not be recorded (results store unavailable)."""
CLAIM_DEFER_MARGIN_SECONDS = 1.0
"""A deferred duplicate comes back this long after the lease it found ends."""
FINAL_WRITE_ATTEMPTS = 3
"""Tries of the write that records a finished run (on top of botocore's): the task already ran, and giving up
means running it again, so a short wait is cheaper. botocore's retry quota can run dry under heavy throttling."""
FINAL_WRITE_RETRY_SECONDS = 0.2
"""Pause before the second try of a final write (doubled, with jitter, before each further one)."""


class Recorder:
    """Writes result records for one executor and maps each write's fate to an outcome.

    Args:
        app: whose results store to write.
        clock: epoch seconds now, for leases and record times.
    """

    def __init__(self, app: App, clock: Callable[[], float]):
        self.app = app
        self._ttl = app.settings.result_ttl_seconds
        self._clock = clock
        self._store_log = LogThrottle(log)

    def put(self, record: ResultRecord) -> bool:
        """Write ``record`` stamped now (conditional: False when the store refused it)."""
        return self.app.results.put(record.stamped(self._ttl, now=self._clock()))

    def put_final(self, record: ResultRecord) -> bool:
        """:meth:`put` of a finished run's outcome, tried :data:`FINAL_WRITE_ATTEMPTS` times before giving up."""
        for attempt in range(FINAL_WRITE_ATTEMPTS):
            try:
                return self.put(record)
            except AwsError:
                if attempt == FINAL_WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(FINAL_WRITE_RETRY_SECONDS * 2**attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def store_down(self, task_id: str, doing: str, exc: AwsError) -> Release:
        """Log (throttled) that the store failed while ``doing``; the message is kept and comes back."""
        self._store_log.log(
            logging.WARNING, doing,
            "results store unavailable while %s (task %s: %s); message kept, it comes back in %d s",
            doing, task_id, exc, STORE_UNAVAILABLE_RETRY_SECONDS,
        )
        return Release(STORE_UNAVAILABLE_RETRY_SECONDS, str(exc))

    def already_final(self, existing: ResultRecord, task_name: str) -> Outcome:
        """The outcome of a delivery whose task is already final: a duplicate to acknowledge, or the DLQ again."""
        if existing.status in (Status.SUCCESS, Status.REVOKED):
            log.info("task %s %s: duplicate delivery acknowledged (already %s)", existing.task_id, task_name,
                     existing.status.value)
            return Ack(duplicate=True)
        return DeadLetter(existing.error_type or "Error", existing.error_message or "")

    def check_refused(self, base: ResultRecord, body_id: str, *, ran: bool) -> Outcome | None:
        """After a refused write: the conflict outcome when the record is another message's, else None (a later
        state of this message is there: the usual duplicate). One strongly consistent read, only on refusals."""
        if not body_id:
            return None
        try:
            holder = self.app.results.get(base.task_id)
        except AwsError as exc:
            return self.store_down(base.task_id, "reading the record that refused a write", exc)
        if holder is None or same_message(holder, base) or revoked_by_id(holder):
            return None  # revoked_by_id: revoked by id before it had a record (sqsq.scheduling.cancel)
        return self.conflict(holder, base, body_id, ran=ran)

    def conflict(self, holder: ResultRecord, base: ResultRecord, body_id: str, *, ran: bool) -> Outcome:
        """Dead-letter a message whose task id holds another message's record, filed under its body's id."""
        what = "it ran, and its outcome was not written there" if ran else "it was not run"
        exc = TaskIdConflict(
            f"task id {base.task_id} holds the record of another message (task {holder.task_name!r}, sent at "
            f"{holder.sent_at}); this message (task {base.task_name!r}, sent at {base.sent_at}) did not write it: "
            f"{what}. Task ids are random, so one of the two was forged with the other's id (or a producer reused "
            "an id); turn on signing (SQSQ_SIGNING_KEYS) so that only key holders can send"
        )
        log.error("task %s: %s", base.task_id, exc)
        return self.dead_letter(body_id, base.task_name, base.attempts, base.generation, base.sent_at, exc)

    def claim(
        self, task: Task[Any, Any], base: ResultRecord, remaining_time_seconds: float | None, body_id: str = ""
    ) -> Outcome | None:
        """Claim the task id; None when this delivery may run it, else the outcome for this delivery."""
        now = self._clock()
        lease_seconds = claim_lease_seconds(task.time_limit_seconds, remaining_time_seconds)
        record = replace(base, lease_expires_at=now + lease_seconds).stamped(self._ttl, now=now)
        try:
            holder = self.app.results.claim(record)
        except AwsError as exc:
            return self.store_down(base.task_id, "claiming a task", exc)
        if holder is None:
            return None
        if revoked_by_id(holder):  # revoked by id before it had a record (sqsq.scheduling.cancel)
            return self.already_final(holder, task.name)
        if body_id and not same_message(holder, base):
            return self.conflict(holder, base, body_id, ran=False)
        if finished(holder, base.generation):
            return self.already_final(holder, task.name)
        lease_left = (holder.lease_expires_at or now) - now
        delay = max(1.0, lease_left + CLAIM_DEFER_MARGIN_SECONDS)
        log.info(
            "task %s %s: another delivery holds its claim (attempt %d, lease %.0f s left); deferred %.0f s",
            base.task_id, task.name, holder.attempts, lease_left, delay,
        )
        return Release(delay, f"claimed by another delivery (attempt {holder.attempts})", deferred=True)

    def failed(
        self,
        task: Task[Any, Any],
        base: ResultRecord,
        exc: BaseException,
        max_receive_count: int | None,
        body_id: str = "",
    ) -> Outcome:
        # A lost attempt (its process died) is not the task's failure: it gets the queue's receives, not max_retries.
        lost = isinstance(exc, AttemptLost)
        allowed = attempts_allowed(None if lost else task.max_retries, max_receive_count)
        retryable = lost or isinstance(exc, Retry) or isinstance(exc, task.retry_on)
        error = error_fields(exc)
        if retryable and base.attempts < allowed:
            delay: float | None
            if isinstance(exc, Retry | AttemptLost):
                delay = exc.delay_seconds
            elif task.backoff is not None:
                delay = task.backoff.delay_seconds(base.attempts)
            else:
                delay = None
            try:
                written = self.put(replace(base, status=Status.RETRY, **error))
            except AwsError as store_exc:
                # The retry itself is a visibility change on this message, so it stays durable without the record.
                self._store_log.log(logging.WARNING, "retry", "task %s: RETRY not recorded (%s)", base.task_id, store_exc)
                written = True
            refused = None if written else self.check_refused(base, body_id, ran=True)
            if refused is not None:
                return refused
            log.info(
                "task %s %s: attempt %d/%d failed (%s: %s); retrying",
                base.task_id, task.name, base.attempts, allowed, error["error_type"], error["error_message"],
            )
            return RetryAfter(delay, f"{error['error_type']}: {error['error_message']}")
        return self.dead_letter(
            base.task_id, base.task_name, base.attempts, base.generation, base.sent_at, exc,
            conflict_id=body_id, base=base,
        )

    def dead_letter(
        self,
        task_id: str,
        task_name: str,
        attempt: int,
        generation: int,
        sent_at: float | None,
        exc: BaseException,
        error_type: str | None = None,
        *,
        conflict_id: str = "",
        base: ResultRecord | None = None,
    ) -> Outcome:
        """Record FAILURE under ``task_id`` and dead-letter; with ``base`` and ``conflict_id``, a refusal by another
        message's record files it as a ``TaskIdConflict`` under ``conflict_id`` instead."""
        error = error_fields(exc)
        if error_type:
            error["error_type"] = error_type
        record = ResultRecord(
            task_id=task_id,
            status=Status.FAILURE,
            task_name=task_name,
            attempts=attempt,
            generation=generation,
            sent_at=sent_at,
            **error,
        )
        try:
            written = self.put_final(record)
        except AwsError as store_exc:
            return self.store_down(task_id, "recording FAILURE", store_exc)
        refused = None if written or base is None else self.check_refused(base, conflict_id, ran=True)
        if refused is not None:
            return refused
        log.warning("task %s %s failed for good: %s: %s", task_id, task_name, error["error_type"], error["error_message"])
        return DeadLetter(str(error["error_type"]), str(error["error_message"]))

