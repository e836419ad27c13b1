"""What ``sqsq schedules APP`` shows: the app's recurring schedules with their next firings, and its pending
one-time schedules, read from the Scheduler API (ListSchedules, then GetSchedule per schedule) in the app's group.

Recurring (``cron``/``rate``) schedules are the periodic tasks (:mod:`sqsq.scheduling.periodic`). One-time
(``at(...)``) schedules are the delayed tasks and ETAs beyond SQS's 900 s (issue 12's send path): they are read
by :func:`one_time_entry`, the one place that knows their Input's shape.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqsq.errors import AwsError, ScheduleExpressionError
from sqsq.scheduling.expressions import parse
from sqsq.transport.aws import AwsClients
from sqsq.transport.scheduler_admin import get_schedule, list_schedule_names

__all__ = ["OneTimeSchedule", "RecurringSchedule", "ScheduleListing", "list_app_schedules", "one_time_entry"]

NEXT_FIRINGS = 3
"""How many next firing times a recurring schedule shows."""


@dataclass(frozen=True)
class RecurringSchedule:
    """A recurring schedule of the app's group.

    Attributes:
        name: schedule name.
        expression: ``cron(...)`` or ``rate(...)``.
        timezone: ScheduleExpressionTimezone.
        state: ``ENABLED`` or ``DISABLED``.
        task: the task its Input names, or None when it is not a sqsq envelope.
        next_firings: the next firing times, epoch seconds (none when DISABLED or past its EndDate).
    """

    name: str
    expression: str
    timezone: str
    state: str
    task: str | None
    next_firings: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class OneTimeSchedule:
    """A pending one-time (``at(...)``) schedule: a delayed task or ETA that has not fired yet.

    Attributes:
        name: schedule name.
        task: the task name, or None when the Input is not a sqsq envelope.
        task_id: the task id, or None likewise.
        due: when the task is due, epoch seconds: its envelope's ``due_at`` (sqsq's delayed sends), else when the
            schedule fires.
    """

    name: str
    task: str | None
    task_id: str | None
    due: float


@dataclass(frozen=True)
class ScheduleListing:
    """Everything in one schedule group. ``to_json()`` is what ``--json`` prints."""

    group: str
    recurring: list[RecurringSchedule]
    one_time: list[OneTimeSchedule]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: ``{"group", "recurring": [...], "one_time": [...]}`` (times in epoch seconds)."""
        return {"group": self.group, "recurring": [asdict(r) for r in self.recurring],
                "one_time": [asdict(o) for o in self.one_time]}


def _envelope(details: dict[str, Any]) -> dict[str, Any]:
    """The sqsq envelope a schedule sends (SQS target Input, or the universal target's MessageBody), or {}."""
    try:
        data = json.loads((details.get("Target") or {}).get("Input") or "")
        if isinstance(data, dict) and "MessageBody" in data:
            data = json.loads(data["MessageBody"])
    except (ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def one_time_entry(details: dict[str, Any]) -> OneTimeSchedule | None:
    """A pending one-time schedule from GetSchedule's answer, or None when it is not one (or has no due time)."""
    try:
        recurrence = parse(str(details.get("ScheduleExpression", "")), details.get("ScheduleExpressionTimezone") or "UTC")
    except ScheduleExpressionError:
        return None
    if recurrence.kind != "at":
        return None
    envelope = _envelope(details)
    due = recurrence.next_after(float("-inf"))
    if due is None:
        return None
    due_at = envelope.get("due_at")  # the task's due second (the schedule fires up to a minute before it)
    if isinstance(due_at, (int, float)) and not isinstance(due_at, bool):
        due = float(due_at)
    task, task_id = envelope.get("task"), envelope.get("id")
    return OneTimeSchedule(details["Name"], task if isinstance(task, str) else None,
                           task_id if isinstance(task_id, str) else None, due)


def recurring_entry(details: dict[str, Any], now: float, count: int = NEXT_FIRINGS) -> RecurringSchedule | None:
    """A recurring schedule from GetSchedule's answer with its next ``count`` firings after ``now``, or None."""
    timezone = details.get("ScheduleExpressionTimezone") or "UTC"
    expression = str(details.get("ScheduleExpression", ""))
    try:
        recurrence = parse(expression, timezone)
    except ScheduleExpressionError:
        return None
    if recurrence.kind == "at":
        return None
    state = details.get("State", "ENABLED")
    start, end = _epoch(details.get("StartDate")), _epoch(details.get("EndDate"))
    anchor = start if start is not None else _epoch(details.get("CreationDate"))
    firings: list[float] = []
    if state != "DISABLED":
        after = max(now, start - 0.001) if start is not None and recurrence.kind == "cron" else now
        firings = [t for t in recurrence.next_times(after, count, anchor) if end is None or t < end]
    task = _envelope(details).get("task")
    return RecurringSchedule(details["Name"], expression, timezone, state, task if isinstance(task, str) else None,
                             firings)


def list_app_schedules(clients: AwsClients, group: str, now: float | None = None) -> ScheduleListing:
    """The recurring and pending one-time schedules of ``group``, by name.

    Args:
        clients: the AWS clients.
        group: the app's schedule group (:func:`sqsq.template.scheduling.schedule_group_name`).
        now: epoch seconds the next firings are counted from; default the current time.

    Raises:
        AwsError: a call failed; a missing group lists nothing.
    """
    moment = time.time() if now is None else now
    try:
        names = list_schedule_names(clients, group)
    except AwsError as exc:
        if exc.code == "ResourceNotFoundException":
            return ScheduleListing(group, [], [])
        raise
    recurring: list[RecurringSchedule] = []
    one_time: list[OneTimeSchedule] = []
    for name in names:
        details = get_schedule(clients, group, name)
        entry = recurring_entry(details, moment)
        if entry is not None:
            recurring.append(entry)
            continue
        pending = one_time_entry(details)
        if pending is not None:
            one_time.append(pending)
    one_time.sort(key=lambda o: o.due)
    return ScheduleListing(group, recurring, one_time)
