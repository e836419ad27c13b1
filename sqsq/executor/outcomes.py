"""What the executor tells its caller to do with a message (:data:`Outcome`), and a message ready to run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from sqsq.attributes import decode_attributes
from sqsq.context import TaskContext
from sqsq.masking import args_preview
from sqsq.message import Envelope, undecodable_id
from sqsq.results import ResultRecord, Status
from sqsq.task import Task


@dataclass(frozen=True)
class Ack:
    """Done and durably recorded: delete the message. ``duplicate``: it had already succeeded before.

    ``task_id``: the id of the envelope acknowledged (set by the executor), so an offloaded body's own object
    is deleted with the message (:func:`sqsq.executor.payload.delete_payload`); None: unknown, nothing deleted.
    """

    duplicate: bool = False
    task_id: str | None = field(default=None, compare=False)  # not part of what the outcome says to do


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
    """A message ready to run (from :meth:`sqsq.executor.Executor.prepare`): its task and validated arguments.

    The record its outcome is written from (:attr:`base`) and the id a conflict is filed under (:attr:`body_id`)
    are built when first needed: a task whose result is not stored runs without either.

    Attributes:
        task: the registered task the message names.
        model: the validated arguments.
        envelope: the decoded message.
        body: the message body as received.
        attempt: the receive count (the attempt number).
        max_receive_count: the source queue's redrive maxReceiveCount, or None.
        message_attributes: the message's attributes as received (SQS API shape).
        queue_name: the queue it was received from ("" when unknown).
    """

    task: Task[Any, Any]
    model: BaseModel
    envelope: Envelope
    body: str
    attempt: int
    max_receive_count: int | None
    message_attributes: Mapping[str, Any] = field(default_factory=dict)
    queue_name: str = ""

    @property
    def context(self) -> TaskContext:
        """What :func:`sqsq.context.current` returns while this message's task runs."""
        return TaskContext(
            task_id=self.envelope.id, task_name=self.task.name, attempt=self.attempt,
            generation=self.envelope.generation, attributes=decode_attributes(self.message_attributes),
        )

    @property
    def task_id(self) -> str:
        """The task id."""
        return self.envelope.id

    @property
    def args(self) -> dict[str, Any]:
        """The envelope's arguments as sent (JSON-compatible; what a pool process is given)."""
        return dict(self.envelope.args)

    @cached_property
    def base(self) -> ResultRecord:
        """The STARTED-shaped record the outcome is written from."""
        envelope = self.envelope
        return ResultRecord(
            task_id=envelope.id,
            status=Status.STARTED,
            task_name=self.task.name,
            # A copy scheduled by a retry past 12 hours carries the attempts made before it (issue 12).
            attempts=self.attempt + envelope.prior_attempts,
            generation=envelope.generation,
            # A body without sent_at gets a new one at every decode: record it as unknown, or the message's own
            # retries would not be the same message (sqsq.results.same_message).
            sent_at=envelope.sent_at if "sent_at" in envelope.model_fields_set else None,
            args_preview=self.args_preview,
        )

    @cached_property
    def args_preview(self) -> str:
        """The masked, cut arguments the record keeps for the dashboard (:func:`sqsq.masking.args_preview`)."""
        return args_preview(self.envelope.args)

    @cached_property
    def body_id(self) -> str:
        """:func:`sqsq.message.undecodable_id` of the body: where a conflict (``TaskIdConflict``) is filed."""
        return undecodable_id(self.body)
