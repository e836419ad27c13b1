"""The executor's side of workflows (issue 13): the same hooks for the poller and Lambda.

For a message with a ``flow`` (see :mod:`sqsq.message_flow`): a chord callback gets its members' results before
it is validated; a step a continuation may send twice runs claimed; and after the outcome is recorded,
:mod:`sqsq.workflows.continuation` goes on (next step, chord count and callback, the workflow's record). If that
fails (store or SQS unavailable) the message is released and comes back: its redelivery finds the step final and
goes on from there (every action is idempotent).
Messages without a ``flow`` are untouched, and :mod:`sqsq.workflows` is imported only when a message needs it
(a Lambda function or worker whose messages have no flow never loads it: start-up cost, issue 11).
"""

from __future__ import annotations

import logging

from sqsq.app import App
from sqsq.errors import AwsError, SqsqError
from sqsq.executor.outcomes import Ack, DeadLetter, Outcome, Release
from sqsq.executor.recording import STORE_UNAVAILABLE_RETRY_SECONDS, Recorder
from sqsq.message import Envelope

log = logging.getLogger("sqsq.executor")


class FlowHooks:
    """Workflow hooks of one :class:`~sqsq.executor.Executor`.

    Args:
        app: the app.
        recorder: the executor's recorder (for its retried final writes).
    """

    def __init__(self, app: App, recorder: Recorder):
        self.app = app
        self._record = recorder

    def before_lookup(self, envelope: Envelope) -> Envelope:
        """Register the built-in chunk task when named; fill a chord callback's list of results.

        Raises:
            AwsError: the store could not be read (release the message).
            WorkflowError: the members' results are missing (a permanent failure).
        """
        if envelope.flow is None and envelope.task in self.app.tasks:
            return envelope  # what the two calls below would do: the task is registered, there is no chord
        from sqsq.workflows import continuation
        from sqsq.workflows.chunks import CHUNK_TASK_NAME, chunk_task

        if envelope.task == CHUNK_TASK_NAME:
            chunk_task(self.app)
        return continuation.collect_args(self.app, envelope)

    @staticmethod
    def claimed(envelope: Envelope) -> bool:
        """Whether the step runs claimed (a continuation may have sent it twice)."""
        return envelope.flow is not None and envelope.flow.claim

    def after(self, envelope: Envelope, outcome: Outcome, result_json: str | None = None, *,
              duplicate: bool = False) -> Outcome:
        """Go on after ``outcome`` was recorded (Ack: next step; DeadLetter: the workflow fails).

        Returns:
            ``outcome``, or a Release when going on failed (the message comes back and goes on then).
        """
        if envelope.flow is None or not isinstance(outcome, Ack | DeadLetter):
            return outcome
        if isinstance(outcome, DeadLetter) and outcome.error_type == "TaskIdConflict":
            return outcome  # another message's record holds this id: not this workflow's step to fail
        duplicate = duplicate or (isinstance(outcome, Ack) and outcome.duplicate)
        from sqsq.workflows import continuation

        try:
            if isinstance(outcome, DeadLetter):
                continuation.after_failure(self.app, envelope, outcome.error_type, outcome.error_message,
                                           duplicate=duplicate)
            else:
                if duplicate and result_json is None:
                    existing = self.app.results.get(envelope.id)
                    result_json = existing.result_json if existing is not None else None
                continuation.after_success(self.app, envelope, result_json, duplicate=duplicate)
        except (AwsError, SqsqError) as exc:
            log.warning("task %s: workflow %s not continued (%s); the message comes back in %d s",
                        envelope.id, envelope.flow.root, exc, STORE_UNAVAILABLE_RETRY_SECONDS)
            return Release(STORE_UNAVAILABLE_RETRY_SECONDS, f"workflow not continued: {exc}")
        return outcome
