"""The :class:`Executor`: prepare a message (decode, check, claim), run its task, record how it ended."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqsq.app import App
from sqsq.context import task_context
from sqsq.errors import (
    AwsError,
    SignatureError,
    TaskNotRegistered,
    ValidationError,
    WorkflowError,
)
from sqsq.executor.flows import FlowHooks
from sqsq.executor.outcomes import Ack, Outcome, Prepared, Release
from sqsq.executor.payload import read_or_outcome
from sqsq.executor.recording import Recorder, revoked_by_id
from sqsq.executor.rules import encode_result, finished, last_receive_marker
from sqsq.message import Envelope, undecodable_id
from sqsq.rescue import is_last_receive
from sqsq.results import ResultRecord, Status, same_message
from sqsq.scheduling.guard import early_by_seconds
from sqsq.scheduling.revocation import RevocationCheck
from sqsq.transport import ReceivedMessage

log = logging.getLogger("sqsq.executor")


def acknowledging(outcome: Outcome, task_id: str) -> Outcome:
    """``outcome``, an Ack naming the envelope ``task_id`` it acknowledges (so its own payload object is deleted)."""
    return replace(outcome, task_id=task_id) if isinstance(outcome, Ack) and outcome.task_id is None else outcome


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
        self._record = Recorder(app, clock)
        # Read once, here (a Lambda function builds its executor at init; a worker at start): a parameter or
        # secret that cannot be read fails the start, not every message.
        self._keyring = app.keyring
        # Issue 12: revoked tasks and early messages (sqsq.scheduling); no request unless checks are enabled.
        self._revocations = RevocationCheck(
            lambda: app.results, app.name, app.settings.revocation_check_seconds, clock=time.monotonic
        )
        self._clock = clock
        self._early_guard = app.settings.early_guard_on
        self._flows = FlowHooks(app, self._record)  # issue 13: workflow steps (messages with a flow)

    def _put(self, record: ResultRecord) -> bool:
        """Write ``record`` stamped now (:meth:`Recorder.put`; tests use it to plant records)."""
        return self._record.put(record)

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
            with task_context(prepared.context):  # sqsq.context.current() inside the task
                value = prepared.task.run(prepared.model)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt... raised by a task are its failure
            return self.finish(prepared, error=exc, duration_seconds=time.monotonic() - started)
        return self.finish_value(prepared, value, time.monotonic() - started)

    def prepare(
        self,
        message: ReceivedMessage,
        max_receive_count: int | None,
        *,
        remaining_time_seconds: float | None = None,
        envelope: Envelope | None = None, behind_same_task: bool = False,
    ) -> Prepared | Outcome:
        """The first half of :meth:`execute`: decode, look up, validate, claim or check for a finished duplicate.

        The worker calls this, runs the task where it chooses (a thread, a pool process, the event loop), then
        calls :meth:`finish`, so everything written to the results store is written from the worker process.

        Args:
            message: the received message (``receive_count`` is the attempt number).
            max_receive_count: the source queue's redrive maxReceiveCount, or None.
            remaining_time_seconds: as for :meth:`execute`.
            envelope: ``message``'s body already decoded (by the worker's receiver), so it is parsed once; None:
                decoded here.
            behind_same_task: it waited behind another delivery of its task id (:mod:`sqsq.worker.duplicates`):
                the record is read as for a redelivery (a final one is not run again).

        Returns:
            A :class:`Prepared` to run, or the outcome when the message must not run (it was recorded if needed).
        """
        attempt = message.receive_count
        read = read_or_outcome(self.app, self._record, message) if envelope is None else envelope
        if not isinstance(read, Envelope):
            return read
        envelope = read
        if self._keyring is not None:
            try:
                self._keyring.verify(envelope)
            except SignatureError as exc:
                # Not run, and nothing written under the id it claims: filed under its body's id, then the DLQ.
                return self._record.dead_letter(
                    undecodable_id(message.body), envelope.task, attempt, envelope.generation, envelope.sent_at, exc
                )
        try:
            envelope = self._flows.before_lookup(envelope)
            task = self.app.get_task(envelope.task)
            model = task.load_args(envelope.args)
        except AwsError as exc:
            return self._record.store_down(envelope.id, "reading a chord's results", exc)
        except (TaskNotRegistered, ValidationError, WorkflowError) as exc:
            return self._flows.after(envelope, self._record.dead_letter(
                envelope.id, envelope.task, attempt, envelope.generation, envelope.sent_at, exc
            ))
        prepared = Prepared(
            task, model, envelope, message.body, attempt, max_receive_count, message.message_attributes,
            message.queue_name,
        )
        held = self._held_back(prepared, message.sent_timestamp_seconds or None)
        if held is not None:
            return acknowledging(held, envelope.id)
        blocked = self._before_run(prepared, remaining_time_seconds, behind_same_task)
        if blocked is not None and envelope.flow is not None:
            # A step found final already: go on from it (its continuation may not have been sent).
            blocked = self._flows.after(envelope, blocked, duplicate=True)
        return prepared if blocked is None else acknowledging(blocked, envelope.id)

    def _held_back(self, prepared: Prepared, sent_at_seconds: float | None) -> Outcome | None:
        """Issue 12: an early message goes back unrun (:mod:`sqsq.scheduling.guard`); a revoked one is recorded
        REVOKED and deleted unrun (:mod:`sqsq.scheduling.revocation`). None: neither (no request made)."""
        envelope = prepared.envelope
        wait_seconds = early_by_seconds(envelope, self._clock(), sent_at_seconds) if self._early_guard else None
        if wait_seconds is not None:
            log.info("task %s %s arrived %d s early; put back", envelope.id, envelope.task, wait_seconds)
            return Release(float(wait_seconds), f"due at {envelope.due_at}", deferred=True)
        # A workflow's steps are revoked with it (issue 13): the steps not yet started never run.
        workflow = envelope.flow.root if envelope.flow is not None else None
        if not (self._revocations.is_revoked(envelope.id)
                or (workflow is not None and self._revocations.is_revoked(workflow))):
            return None
        why = "revoked" if workflow is None or self._revocations.is_revoked(envelope.id) else f"workflow {workflow} revoked"
        revoked = replace(prepared.base, status=Status.REVOKED, error_type="TaskRevoked", error_message=why)
        try:
            self._record.put_final(revoked)
        except AwsError as exc:
            return self._record.store_down(envelope.id, "recording REVOKED", exc)
        log.info("task %s %s was revoked; deleted without running", envelope.id, envelope.task)
        return Ack()

    def _before_run(
        self, prepared: Prepared, remaining_time_seconds: float | None, behind_same_task: bool = False
    ) -> Outcome | None:
        """Read the record where a copy may have run already, then claim or mark the run; None: run it.

        A first delivery of a fresh send of a plain task does none of this and builds no record.
        """
        task, envelope, max_receive_count = prepared.task, prepared.envelope, prepared.max_receive_count
        last_receive = is_last_receive(prepared.attempt, max_receive_count)
        redriven = envelope.generation > 0
        if redriven or envelope.rescues > 0 or ((prepared.attempt > 1 or behind_same_task) and not task.claim):
            # A redelivery, a rescued or a redriven copy, or a delivery that waited here behind another of its task
            # id: the results table is the record of what already ran.
            # First deliveries of fresh sends read nothing; a redriven copy is read even at receive count 1, because
            # a redrive may have sent it twice (see the module docstring).
            try:
                existing = self.app.results.get(envelope.id)
            except AwsError as exc:
                return self._record.store_down(envelope.id, "reading a redelivered task's record", exc)
            if existing is not None and revoked_by_id(existing):  # revoked by id alone (sqsq.scheduling.cancel)
                return self._record.already_final(existing, task.name)
            if existing is not None and not same_message(existing, prepared.base):
                return self._record.conflict(existing, prepared.base, prepared.body_id, ran=False)
            if existing is not None and finished(existing, envelope.generation):
                return self._record.already_final(existing, task.name)
        track_started = task.track_started and not task.ignore_result  # ignore_result stores no state at all
        if not (task.claim or redriven or track_started or last_receive or self._flows.claimed(envelope)):
            return None
        base = prepared.base
        started = last_receive_marker(base, max_receive_count) if last_receive else base
        if task.claim or redriven or self._flows.claimed(envelope):
            return self._record.claim(task, started, remaining_time_seconds, prepared.body_id)
        try:
            written = self._record.put(started)
        except AwsError as exc:
            return self._record.store_down(envelope.id, "recording STARTED", exc)
        return None if written else self._record.check_refused(base, prepared.body_id, ran=False)

    def finish_value(self, prepared: Prepared, value: Any, duration_seconds: float = 0.0) -> Outcome:
        """:meth:`finish` a run that returned ``value``: encoded by :func:`encode_result` unless the task ignores its
        result (nothing is then encoded: the value is not stored), a permanent failure when it cannot be encoded.

        Args:
            prepared: from :meth:`prepare`.
            value: what the task returned.
            duration_seconds: how long the run took (for the log).

        Returns:
            As :meth:`finish`.
        """
        result_json, encode_error = self.encode_value(prepared, value)
        if encode_error is not None:
            return self.finish(prepared, encode_error=encode_error)
        return self.finish(prepared, result_json=result_json, duration_seconds=duration_seconds)

    def encode_value(self, prepared: Prepared, value: Any) -> tuple[str | None, Exception | None]:
        """The first half of :meth:`finish_value`, no I/O: ``(result_json, None)``; ``(None, None)`` when the task
        ignores its result (nothing is encoded); ``(None, error)`` when :func:`encode_result` raised ``error``."""
        if prepared.task.ignore_result and prepared.envelope.flow is None:  # a workflow step passes its result on
            return None, None
        try:
            return encode_result(prepared.task, value, offload=self.app.payloads is not None), None
        except Exception as exc:
            return None, exc

    @staticmethod
    def writes_on_success(prepared: Prepared) -> bool:
        """Whether :meth:`finish` of a successful run writes the results store (False: it makes no request)."""
        task = prepared.task
        return not task.ignore_result or task.claim or prepared.envelope.generation > 0 or prepared.envelope.flow is not None

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

        Args and returns as for :meth:`_finish`; an Ack names the envelope (:attr:`Ack.task_id`).
        """
        outcome = self._finish(prepared, result_json=result_json, error=error, encode_error=encode_error,
                               duration_seconds=duration_seconds)
        return acknowledging(outcome, prepared.envelope.id)

    def _finish(
        self,
        prepared: Prepared,
        *,
        result_json: str | None = None,
        error: BaseException | None = None,
        encode_error: Exception | None = None,
        duration_seconds: float = 0.0,
    ) -> Outcome:
        """Record how a prepared run ended and say what to do with the message.

        Args:
            prepared: from :meth:`prepare`.
            result_json: the return value encoded by :func:`encode_result` (the run succeeded).
            error: what the task raised (a retry or a failure, by its ``retry_on`` and attempts left).
            encode_error: what :func:`encode_result` raised (a permanent failure).
            duration_seconds: how long the run took (for the log).

        Returns:
            Ack, RetryAfter, DeadLetter or Release (the results store could not be written).
        """
        task = prepared.task
        if error is not None:
            ran = replace(prepared.base, runtime_seconds=duration_seconds) if duration_seconds else prepared.base
            outcome = self._record.failed(task, ran, error, prepared.max_receive_count, prepared.body_id)
            # A long retry (past SQS's 12 h) becomes a one-time schedule and an Ack: after the flow saw the retry.
            from sqsq.executor.long_retry import schedule_long_retry  # only a failed run needs it

            return schedule_long_retry(self.app, prepared.envelope, prepared.queue_name, prepared.base.attempts,
                                       self._flows.after(prepared.envelope, outcome))
        if encode_error is not None:
            base = prepared.base
            return self._flows.after(prepared.envelope, self._record.dead_letter(
                base.task_id, task.name, base.attempts, base.generation, base.sent_at, encode_error,
                conflict_id=prepared.body_id, base=base,
            ))
        flow = prepared.envelope.flow
        written = True
        if self.writes_on_success(prepared):
            # A claimed task (and every redriven copy, which is claimed too) always records SUCCESS (without the
            # value when ignore_result): it ends the lease and lets a racing duplicate be acknowledged.
            base = prepared.base
            done = replace(base, status=Status.SUCCESS,
                           result_json=None if task.ignore_result and flow is None else result_json,
                           runtime_seconds=duration_seconds)
            try:
                written = self._record.put_final(done)
            except AwsError as exc:
                return self._record.store_down(base.task_id, "recording SUCCESS", exc)
            refused = None if written else self._record.check_refused(base, prepared.body_id, ran=True)
            if refused is not None:
                return refused
        log.debug(
            "task %s %s succeeded in %.3f s (attempt %d)", prepared.task_id, task.name, duration_seconds,
            prepared.attempt,
        )
        # A refused write means a copy recorded SUCCESS first: go on as a duplicate (resend only what is missing).
        return self._flows.after(prepared.envelope, Ack(), result_json, duplicate=not written)
