"""Time: delays and ETAs past SQS's 900 s, cancellation and revocation (issue 12), on EventBridge Scheduler.

The parts: :mod:`~sqsq.scheduling.plan` (pure: when a schedule fires and the ``DelaySeconds`` it carries),
:mod:`~sqsq.scheduling.one_time` (the one-time schedule of a prepared send, and its SCHEDULED record),
:mod:`~sqsq.scheduling.cancel` (``AsyncResult.cancel`` / ``sqsq cancel``), :mod:`~sqsq.scheduling.revocation`
(how a consumer learns a queued task was revoked), :mod:`~sqsq.scheduling.guard` (a message that arrives early
goes back to its queue) and :mod:`~sqsq.scheduling.listing` (``sqsq schedules``).
"""

from __future__ import annotations

from sqsq.scheduling.plan import DeliveryPlan, due_time, plan_delivery

__all__ = ["DeliveryPlan", "due_time", "plan_delivery"]
