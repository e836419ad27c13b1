"""Periodic tasks: ``app.schedule(task, sqsq.cron(...) | sqsq.every(...), args=...)``, declared, not run.

A declaration does no I/O: ``sqsq template`` renders each one as an ``AWS::Scheduler::Schedule`` in the app's
schedule group (:mod:`sqsq.template.scheduling`), and EventBridge Scheduler sends the task's message to its queue
at every firing. sqsq runs no scheduler process of its own.

Each firing is a task with its own id and record. The schedule's Input is an envelope whose ``id`` is
``"<periodic id>:<aws.scheduler.scheduled-time>"``: EventBridge Scheduler substitutes the firing's scheduled time
(``2026-12-04T02:00:00Z``), so the id is new at every firing and the same for the scheduler's retries of one firing
(the execution id changes per attempt, which is why it is not used). ``periodic`` carries the fixed part; with
signing on, the signature is computed here, once, over the fixed part (see :func:`sqsq.signing.canonical_bytes`):
the per-firing suffix is unsigned, so the worker treats it as replayable data that cannot change what runs.

Overlap: a firing is an ordinary message, so a long run does not block the next firing (two runs of the same
periodic task may overlap). A task that must run at most one at a time declares ``claim=True`` (see
:meth:`sqsq.App.task`), and a firing whose predecessor still runs waits for it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqsq.errors import ConfigError
from sqsq.message import Envelope
from sqsq.scheduling.expressions import Cron, Every
from sqsq.signing import KeyRing

if TYPE_CHECKING:
    from sqsq.config import Settings
    from sqsq.task import Args, Task

__all__ = [
    "FIRING_TIME",
    "RETRY_POLICY",
    "schedule_group",
    "MAX_FLEXIBLE_WINDOW_MINUTES",
    "PeriodicTask",
    "declare",
    "periodic_id",
]

FIRING_TIME = "<aws.scheduler.scheduled-time>"
"""EventBridge Scheduler's context attribute for a firing's scheduled time, substituted in the Input
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html)."""

MAX_FLEXIBLE_WINDOW_MINUTES = 1440
"""FlexibleTimeWindow.MaximumWindowInMinutes: 1-1440
(https://docs.aws.amazon.com/scheduler/latest/APIReference/API_FlexibleTimeWindow.html)."""

_NAME_RE = re.compile(r"^[0-9a-zA-Z._-]{1,64}$")

RETRY_POLICY = {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
"""The periodic schedules' RetryPolicy: EventBridge Scheduler's defaults, stated (retry a failed SendMessage for up
to 24 h, at most 185 times; https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html)."""


def schedule_group(settings: Settings) -> str:
    """The app's schedule group: ``schedule_group`` when set, else its queue prefix without the trailing ``-``
    (``census-dev-`` -> ``census-dev``), which is what the template names it (``<app>-<Stage>``). One group holds
    the periodic tasks and the one-time schedules (:attr:`sqsq.config.Settings.schedule_group_name`)."""
    return settings.schedule_group_name


def periodic_id(name: str) -> str:
    """The fixed part of a periodic task's firing ids: ``"periodic.<name>"``."""
    return f"periodic.{name}"


@dataclass(frozen=True)
class PeriodicTask:
    """One declared periodic task.

    Attributes:
        name: the schedule's name in the app's schedule group (1-64 of ``0-9 a-z A-Z . _ -``).
        task: the task each firing runs.
        schedule: when (:class:`~sqsq.scheduling.expressions.Cron` or :class:`~sqsq.scheduling.expressions.Every`).
        args: the arguments, validated and dumped in JSON mode at declaration.
        queue: logical queue the firings are sent to (default: the task's).
        flexible_window_minutes: FlexibleTimeWindow: None = OFF (fire at the time), else 1-1440 minutes within
            which EventBridge may fire.
    """

    name: str
    task: Task[Any, Any]
    schedule: Cron | Every
    args: dict[str, Any]
    queue: str | None
    flexible_window_minutes: int | None

    @property
    def id(self) -> str:
        """The fixed part of the firing ids (:func:`periodic_id`)."""
        return periodic_id(self.name)

    def flexible_time_window(self) -> dict[str, Any]:
        """The schedule's FlexibleTimeWindow: ``{"Mode": "OFF"}`` or FLEXIBLE with its minutes."""
        if self.flexible_window_minutes is None:
            return {"Mode": "OFF"}
        return {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": self.flexible_window_minutes}

    def input(self, keyring: KeyRing | None) -> str:
        """The schedule target's Input: the envelope EventBridge sends at each firing (JSON text).

        Args:
            keyring: signing keys (the app's); None sends unsigned.

        Returns:
            compact JSON with ``id`` = ``"<periodic id>:<aws.scheduler.scheduled-time>"`` and no ``sent_at``.
        """
        envelope = Envelope(id=f"{self.id}:{FIRING_TIME}", task=self.task.name, args=self.args, periodic=self.id)
        if keyring is not None:
            envelope = keyring.sign(envelope)
        data = json.loads(envelope.to_body())
        data.pop("sent_at", None)  # the firing's own decode time stands in (recorded as unknown)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=True)


def create_request(
    periodic: PeriodicTask, group: str, queue_arn: str, dlq_arn: str, role_arn: str, keyring: KeyRing | None
) -> dict[str, Any]:
    """CreateSchedule's request for a periodic task (what the template declares, with ARNs resolved).

    Used by ``sqsq provision`` (schedules without SAM); the template renders the same fields with intrinsics.
    """
    return {
        "Name": periodic.name,
        "GroupName": group,
        "Description": f"sqsq periodic task {periodic.task.name} ({periodic.schedule.expression})",
        "ScheduleExpression": periodic.schedule.expression,
        "ScheduleExpressionTimezone": periodic.schedule.timezone,
        "FlexibleTimeWindow": periodic.flexible_time_window(),
        "State": "ENABLED",
        "Target": {
            "Arn": queue_arn,
            "RoleArn": role_arn,
            "Input": periodic.input(keyring),
            "RetryPolicy": dict(RETRY_POLICY),
            "DeadLetterConfig": {"Arn": dlq_arn},
        },
    }


def declare(
    registry: dict[str, PeriodicTask],
    task: Task[Any, Any],
    schedule: Cron | Every,
    *,
    args: Args | None,
    name: str | None,
    queue: str | None,
    flexible_window_minutes: int | None,
) -> PeriodicTask:
    """Validate a periodic declaration and add it to ``registry`` (the app's). Does no I/O.

    Raises:
        ConfigError: not a cron()/every() schedule, a bad name, a name already declared, a window out of 1-1440.
        ValidationError: ``args`` do not match the task's schema (nothing declared).
    """
    if not isinstance(schedule, (Cron, Every)):
        raise ConfigError(
            f"app.schedule: the schedule must be sqsq.cron(...) or sqsq.every(seconds=...), got {schedule!r}"
        )
    chosen = name if name is not None else task.name
    if not _NAME_RE.fullmatch(chosen):
        raise ConfigError(
            f"app.schedule: schedule name {chosen!r} must be 1-64 of 0-9 a-z A-Z . _ - (EventBridge Scheduler's "
            "rule); pass name="
        )
    if chosen in registry:
        raise ConfigError(f"app.schedule: a periodic task named {chosen!r} is already declared; pass another name=")
    window = flexible_window_minutes
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                               or not 1 <= window <= MAX_FLEXIBLE_WINDOW_MINUTES):
        raise ConfigError(
            f"app.schedule: flexible_window_minutes={window!r} must be 1-{MAX_FLEXIBLE_WINDOW_MINUTES} minutes, "
            "or None to fire at the time"
        )
    model = task.validate_args(args if args is not None else {})
    periodic = PeriodicTask(
        name=chosen, task=task, schedule=schedule, args=task.dump_args(model), queue=queue,
        flexible_window_minutes=window,
    )
    registry[chosen] = periodic
    return periodic
