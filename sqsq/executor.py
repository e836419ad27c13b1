"""One message in, one :data:`Outcome` out: decode, look up, validate, run, record. Shared by poller and Lambda.

Delivery semantics
------------------
SQS delivers every message *at least once*; sqsq builds on that and promises no more than it can keep.

Guaranteed:

* **No loss.** The outcome (SUCCESS, RETRY or FAILURE) is written to the results store *before* the executor
  returns an outcome that lets the caller delete the message. If the write fails (DynamoDB throttled or down)
  the outcome is :class:`Release`: the message stays in the queue and comes back. A process that dies at any
  point leaves the message in the queue; it is delivered again after its visibility timeout.
* **Retries are the message itself.** A retry is a visibility change on the message being handled
  (:class:`RetryAfter`), never a re-sent copy, so SQS's ``ApproximateReceiveCount`` is the attempt number and
  the queue's redrive policy still applies. A task gets ``min(max_retries + 1, maxReceiveCount)`` attempts
  (``max_retries=None``: the queue's maxReceiveCount; without a redrive policy either: 4 attempts).
* **Dead letters carry a reason.** A task out of attempts, or failing permanently (unknown task, invalid
  arguments, undecodable body, result too large, an exception outside ``retry_on``), is recorded as FAILURE
  with the error type and message, the attempt count, the task name and the time, then :class:`DeadLetter`
  tells the caller to move the message to the DLQ.
* **A finished task is not run again by a redelivery.** On a redelivery (``ApproximateReceiveCount > 1``) the
  executor reads the task's record; if it is SUCCESS the message is acknowledged as a duplicate
  (``Ack(duplicate=True)``) without running the task, and if it is FAILURE it goes to the DLQ again. This
  covers a delete that failed after the result was written. First deliveries read nothing: one DynamoDB write
  per task, no reads.
* **The last receive leaves a trace.** On the receive SQS counts as the last before its redrive policy moves the
  message (``ApproximateReceiveCount >= maxReceiveCount``), the executor first records STARTED with the reason
  ``ConsumerDied`` (one more write, on that receive only). If the consumer then dies while running it (a worker or
  pool process killed, a Lambda timeout), the message reaches the DLQ with that record, and the DLQ sweep
  (:mod:`sqsq.sweep`) rescues it or records FAILURE with the reason. A rescued copy (``rescues > 0`` in its
  envelope, see :mod:`sqsq.rescue`) reads the record before running, like a redelivery.
* **A redriven copy of a finished task is not run again.** A redrive (``sqsq dlq redrive``) sends each message
  back with ``generation`` + 1, and may send one twice (a DLQ delete that failed after the send; the operator
  redrives again). So a message with ``generation > 0`` is read first, even on its first receive: SUCCESS of any
  generation acknowledges it as a duplicate (the record is never moved back), FAILURE of its own or a later
  generation dead-letters it again. Then it is *claimed* like a ``claim=True`` task (below), so two copies
  received at once run once: the other is deferred and acknowledged when it comes back. This costs one
  consistent GetItem and one conditional write per redriven message; fresh sends are unaffected.
* **Claimed tasks (``@app.task(claim=True)``) do not run twice at once.** Before running, the executor claims
  the task id with a conditional write of a STARTED record holding a *lease* until
  ``now + max(CLAIM_LEASE_MIN_SECONDS, min(remaining invocation time, time_limit_seconds))``
  (``time_limit_seconds`` defaults to :data:`CLAIM_LEASE_DEFAULT_SECONDS`; the floor applies even when the
  remaining time reads 0). Of two deliveries of one task id racing on two workers, one claim succeeds and
  runs the task; the other finds the live lease and is deferred (:class:`Release` with ``deferred=True``
  and a delay until the lease ends): it records nothing, is not a failed attempt and is never dead-lettered
  by sqsq. When it comes back, the task is SUCCESS (acknowledged as a duplicate) or its lease has expired
  (it takes over and runs).

Not guaranteed:

* **Exactly-once side effects.** A task whose result could not be recorded, or whose process died after the
  side effect but before the write, runs again. A claimed task that outlives its lease (it runs longer than
  ``time_limit_seconds``, or the process running it died) may be taken over and run again, possibly while the
  first run is still going. Make side effects idempotent (keyed by the task id) where that matters.
* **Duplicate detection without a record.** Tasks with ``ignore_result=True`` store no SUCCESS, so a
  redelivery after a failed delete runs them again.
* **Receive counts.** A deferred duplicate, a message released at shutdown and a message released because
  the results store was unavailable each use one SQS receive. On the last receive the worker rescues such a
  message instead (a fresh copy, see :mod:`sqsq.rescue`); what reaches the DLQ anyway (a worker killed while
  holding it) is rescued or recorded by the DLQ sweep. Keep maxReceiveCount at 5 or more.
* **Ordering.** Standard queues do not order messages, and retries reorder further.

Signed messages
---------------
With signing on (``SQSQ_SIGNING_KEYS``, see :mod:`sqsq.signing`) a message that is unsigned, signed with an
unknown key or whose signature does not match is never run and writes nothing under the task id it claims: its
FAILURE (``SignatureMissing``, ``SignatureKeyUnknown``, ``SignatureInvalid``) is filed under the id derived from
its body (:func:`sqsq.message.undecodable_id`, as for undecodable bodies) and it goes to the DLQ.

Foreign task ids
----------------
A result record is only replaced by the message that wrote it (:func:`sqsq.results.same_message`: same task
name and ``sent_at``). When a write of this executor is refused, it reads the record once; if the record belongs
to another message (a message forged with another task's id, or a producer that reused an id), the message is
dead-lettered with ``TaskIdConflict``, filed under its body-derived id, and logged as an error: it is never
acknowledged as a duplicate of a record it did not write. Found before running (on a redelivery, or by the
claim or STARTED write of ``claim=True`` / ``track_started=True`` tasks), the task does not run; found after
(a first delivery, which reads nothing), it has run, and only its result is kept out of the other task's record.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback as tb
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from sqsq import limits
from sqsq.app import App
from sqsq.errors import (
    AttemptLost,
    AwsError,
    MessageDecodeError,
    ResultTooLarge,
    Retry,
    SignatureError,
    TaskIdConflict,
    TaskNotRegistered,
    ValidationError,
)
from sqsq.message import Envelope, undecodable_id
from sqsq.rescue import is_last_receive
from sqsq.results import ResultRecord, Status, same_message
from sqsq.task import Task
from sqsq.transport import ReceivedMessage

log = logging.getLogger("sqsq.executor")

DEFAULT_ATTEMPTS_WITHOUT_REDRIVE = 4
"""Attempts for a task with no max_retries on a queue with no redrive policy (Celery's 3 retries + 1)."""
STORE_UNAVAILABLE_RETRY_SECONDS = 10
"""Visibility given back to a message whose outcome could not be recorded (results store unavailable)."""
TRACEBACK_MAX_CHARS = 8_000
CLAIM_LEASE_DEFAULT_SECONDS = 900.0
"""Lease of a claimed task without ``time_limit_seconds`` (15 minutes)."""
CLAIM_LEASE_MIN_SECONDS = 5.0
"""Shortest lease ever written, even when the remaining invocation time reads 0 (B25)."""
CLAIM_DEFER_MARGIN_SECONDS = 1.0
"""A deferred duplicate comes back this long after the lease it found ends."""
LOG_INTERVAL_SECONDS = 30.0
"""A recurring failure (store down, receive failing) is logged at most once per this interval."""
FINAL_WRITE_ATTEMPTS = 3
"""Tries of the write that records a finished run (on top of botocore's): the task already ran, and giving up
means running it again, so a short wait is cheaper. botocore's retry quota can run dry under heavy throttling."""
FINAL_WRITE_RETRY_SECONDS = 0.2
"""Pause before the second try of a final write (doubled, with jitter, before each further one)."""
CONSUMER_DIED = "ConsumerDied"
"""Error type of the marker written before a run on the last receive (see the module docstring)."""


@dataclass(frozen=True)
class Ack:
    """Done and durably recorded: delete the message. ``duplicate``: it had already succeeded before."""

    duplicate: bool = False


@dataclass(frozen=True)
class RetryAfter:
    """Run again: make the message visible after ``delay_seconds`` (``None``: leave its visibility timeout)."""

    delay_seconds: float | None
    error: str


@dataclass(frozen=True)
class DeadLetter:
    """Out of attempts or permanently failing (recorded as FAILURE): move the message to the DLQ."""

    error_type: str
    error_message: str


@dataclass(frozen=True)
class Release:
    """Keep the message and let it come back after ``delay_seconds``; nothing about it was recorded.

    Attributes:
        delay_seconds: seconds until the message should be visible again.
        error: why.
        deferred: True when another delivery holds the task's claim (not a failure, the store works);
            False when the results store could not be reached.
    """

    delay_seconds: float
    error: str
    deferred: bool = False


Outcome = Ack | RetryAfter | DeadLetter | Release


@dataclass(frozen=True)
class Prepared:
    """A message ready to run (from :meth:`Executor.prepare`): its task, validated arguments and base record.

    Attributes:
        task: the registered task the message names.
        model: the validated arguments.
        args: the envelope's arguments as sent (JSON-compatible; what a pool process is given).
        base: the STARTED-shaped record the outcome is written from.
        max_receive_count: the source queue's redrive maxReceiveCount, or None.
        body_id: :func:`sqsq.message.undecodable_id` of the body: where a conflict (``TaskIdConflict``) is filed.
    """

    task: Task[Any, Any]
    model: BaseModel
    args: dict[str, Any]
    base: ResultRecord
    max_receive_count: int | None
    body_id: str = ""


def encode_result(task: Task[Any, Any], value: Any) -> str:
    """A task's return value as the JSON text to record, within DynamoDB's item budget.

    Raises:
        ResultTooLarge: over :data:`sqsq.limits.DYNAMODB_RESULT_SIZE_BUDGET_BYTES`.
        Exception: whatever pydantic raises for a value its return annotation cannot encode.
    """
    result_json = task.dump_result(value)
    if len(result_json.encode()) > limits.DYNAMODB_RESULT_SIZE_BUDGET_BYTES:
        raise ResultTooLarge(
            f"result is {len(result_json.encode())} bytes; results are limited to "
            f"{limits.DYNAMODB_RESULT_SIZE_BUDGET_BYTES} bytes (DynamoDB's 400 KB item). "
            "Return a reference (e.g. an S3 key) instead"
        )
    return result_json


def attempts_allowed(max_retries: int | None, max_receive_count: int | None) -> int:
    """How many attempts a task gets on a queue (see the module docstring)."""
    candidates = [n for n in (None if max_retries is None else max_retries + 1, max_receive_count) if n is not None]
    return min(candidates) if candidates else DEFAULT_ATTEMPTS_WITHOUT_REDRIVE


def claim_lease_seconds(time_limit_seconds: float | None, remaining_time_seconds: float | None) -> float:
    """Length of a claim's lease: ``min(remaining time, time limit)``, at least :data:`CLAIM_LEASE_MIN_SECONDS`.

    Args:
        time_limit_seconds: the task's ``time_limit_seconds``; ``None`` = :data:`CLAIM_LEASE_DEFAULT_SECONDS`.
        remaining_time_seconds: time left in the invocation (Lambda), ``None`` = unbounded (poller).

    Returns:
        Seconds, >= CLAIM_LEASE_MIN_SECONDS (also when the remaining time is 0 or negative).
    """
    lease = CLAIM_LEASE_DEFAULT_SECONDS if time_limit_seconds is None else time_limit_seconds
    if remaining_time_seconds is not None:
        lease = min(lease, remaining_time_seconds)
    return max(CLAIM_LEASE_MIN_SECONDS, lease)


class LogThrottle:
    """Logs a recurring problem once per interval per key, counting the repeats it held back.

    Args:
        logger: where to log.
        interval_seconds: at most one line per key per this many seconds.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval_seconds: float = LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._logger = logger
        self._interval = interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held_back: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` unless ``key`` was logged within the interval. Returns True when it logged."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._held_back[key] = self._held_back.get(key, 0) + 1
                return False
            self._last[key] = now
            repeats = self._held_back.pop(key, 0)
        if repeats:
            msg += f" ({repeats} more like this in the last {self._interval:.0f} s)"
        self._logger.log(level, msg, *args, stacklevel=2)
        return True


class Executor:
    """Runs one received message through the app's tasks and records the outcome.

    Args:
        app: the app whose registry and results store to use.
        clock: epoch seconds now, for leases and record times (default ``time.time``; tests pass a fake).

    Example:
        >>> outcome = Executor(app).execute(message, max_receive_count=5)
    """

    def __init__(self, app: App, *, clock: Callable[[], float] = time.time):
        self.app = app
        self._ttl = app.settings.result_ttl_seconds
        self._clock = clock
        self._store_log = LogThrottle(log)
        # Read once, here (a Lambda function builds its executor at init; a worker at start): a parameter or
        # secret that cannot be read fails the start, not every message.
        self._keyring = app.keyring

    def _put(self, record: ResultRecord) -> bool:
        return self.app.results.put(record.stamped(self._ttl, now=self._clock()))

    def _put_final(self, record: ResultRecord) -> bool:
        """:meth:`_put` of a finished run's outcome, tried :data:`FINAL_WRITE_ATTEMPTS` times before giving up."""
        for attempt in range(FINAL_WRITE_ATTEMPTS):
            try:
                return self._put(record)
            except AwsError:
                if attempt == FINAL_WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(FINAL_WRITE_RETRY_SECONDS * 2**attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _store_down(self, task_id: str, doing: str, exc: AwsError) -> Release:
        self._store_log.log(
            logging.WARNING, doing,
            "results store unavailable while %s (task %s: %s); message kept, it comes back in %d s",
            doing, task_id, exc, STORE_UNAVAILABLE_RETRY_SECONDS,
        )
        return Release(STORE_UNAVAILABLE_RETRY_SECONDS, str(exc))

    def execute(
        self, message: ReceivedMessage, max_receive_count: int | None, *, remaining_time_seconds: float | None = None
    ) -> Outcome:
        """Handle one message: :meth:`prepare`, run the task here, :meth:`finish`.

        Args:
            message: the received message (``receive_count`` is the attempt number).
            max_receive_count: the source queue's redrive maxReceiveCount, or None.
            remaining_time_seconds: time left to run (a Lambda invocation's remaining time); bounds the lease of
                a claimed task. ``None`` (poller): the task's ``time_limit_seconds`` bounds it.

        Returns:
            Ack, RetryAfter, DeadLetter or Release. Never raises for anything the message or task does.
        """
        prepared = self.prepare(message, max_receive_count, remaining_time_seconds=remaining_time_seconds)
        if not isinstance(prepared, Prepared):
            return prepared
        started = time.monotonic()
        try:
            value = prepared.task.run(prepared.model)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt... raised by a task are its failure
            return self.finish(prepared, error=exc)
        try:
            result_json = encode_result(prepared.task, value)
        except Exception as exc:
            return self.finish(prepared, encode_error=exc)
        return self.finish(prepared, result_json=result_json, duration_seconds=time.monotonic() - started)

    def prepare(
        self, message: ReceivedMessage, max_receive_count: int | None, *, remaining_time_seconds: float | None = None
    ) -> Prepared | Outcome:
        """The first half of :meth:`execute`: decode, look up, validate, claim or check for a finished duplicate.

        The worker calls this, runs the task where it chooses (a thread, a pool process, the event loop), then
        calls :meth:`finish`, so everything written to the results store is written from the worker process.

        Args:
            message: the received message (``receive_count`` is the attempt number).
            max_receive_count: the source queue's redrive maxReceiveCount, or None.
            remaining_time_seconds: as for :meth:`execute`.

        Returns:
            A :class:`Prepared` to run, or the outcome when the message must not run (it was recorded if needed).
        """
        attempt = message.receive_count
        try:
            envelope = Envelope.from_body(message.body)
        except MessageDecodeError as exc:
            # No task id to file it under: an id derived from the body names the record (see undecodable_id).
            return self._dead_letter(
                undecodable_id(message.body), "<undecodable>", attempt, 0, None, exc, "MessageDecodeError"
            )
        body_id = undecodable_id(message.body)
        if self._keyring is not None:
            try:
                self._keyring.verify(envelope)
            except SignatureError as exc:
                # Not run, and nothing written under the id it claims: filed under its body's id, then the DLQ.
                return self._dead_letter(body_id, envelope.task, attempt, envelope.generation, envelope.sent_at, exc)
        try:
            task = self.app.get_task(envelope.task)
            model = task.load_args(envelope.args)
        except (TaskNotRegistered, ValidationError) as exc:
            return self._dead_letter(envelope.id, envelope.task, attempt, envelope.generation, envelope.sent_at, exc)

        base = ResultRecord(
            task_id=envelope.id,
            status=Status.STARTED,
            task_name=task.name,
            attempts=attempt,
            generation=envelope.generation,
            # A body without sent_at gets a new one at every decode: record it as unknown, or the message's own
            # retries would not be the same message (sqsq.results.same_message).
            sent_at=envelope.sent_at if "sent_at" in envelope.model_fields_set else None,
        )
        blocked = self._before_run(task, envelope, base, body_id, max_receive_count, remaining_time_seconds)
        if blocked is not None:
            return blocked
        return Prepared(task, model, dict(envelope.args), base, max_receive_count, body_id)

    def _before_run(
        self,
        task: Task[Any, Any],
        envelope: Envelope,
        base: ResultRecord,
        body_id: str,
        max_receive_count: int | None,
        remaining_time_seconds: float | None,
    ) -> Outcome | None:
        """Read the record where a copy may have run already, then claim or mark the run; None: run it."""
        last_receive = is_last_receive(base.attempts, max_receive_count)
        started = _last_receive_marker(base, max_receive_count) if last_receive else base
        redriven = envelope.generation > 0
        if redriven or envelope.rescues > 0 or (base.attempts > 1 and not task.claim):
            # A redelivery, a rescued or a redriven copy: the results table is the record of what already ran.
            # First deliveries of fresh sends read nothing; a redriven copy is read even at receive count 1, because
            # a redrive may have sent it twice (see the module docstring).
            try:
                existing = self.app.results.get(envelope.id)
            except AwsError as exc:
                return self._store_down(envelope.id, "reading a redelivered task's record", exc)
            if existing is not None and not same_message(existing, base):
                return self._conflict(existing, base, body_id, ran=False)
            if existing is not None and _finished(existing, envelope.generation):
                return self._already_final(existing, task.name)
        if task.claim or redriven:
            return self._claim(task, started, remaining_time_seconds, body_id)
        if task.track_started or last_receive:
            try:
                written = self._put(started)
            except AwsError as exc:
                return self._store_down(envelope.id, "recording STARTED", exc)
            return None if written else self._check_refused(base, body_id, ran=False)
        return None

    def finish(
        self,
        prepared: Prepared,
        *,
        result_json: str | None = None,
        error: BaseException | None = None,
        encode_error: Exception | None = None,
        duration_seconds: float = 0.0,
    ) -> Outcome:
        """The second half of :meth:`execute`: record how a prepared run ended and say what to do with the message.

        Args:
            prepared: from :meth:`prepare`.
            result_json: the return value encoded by :func:`encode_result` (the run succeeded).
            error: what the task raised (a retry or a failure, by its ``retry_on`` and attempts left).
            encode_error: what :func:`encode_result` raised (a permanent failure).
            duration_seconds: how long the run took (for the log).

        Returns:
            Ack, RetryAfter, DeadLetter or Release (the results store could not be written).
        """
        task, base = prepared.task, prepared.base
        if error is not None:
            return self._failed(task, base, error, prepared.max_receive_count, prepared.body_id)
        if encode_error is not None:
            return self._dead_letter(
                base.task_id, task.name, base.attempts, base.generation, base.sent_at, encode_error,
                conflict_id=prepared.body_id, base=base,
            )
        if not task.ignore_result or task.claim or base.generation > 0:
            # A claimed task (and every redriven copy, which is claimed too) always records SUCCESS (without the
            # value when ignore_result): it ends the lease and lets a racing duplicate be acknowledged.
            done = replace(base, status=Status.SUCCESS, result_json=None if task.ignore_result else result_json)
            try:
                written = self._put_final(done)
            except AwsError as exc:
                return self._store_down(base.task_id, "recording SUCCESS", exc)
            refused = None if written else self._check_refused(base, prepared.body_id, ran=True)
            if refused is not None:
                return refused
        log.debug(
            "task %s %s succeeded in %.3f s (attempt %d)", base.task_id, task.name, duration_seconds, base.attempts
        )
        return Ack()

    def _already_final(self, existing: ResultRecord, task_name: str) -> Outcome:
        if existing.status is Status.SUCCESS:
            log.info("task %s %s: duplicate delivery acknowledged (already SUCCESS)", existing.task_id, task_name)
            return Ack(duplicate=True)
        return DeadLetter(existing.error_type or "Error", existing.error_message or "")

    def _check_refused(self, base: ResultRecord, body_id: str, *, ran: bool) -> Outcome | None:
        """After a refused write: the conflict outcome when the record is another message's, else None (a later
        state of this message is there: the usual duplicate). One strongly consistent read, only on refusals."""
        if not body_id:
            return None
        try:
            holder = self.app.results.get(base.task_id)
        except AwsError as exc:
            return self._store_down(base.task_id, "reading the record that refused a write", exc)
        if holder is None or same_message(holder, base):
            return None
        return self._conflict(holder, base, body_id, ran=ran)

    def _conflict(self, holder: ResultRecord, base: ResultRecord, body_id: str, *, ran: bool) -> Outcome:
        """Dead-letter a message whose task id holds another message's record, filed under its body's id."""
        what = "it ran, and its outcome was not written there" if ran else "it was not run"
        exc = TaskIdConflict(
            f"task id {base.task_id} holds the record of another message (task {holder.task_name!r}, sent at "
            f"{holder.sent_at}); this message (task {base.task_name!r}, sent at {base.sent_at}) did not write it: "
            f"{what}. Task ids are random, so one of the two was forged with the other's id (or a producer reused "
            "an id); turn on signing (SQSQ_SIGNING_KEYS) so that only key holders can send"
        )
        log.error("task %s: %s", base.task_id, exc)
        return self._dead_letter(body_id, base.task_name, base.attempts, base.generation, base.sent_at, exc)

    def _claim(
        self, task: Task[Any, Any], base: ResultRecord, remaining_time_seconds: float | None, body_id: str = ""
    ) -> Outcome | None:
        """Claim the task id; None when this delivery may run it, else the outcome for this delivery."""
        now = self._clock()
        lease_seconds = claim_lease_seconds(task.time_limit_seconds, remaining_time_seconds)
        record = replace(base, lease_expires_at=now + lease_seconds).stamped(self._ttl, now=now)
        try:
            holder = self.app.results.claim(record)
        except AwsError as exc:
            return self._store_down(base.task_id, "claiming a task", exc)
        if holder is None:
            return None
        if body_id and not same_message(holder, base):
            return self._conflict(holder, base, body_id, ran=False)
        if _finished(holder, base.generation):
            return self._already_final(holder, task.name)
        lease_left = (holder.lease_expires_at or now) - now
        delay = max(1.0, lease_left + CLAIM_DEFER_MARGIN_SECONDS)
        log.info(
            "task %s %s: another delivery holds its claim (attempt %d, lease %.0f s left); deferred %.0f s",
            base.task_id, task.name, holder.attempts, lease_left, delay,
        )
        return Release(delay, f"claimed by another delivery (attempt {holder.attempts})", deferred=True)

    def _failed(
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
        error = _error_fields(exc)
        if retryable and base.attempts < allowed:
            delay: float | None
            if isinstance(exc, Retry | AttemptLost):
                delay = exc.delay_seconds
            elif task.backoff is not None:
                delay = task.backoff.delay_seconds(base.attempts)
            else:
                delay = None
            try:
                written = self._put(replace(base, status=Status.RETRY, **error))
            except AwsError as store_exc:
                # The retry itself is a visibility change on this message, so it stays durable without the record.
                self._store_log.log(logging.WARNING, "retry", "task %s: RETRY not recorded (%s)", base.task_id, store_exc)
                written = True
            refused = None if written else self._check_refused(base, body_id, ran=True)
            if refused is not None:
                return refused
            log.info(
                "task %s %s: attempt %d/%d failed (%s: %s); retrying",
                base.task_id, task.name, base.attempts, allowed, error["error_type"], error["error_message"],
            )
            return RetryAfter(delay, f"{error['error_type']}: {error['error_message']}")
        return self._dead_letter(
            base.task_id, base.task_name, base.attempts, base.generation, base.sent_at, exc,
            conflict_id=body_id, base=base,
        )

    def _dead_letter(
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
        error = _error_fields(exc)
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
            written = self._put_final(record)
        except AwsError as store_exc:
            return self._store_down(task_id, "recording FAILURE", store_exc)
        refused = None if written or base is None else self._check_refused(base, conflict_id, ran=True)
        if refused is not None:
            return refused
        log.warning("task %s %s failed for good: %s: %s", task_id, task_name, error["error_type"], error["error_message"])
        return DeadLetter(str(error["error_type"]), str(error["error_message"]))


def _last_receive_marker(base: ResultRecord, max_receive_count: int | None) -> ResultRecord:
    """The STARTED record written before a run on the last receive: the reason the DLQ shows if the run never ends."""
    return replace(
        base,
        error_type=CONSUMER_DIED,
        error_message=(
            f"the consumer stopped while running it on its last receive ({base.attempts} of maxReceiveCount "
            f"{max_receive_count}): a worker or pool process killed (out of memory, SIGKILL), or a Lambda invocation "
            "that timed out or crashed; see the consumer's logs"
        ),
    )


def _finished(existing: ResultRecord, generation: int) -> bool:
    """Whether ``existing`` ends a delivery of ``generation``: SUCCESS of any generation (a redriven copy never
    moves a finished task back), or FAILURE of this generation or a later one (this copy is stale)."""
    return existing.status is Status.SUCCESS or (existing.status.is_final and existing.generation >= generation)


def _error_fields(exc: BaseException) -> dict[str, Any]:
    """Error type, message and traceback of ``exc``; never raises, whatever the exception's ``__str__`` does."""
    try:
        message = str(exc)
    except BaseException as str_exc:  # an exception whose __str__ itself raises
        message = f"<str() of the exception raised {type(str_exc).__name__}>"
    try:
        text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:
        text = f"{type(exc).__name__}: {message}"
    return {
        "error_type": type(exc).__name__,
        "error_message": message[:2000],
        "traceback": text[-TRACEBACK_MAX_CHARS:],
    }
