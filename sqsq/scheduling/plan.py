"""The delivery plan of one delayed send: pure arithmetic, no I/O.

A task due at ``due_at`` (epoch seconds) reaches its queue one of two ways:

* due within SQS's 900 s: sent now with ``DelaySeconds = ceil(due_at - now)``;
* later: a one-time EventBridge Scheduler ``at(...)`` schedule fires at the whole minute at or before the due
  time (schedules fire at minute granularity), and its SendMessage carries the remainder as ``DelaySeconds``
  (0-59 s, so never over 900 on the wire).

Either way the message becomes visible at ``due_at`` or later, never earlier: every rounding goes up, and a
schedule that fires late only makes the task late. ``DelaySeconds`` is fixed when the schedule is created, so
a late firing is not compensated (the consumer-side guard, :mod:`sqsq.scheduling.guard`, covers the other way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from sqsq import limits
from sqsq.errors import LimitExceeded, SendOptionError


@dataclass(frozen=True)
class DeliveryPlan:
    """How one send reaches its queue.

    Attributes:
        due_at: epoch seconds the task may first be visible (never before).
        delay_seconds: SQS ``DelaySeconds`` on the wire, 0-900 (for a schedule: the remainder after it fires).
        fire_at: epoch seconds (a whole minute) the one-time schedule fires; ``None``: send now.
    """

    due_at: float
    delay_seconds: int
    fire_at: int | None = None

    @property
    def scheduled(self) -> bool:
        """True when the send goes through a one-time schedule."""
        return self.fire_at is not None

    def at_expression(self) -> str:
        """The schedule expression ``at(yyyy-mm-ddThh:mm:ss)`` (UTC) of :attr:`fire_at`.

        Raises:
            ValueError: the plan sends now (no schedule).
        """
        if self.fire_at is None:
            raise ValueError("this plan sends now; it has no schedule expression")
        return f"at({datetime.fromtimestamp(self.fire_at, UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


def plan_delivery(due_at: float, now: float) -> DeliveryPlan:
    """Plan a send due at ``due_at`` made at ``now`` (both epoch seconds).

    Args:
        due_at: when the task may first run; in the past or now: send now without delay.
        now: the current time.

    Returns:
        A :class:`DeliveryPlan`: ``fire_at`` None and ``delay_seconds = ceil(due_at - now)`` within 900 s;
        otherwise ``fire_at = floor(due_at / 60) * 60`` and ``delay_seconds = ceil(due_at - fire_at)`` (0-59).

    Raises:
        LimitExceeded: ``due_at`` is more than 365 days ahead (:data:`sqsq.limits.SCHEDULER_MAX_DELAY_SECONDS`).
    """
    if not (math.isfinite(due_at) and math.isfinite(now)):
        raise LimitExceeded(f"due time {due_at!r} is not a finite number of epoch seconds")
    ahead = due_at - now
    if ahead > limits.SCHEDULER_MAX_DELAY_SECONDS:
        raise LimitExceeded(
            f"the task is due {ahead:.0f} s ahead, beyond sqsq's {limits.SCHEDULER_MAX_DELAY_SECONDS} s (365 days); "
            "send it later, or declare a periodic task"
        )
    if ahead <= limits.SQS_MAX_DELAY_SECONDS:
        return DeliveryPlan(due_at=due_at, delay_seconds=max(0, math.ceil(ahead)))
    minute = limits.SCHEDULER_AT_GRANULARITY_SECONDS
    fire_at = math.floor(due_at / minute) * minute
    return DeliveryPlan(due_at=due_at, delay_seconds=math.ceil(due_at - fire_at), fire_at=fire_at)


def due_time(task_name: str, *, delay_seconds: int = 0, eta: datetime | None = None, now: float) -> float:
    """The due time (epoch seconds) of a send given ``delay_seconds`` or ``eta`` (not both).

    Args:
        task_name: the task sent (named in errors).
        delay_seconds: whole seconds from now, 0 to 365 days.
        eta: an aware datetime; in the past means now.
        now: the current epoch seconds.

    Raises:
        LimitExceeded: ``delay_seconds`` is not a whole number in 0..365 days.
        SendOptionError: ``eta`` is naive, not a datetime, or given together with ``delay_seconds``.
    """
    if isinstance(delay_seconds, bool) or not isinstance(delay_seconds, int):
        raise LimitExceeded(f"delay_seconds must be a whole number of seconds, got {delay_seconds!r}")
    if not 0 <= delay_seconds <= limits.SCHEDULER_MAX_DELAY_SECONDS:
        raise LimitExceeded(
            f"delay_seconds={delay_seconds} is outside 0..{limits.SCHEDULER_MAX_DELAY_SECONDS} s (365 days); "
            "give a shorter delay"
        )
    if eta is None:
        return now + delay_seconds
    if not isinstance(eta, datetime):
        raise SendOptionError(f"eta must be a datetime, got {type(eta).__name__}", task_name)
    if delay_seconds:
        raise SendOptionError("give eta= or delay_seconds=, not both", task_name)
    if eta.tzinfo is None or eta.utcoffset() is None:
        raise SendOptionError(
            f"eta={eta.isoformat()} is naive; give an aware datetime, e.g. datetime.now(UTC) + timedelta(hours=3)",
            task_name,
        )
    return max(now, eta.timestamp())
