"""EventBridge Scheduler in the local AWS: moto 5.2.5 serves the API and stores schedules; the engine fires them.

moto answers CreateSchedule/GetSchedule/UpdateSchedule/DeleteSchedule/ListSchedules and the schedule-group calls
but never invokes a target. :class:`SchedulerService` runs :class:`sqsq.local.scheduler.engine.SchedulerEngine`
on a thread owned by the server process (started and stopped with it) and after every advance of the
controllable clock (``POST /_sqsq/clock``), so a due schedule has fired when the advance answers.

It patches nothing, but reads moto's Scheduler model (``moto.scheduler.models.scheduler_backends``, the backend's
``schedule_groups``, ``ScheduleGroup.schedules`` and the ``Schedule`` attributes ``arn``, ``name``,
``schedule_expression``, ``schedule_expression_timezone``, ``start_date``, ``end_date``, ``state``, ``target``,
``action_after_completion``, ``last_modified_date``) and sends into moto's SQS backend; both are checked against
moto 5.2.5 (:attr:`SchedulerService.moto_version`).

Scheduler API calls are REST requests: the request counter names them by method and path
(:func:`sqsq.local.services.base.rest_action`), e.g. ``scheduler:CreateSchedule``.
"""

from __future__ import annotations

from typing import ClassVar

from sqsq.local.scheduler.engine import SchedulerEngine
from sqsq.local.services import clock
from sqsq.local.services.base import LocalService
from sqsq.local.services.moto_version import SUPPORTED_MOTO_VERSION

__all__ = ["SchedulerService"]


class SchedulerService(LocalService):
    """Fires the schedules moto stores (see the module docstring)."""

    name: ClassVar[str] = "scheduler"
    moto_version: ClassVar[str | None] = SUPPORTED_MOTO_VERSION

    def __init__(self) -> None:
        self.engine = SchedulerEngine(clock.now)
        self._listening = False

    def start(self) -> None:
        """Start firing: the engine's thread, and a look after every clock advance."""
        if not self._listening:
            clock.add_listener(self.engine.tick)
            self._listening = True
        self.engine.start()

    def stop(self) -> None:
        """Stop the engine's thread."""
        self.engine.stop()
