"""A send due more than 900 s ahead: its one-time schedule, and the SCHEDULED record that says so.

One CreateSchedule (the schedule group created on first use locally) and one PutItem per task. The schedule
is named from the task id (:func:`schedule_name`), so a send retried after a timeout finds its own schedule
(ConflictException: success) and ``cancel`` can find it without a lookup.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqsq import limits
from sqsq.config import Settings
from sqsq.errors import AwsError, ConfigError
from sqsq.message import Envelope
from sqsq.results import ResultRecord, ResultStore, Status
from sqsq.scheduling.plan import DeliveryPlan
from sqsq.transport import Transport
from sqsq.transport.schedules import OneTimeSchedule, Scheduler

log = logging.getLogger("sqsq.scheduling")

NAME_PREFIX = "sqsq-"
"""Every one-time schedule sqsq creates is named this prefix + the task id (``sqsq schedules`` lists by it)."""

LOCAL_ROLE_ARN = "arn:aws:iam::123456789012:role/sqsq-local-scheduler"
"""The role ARN used against a local endpoint when ``scheduler_role_arn`` is not set (moto checks no role)."""

_NAME_OK = re.compile(r"^[0-9a-zA-Z._-]+$")


def schedule_name(task_id: str, attempts: int = 0) -> str:
    """The one-time schedule's name for a task id: ``"sqsq-<id>"`` for its send, ``"sqsq-<id>.r<attempts>"`` for a
    retry scheduled after that many attempts; a hash of the id when that would not be a valid schedule name
    (1-64 of ``[0-9a-zA-Z-_.]``)."""
    suffix = f".r{attempts}" if attempts else ""
    name = NAME_PREFIX + task_id + suffix
    if len(name) <= limits.SCHEDULER_NAME_MAX_CHARS and _NAME_OK.match(task_id):
        return name
    return NAME_PREFIX + "h" + hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()[:40] + suffix


def role_arn(settings: Settings) -> str:
    """The role schedules send with: ``scheduler_role_arn``, a placeholder locally.

    Raises:
        ConfigError: not set and not local.
    """
    if settings.scheduler_role_arn is not None:
        return settings.scheduler_role_arn
    if settings.endpoint_url is not None:
        return LOCAL_ROLE_ARN
    raise ConfigError(
        "a send due more than 900 s ahead needs EventBridge Scheduler's role: set SQSQ_SCHEDULER_ROLE_ARN "
        "(the template sets it on its functions and services from its SchedulerRole)"
    )


class Components(Protocol):
    """What scheduling a send needs of an app (:class:`sqsq.App` is one)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def transport(self) -> Transport: ...

    @property
    def results(self) -> ResultStore: ...

    @property
    def scheduler(self) -> Scheduler: ...


@dataclass(frozen=True)
class Scheduled:
    """A send delivered through a schedule: which, and where."""

    task_id: str
    schedule: str
    group: str
    created: bool


def schedule_send(
    app: Components, envelope: Envelope, body: str, queue_name: str, plan: DeliveryPlan, *, attempts: int = 0
) -> Scheduled:
    """Create the one-time schedule that sends ``body`` to ``queue_name``, then record the task SCHEDULED.

    Args:
        app: settings and backends.
        envelope: the envelope (its ``id``, ``task``, ``sent_at`` name the record; ``due_at`` set).
        body: the encoded envelope.
        queue_name: the physical queue.
        plan: a scheduled :class:`DeliveryPlan`.
        attempts: attempts already made (a retry scheduled past 12 hours); the SCHEDULED record keeps the count.

    Returns:
        :class:`Scheduled` (``created`` False: the schedule existed, a retried send or a retry's second copy).

    Raises:
        ConfigError: no role ARN (on AWS), or the schedule group is missing on AWS.
        AwsError: CreateSchedule failed.
    """
    assert plan.fire_at is not None
    settings = app.settings
    info = app.transport.queue_info(queue_name)
    name = schedule_name(envelope.id, attempts)
    due = datetime.fromtimestamp(plan.due_at, UTC).isoformat()
    spec = OneTimeSchedule(
        name=name,
        group=settings.schedule_group_name,
        expression=plan.at_expression(),
        queue_url=info.url,
        queue_arn=info.arn,
        body=body,
        delay_seconds=plan.delay_seconds,
        role_arn=role_arn(settings),
        dead_letter_arn=info.dead_letter_target_arn,
        description=f"sqsq task {envelope.task} {envelope.id} due {due}",
    )
    created = app.scheduler.create(spec)
    _record_scheduled(app, envelope, plan.due_at, attempts)
    return Scheduled(envelope.id, name, spec.group, created)


def _record_scheduled(app: Components, envelope: Envelope, due_at: float, attempts: int) -> None:
    """One PutItem: SCHEDULED with the due time, kept until the result TTL after the due time.

    The schedule exists by now, so a failed write is logged, not raised: the task will run; only its record
    reads PENDING until it does.
    """
    now = time.time()
    record = ResultRecord(
        task_id=envelope.id, status=Status.SCHEDULED, task_name=envelope.task, sent_at=envelope.sent_at,
        generation=envelope.generation, due_at=due_at, attempts=attempts,
    ).stamped(int(max(0.0, due_at - now)) + app.settings.result_ttl_seconds, now)
    try:
        app.results.put(record)
    except AwsError as exc:
        log.warning("task %s is scheduled, but its SCHEDULED record was not written: %s", envelope.id, exc)
