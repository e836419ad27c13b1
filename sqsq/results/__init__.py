"""The results seam: a small interface, a DynamoDB implementation and an in-memory twin.

A record only moves forward. A write is accepted when there is no record yet, or the record belongs to an
earlier generation (a redrive from the DLQ starts a new one), or it is not final (SUCCESS/FAILURE) and its
attempt is not later than the write's, or not final while the write is (a rescued copy starts its receive count
again, see sqsq.rescue). So a late or duplicate writer never moves a finished task back.

A record is also only ever replaced by the *same message* (:func:`same_message`: the same task name and the same
``sent_at``, which a retry, a redelivery and a DLQ redrive all keep) until it expires. Task ids are random, so
another message with that id is a forgery or a producer bug: its write is refused whatever its generation, and
the executor files it elsewhere (see :mod:`sqsq.executor`, "Foreign task ids").
Both implementations are held to the same contract tests (``tests/contract/test_results_contract.py``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol


class Status(StrEnum):
    """Task states, as Celery names them."""

    PENDING = "PENDING"
    """No record: not run yet, unknown id, or expired."""
    STARTED = "STARTED"
    """Running (recorded only for tasks that ask for it: ``track_started=True``)."""
    RETRY = "RETRY"
    """Failed an attempt and will run again."""
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    # -- scheduling (issue 12) --
    SCHEDULED = "SCHEDULED"
    """Sent through a one-time schedule, not in its queue yet (``due_at`` says when). Not final."""
    REVOKED = "REVOKED"
    """Cancelled or revoked before it ran (see :mod:`sqsq.scheduling.cancel`). Final: nothing moves it on."""

    @property
    def is_final(self) -> bool:
        """True for SUCCESS, FAILURE and REVOKED."""
        return self in (Status.SUCCESS, Status.FAILURE, Status.REVOKED)


@dataclass(frozen=True)
class ResultRecord:
    """One task's outcome as stored.

    Attributes:
        task_id: the task id (the table's key).
        status: current state.
        task_name: registered task name.
        result_json: the return value as JSON text (SUCCESS only).
        error_type: exception class name (RETRY/FAILURE).
        error_message: exception message.
        traceback: formatted traceback text.
        attempts: attempt number that wrote this record (SQS ApproximateReceiveCount).
        generation: redrive generation of the message that wrote it.
        sent_at: epoch seconds the producer sent the task.
        updated_at: epoch seconds of this write.
        expires_at: epoch seconds after which the record counts as absent (DynamoDB TTL attribute).
        lease_expires_at: epoch seconds until which a STARTED record written by :meth:`ResultStore.claim` holds
            the task for the run that wrote it (``None``: no lease; any other record).
        due_at: epoch seconds a SCHEDULED task is due (``None``: any other record).
        runtime_seconds: how long the run took (monitoring, issue 15; SUCCESS/RETRY/FAILURE of a run), or None.
        args_preview: the arguments, masked and cut to 512 characters (:func:`sqsq.masking.args_preview`), for the
            dashboard's task page; None when not known (records written without a message, older records).
    """

    task_id: str
    status: Status
    task_name: str
    result_json: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    attempts: int = 0
    generation: int = 0
    sent_at: float | None = None
    updated_at: float = 0.0
    expires_at: int = 0
    lease_expires_at: float | None = None
    due_at: float | None = None
    # monitoring (issue 15): shown by the dashboard, summed by /metrics
    runtime_seconds: float | None = None
    args_preview: str | None = None

    def stamped(self, ttl_seconds: int, now: float | None = None) -> ResultRecord:
        """A copy with ``updated_at`` = now and ``expires_at`` = now + ttl_seconds."""
        t = time.time() if now is None else now
        return replace(self, updated_at=t, expires_at=int(t + ttl_seconds))


SENT_AT_DECIMALS = 6
"""``sent_at`` is stored rounded to microseconds (DynamoDB number text); :func:`same_message` compares it so."""


def stored_sent_at(sent_at: float | None) -> float | None:
    """``sent_at`` as both stores keep and compare it: rounded to microseconds; None when absent or no real time."""
    if sent_at is None or not math.isfinite(sent_at) or not 0 <= sent_at <= 1e11:
        return None
    return round(sent_at, SENT_AT_DECIMALS)


def same_message(existing: ResultRecord, new: ResultRecord) -> bool:
    """True when ``new`` comes from the message that wrote ``existing``: same task name and same ``sent_at``.

    Retries, redeliveries and redrives keep both; a message forged with another task's id differs in one of them
    unless the forger copied the task name and ``sent_at`` to the microsecond (see the README's threat model).
    ``sent_at`` values must be equal, both absent included: a record without one (a body that gave none, such as
    a periodic firing) matches only writes without one, and a write without one (a forged body that left it out)
    never matches a record that has one.
    """
    if existing.task_name != new.task_name:
        return False
    return stored_sent_at(existing.sent_at) == stored_sent_at(new.sent_at)


def may_overwrite(existing: ResultRecord | None, new: ResultRecord, now: float) -> bool:
    """The forward-only rule both stores implement (DynamoDB as a ConditionExpression)."""
    if existing is None or existing.expires_at <= now:
        return True
    if not same_message(existing, new):
        return False
    if new.generation != existing.generation:
        return new.generation > existing.generation
    # A final outcome replaces any non-final record of its generation: a rescued copy (sqsq.rescue) starts its
    # receive count again, so its SUCCESS may carry a lower attempt than the marker its original left.
    return not existing.status.is_final and (new.status.is_final or existing.attempts <= new.attempts)


def may_claim(existing: ResultRecord | None, new: ResultRecord, now: float) -> bool:
    """The claim rule both stores implement (DynamoDB as a ConditionExpression).

    A claim (a STARTED record with a lease) is taken when there is no live record, or (the record being of the
    same message, :func:`same_message`) the record is of an earlier generation, or it is not final and holds no
    live lease (none, or ``lease_expires_at <= now``).
    Attempt numbers do not matter: a lease that ran out may be taken over by any delivery.
    """
    if existing is None or existing.expires_at <= now:
        return True
    if not same_message(existing, new):
        return False
    if new.generation > existing.generation:
        return True
    if new.generation < existing.generation or existing.status.is_final:
        return False
    return existing.lease_expires_at is None or existing.lease_expires_at <= now


class ResultStore(Protocol):
    """Where task outcomes are kept. Methods may raise :class:`sqsq.errors.AwsError`."""

    def put(self, record: ResultRecord) -> bool:
        """Write ``record`` if the forward-only rule allows; returns False when a later state is already there
        or the live record belongs to another message (:func:`same_message`)."""
        ...

    def get(self, task_id: str) -> ResultRecord | None:
        """Strongly consistent read; an expired or missing record is ``None``."""
        ...

    def claim(self, record: ResultRecord) -> ResultRecord | None:
        """Write ``record`` (STARTED, with ``lease_expires_at``) if :func:`may_claim` allows, atomically.

        Returns:
            ``None`` when the claim was written; otherwise the record that prevented it (read after the failed
            conditional write, so it may have moved on since; ``None`` is never returned for a refusal).
        """
        ...
