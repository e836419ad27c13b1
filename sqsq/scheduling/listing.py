"""What is coming: the app's pending one-time schedules (``sqsq schedules APP``).

Issue 12's time-engine half adds the recurring schedules (with their next firing times) to this module; this part
lists the one-time schedules of sends due past 900 s: task, id and due time, read from each schedule's
SendMessage Input (ListSchedules, then one GetSchedule per schedule: run it as an operator, not in a hot path).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqsq.errors import MessageDecodeError
from sqsq.message import Envelope
from sqsq.scheduling.one_time import NAME_PREFIX
from sqsq.transport.schedules import PendingSchedule, Scheduler


@dataclass(frozen=True)
class PendingTask:
    """One task waiting for its one-time schedule.

    Attributes:
        task_id: the task id.
        task: the registered task name.
        due_at: epoch seconds it becomes visible (the envelope's ``due_at``; ``None`` if it has none).
        schedule: the schedule's name.
        expression: its ``at(...)`` expression (UTC).
    """

    task_id: str
    task: str
    due_at: float | None
    schedule: str
    expression: str

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dict (``due`` as ISO 8601 UTC too)."""
        due = None if self.due_at is None else datetime.fromtimestamp(self.due_at, UTC).isoformat()
        return {"kind": "one-time", "task_id": self.task_id, "task": self.task, "due_at": self.due_at, "due": due,
                "schedule": self.schedule, "expression": self.expression}


def pending_one_time(scheduler: Scheduler, group: str) -> list[PendingTask]:
    """The group's one-time schedules sqsq created, soonest due first.

    Raises:
        AwsError: listing or reading a schedule failed.
    """
    tasks = [_task(s) for s in scheduler.pending(group, NAME_PREFIX)]
    return sorted(tasks, key=lambda t: (t.due_at is None, t.due_at or 0.0, t.task_id))


def _task(schedule: PendingSchedule) -> PendingTask:
    body = schedule.input.get("MessageBody")
    try:
        envelope = Envelope.from_body(body) if isinstance(body, str) else None
    except MessageDecodeError:
        envelope = None
    if envelope is None:
        return PendingTask(schedule.name.removeprefix(NAME_PREFIX), "<unreadable>", None, schedule.name,
                           schedule.expression)
    return PendingTask(envelope.id, envelope.task, envelope.due_at, schedule.name, schedule.expression)
