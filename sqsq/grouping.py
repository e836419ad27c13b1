"""Message groups and deduplication ids of a send: FIFO queues and fair queues (issue 14).

* **FIFO queue** (``app.declare_queue("orders", fifo=True)``): every message needs a ``MessageGroupId``, from the
  send's ``group_id=`` or else the task's ``group_key`` (a function of the validated arguments). Its
  ``MessageDeduplicationId`` is the send's ``deduplication_id=`` or else the task id, so a send that is retried
  (sqsq's own entry retries, or the caller's after an error that left it unsure) within SQS's 5-minute window is
  enqueued once. A per-message ``delay_seconds`` is refused: SQS does not allow one on a FIFO queue.
* **Standard queue**: ``tenant=`` sets ``MessageGroupId``, which makes the queue a fair queue for that tenant
  (SQS fair queues, July 2025). ``group_id=`` and ``deduplication_id=`` are refused there: they would not order or
  deduplicate anything.

Both ids: 1-128 characters, ASCII letters, digits and punctuation
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from sqsq import limits
from sqsq.errors import LimitExceeded, SendOptionError
from sqsq.task import Task

_ID_CHARACTERS = re.compile(r"[!-~]+")
"""SQS's alphanumeric characters and punctuation: ASCII 0x21-0x7E."""


@dataclass(frozen=True)
class GroupOptions:
    """The group options of one send.

    Attributes:
        group_id: FIFO queues: the message group (order holds within it). ``None``: the task's ``group_key``.
        deduplication_id: FIFO queues: the MessageDeduplicationId. ``None``: the task id.
        tenant: standard queues: the fair-queue tenant, sent as MessageGroupId.
    """

    group_id: str | None = None
    deduplication_id: str | None = None
    tenant: str | None = None


@dataclass(frozen=True)
class MessageIds:
    """What a message carries besides its body: ``MessageGroupId`` and ``MessageDeduplicationId`` (or None)."""

    group_id: str | None = None
    deduplication_id: str | None = None


NO_GROUP = GroupOptions()
"""A send without group options."""
NO_IDS = MessageIds()
"""A message without MessageGroupId or MessageDeduplicationId."""


def is_fifo_queue(queue_name: str) -> bool:
    """Whether a physical queue name is a FIFO queue's (SQS: it ends with ``.fifo``)."""
    return queue_name.endswith(limits.SQS_FIFO_SUFFIX)


def check_id(task_name: str, what: str, value: object) -> str:
    """Return ``value`` if SQS accepts it as a MessageGroupId / MessageDeduplicationId.

    Raises:
        SendOptionError: not a string of 1-128 ASCII letters, digits and punctuation.
    """
    if not isinstance(value, str) or not value:
        raise SendOptionError(f"{what}={value!r} must be a non-empty string", task_name)
    if len(value) > limits.SQS_MAX_MESSAGE_GROUP_ID_LENGTH:
        raise SendOptionError(
            f"{what} is {len(value)} characters; SQS allows {limits.SQS_MAX_MESSAGE_GROUP_ID_LENGTH}", task_name
        )
    if not _ID_CHARACTERS.fullmatch(value):
        raise SendOptionError(
            f"{what}={value!r}: SQS accepts only ASCII letters, digits and punctuation (no spaces); encode it, e.g. "
            "as hex or URL-safe base64", task_name,
        )
    return value


def message_ids(
    task: Task[Any, Any],
    model: BaseModel,
    task_id: str,
    options: GroupOptions,
    *,
    queue_name: str,
    delay_seconds: int,
) -> MessageIds:
    """The ids a message to ``queue_name`` carries, or a clear error why it cannot be sent so.

    Args:
        task: the task sent (its ``group_key`` is the default group on a FIFO queue).
        model: the validated arguments (what ``group_key`` is called with).
        task_id: the new task id (the default deduplication id on a FIFO queue).
        options: the send's ``group_id``/``deduplication_id``/``tenant``.
        queue_name: the physical queue (``.fifo`` = a FIFO queue).
        delay_seconds: the send's per-message delay.

    Raises:
        LimitExceeded: a per-message delay on a FIFO queue (SQS refuses it).
        SendOptionError: no message group for a FIFO queue; FIFO-only options on a standard queue; ``tenant`` on a
            FIFO queue; an id SQS would refuse; ``group_key`` raised or returned a non-string.
    """
    if not is_fifo_queue(queue_name):
        if options.group_id is not None or options.deduplication_id is not None:
            raise SendOptionError(
                f"group_id=/deduplication_id= apply to FIFO queues; {queue_name} is a standard queue (for a "
                "fair-queue tenant use tenant=, or declare the queue with app.declare_queue(..., fifo=True))",
                task.name,
            )
        tenant = None if options.tenant is None else check_id(task.name, "tenant", options.tenant)
        return MessageIds(group_id=tenant)
    if delay_seconds:
        raise LimitExceeded(
            f"delay_seconds={delay_seconds} on FIFO queue {queue_name}: SQS allows no per-message delay on a FIFO "
            "queue; give the queue a delay (its DelaySeconds attribute) or schedule the send instead"
        )
    if options.tenant is not None:
        raise SendOptionError(
            f"tenant= is for fair (standard) queues; on FIFO queue {queue_name} pass group_id= (the message group "
            "whose order is kept)", task.name,
        )
    group = options.group_id if options.group_id is not None else _group_from_key(task, model, queue_name)
    dedup = task_id if options.deduplication_id is None else options.deduplication_id
    return MessageIds(check_id(task.name, "group_id", group), check_id(task.name, "deduplication_id", dedup))


def _group_from_key(task: Task[Any, Any], model: BaseModel, queue_name: str) -> str:
    if task.group_key is None:
        raise SendOptionError(
            f"FIFO queue {queue_name} needs a message group: pass group_id=... to the send, or declare the task "
            "with @app.task(group_key=lambda args: ...)", task.name,
        )
    try:
        group = task.group_key(model)
    except Exception as exc:
        raise SendOptionError(f"group_key of task {task.name!r} raised {type(exc).__name__}: {exc}", task.name) from exc
    if not isinstance(group, str):
        raise SendOptionError(
            f"group_key of task {task.name!r} returned {type(group).__name__}, not the str a message group id must be",
            task.name,
        )
    return group
