"""Scheduling on EventBridge Scheduler (issue 12). Nothing here runs a scheduler: EventBridge Scheduler (or,
locally, :mod:`sqsq.local.scheduler`) fires.

* :mod:`~sqsq.scheduling.plan`: pure: when a one-time schedule fires and the ``DelaySeconds`` it carries;
* :mod:`~sqsq.scheduling.one_time`: the one-time schedule of a send due past 900 s, and its SCHEDULED record;
* :mod:`~sqsq.scheduling.cancel`: ``AsyncResult.cancel`` / ``sqsq cancel``;
* :mod:`~sqsq.scheduling.revocation`: how a consumer learns a queued task was revoked;
* :mod:`~sqsq.scheduling.guard`: a message that arrives early goes back to its queue;
* :mod:`~sqsq.scheduling.expressions`: ``cron()``/``every()`` declarations, EventBridge expression evaluation;
* :mod:`~sqsq.scheduling.periodic`: ``app.schedule(...)`` declarations and the Input each firing sends;
* :mod:`~sqsq.scheduling.listing`: what ``sqsq schedules`` shows.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqsq.scheduling.plan import DeliveryPlan, due_time, plan_delivery

__all__ = ["DeliveryPlan", "due_time", "plan_delivery"]


def __getattr__(name: str) -> Any:
    # Lazy: a consumer imports sqsq.scheduling.cancel/guard/revocation, and needs no plan until it sends.
    if name in __all__:
        return getattr(import_module("sqsq.scheduling.plan"), name)
    raise AttributeError(f"module 'sqsq.scheduling' has no attribute {name!r}")
