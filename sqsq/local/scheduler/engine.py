"""The local EventBridge Scheduler's firing loop: moto stores schedules, this fires the due ones.

:class:`SchedulerEngine` looks at every schedule moto's Scheduler backends hold (all accounts, regions, groups)
on the controllable clock (:mod:`sqsq.local.services.clock`): every :data:`TICK_SECONDS` on its thread, and at
once after each clock advance. Per schedule it keeps the next due time, computed with
:func:`sqsq.scheduling.expressions.parse` in the schedule's ScheduleExpressionTimezone, and recomputed whenever
the schedule is updated.

Rules (EventBridge's, https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html):

* ``at(...)``: fires once when due (a time already past when first seen fires at once); then, with
  ``ActionAfterCompletion: DELETE``, the schedule is deleted, else it stays and never fires again;
* ``rate(...)``: fires at its anchor, StartDate if given, else when first seen (EventBridge starts a rate schedule
  without StartDate at once), then every period;
* ``cron(...)``: fires at each matching time after it was first seen (and from StartDate);
* no firing at or after EndDate; State DISABLED fires nothing (its due times pass unfired);
* FlexibleTimeWindow FLEXIBLE fires at the start of the window (faithful: AWS may fire anywhere in it).

Missed firings after a big clock advance: each due time that was passed fires, in order, each with its own
scheduled time, up to :data:`MAX_CATCH_UP_FIRINGS` per schedule per look; the rest are skipped (logged) and the
schedule continues from the next time after now. EventBridge fires once per due time, but it never jumps a
month; the cap keeps a 30-day advance of a ``rate(1 minute)`` schedule from flooding a queue with 43,200
messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqsq.errors import ScheduleExpressionError
from sqsq.local.scheduler.targets import Firing, fire
from sqsq.scheduling.expressions import Recurrence, parse

__all__ = ["MAX_CATCH_UP_FIRINGS", "TICK_SECONDS", "SchedulerEngine"]

TICK_SECONDS = 0.5
"""How often the loop looks for due schedules (real seconds)."""

MAX_CATCH_UP_FIRINGS = 100
"""Most firings of one schedule in one look; due times beyond are skipped."""

_log = logging.getLogger("sqsq.local.scheduler")


@dataclass
class _Plan:
    modified: Any
    recurrence: Recurrence | None
    anchor: float | None
    next_due: float | None


class SchedulerEngine:
    """Fires due schedules of moto's Scheduler backends in this process.

    Args:
        now: the clock (epoch seconds); the controllable clock in the server.
        max_catch_up: :data:`MAX_CATCH_UP_FIRINGS`.
    """

    def __init__(self, now: Callable[[], float], max_catch_up: int = MAX_CATCH_UP_FIRINGS) -> None:
        self._now = now
        self._max_catch_up = max_catch_up
        self._plans: dict[str, _Plan] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread (daemon; :meth:`stop` ends it)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqsq-local-scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout_seconds: float = 5.0) -> None:
        """Stop the loop thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_seconds)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self.tick()
            except Exception:  # keep firing other schedules on the next look
                _log.exception("local scheduler: a look at the schedules failed")

    # -- one look ----------------------------------------------------------------------------------------------------

    def tick(self) -> int:
        """Fire every schedule that is due now.

        Returns:
            the number of firings made.
        """
        fired = 0
        with self._lock:
            now = self._now()
            seen: set[str] = set()
            for account_id, region, group, schedule in _schedules():
                seen.add(schedule.arn)
                fired += self._look(account_id, region, group, schedule, now)
            for arn in set(self._plans) - seen:
                del self._plans[arn]
        return fired

    def _look(self, account_id: str, region: str, group: Any, schedule: Any, now: float) -> int:
        plan = self._plans.get(schedule.arn)
        if plan is None or plan.modified != schedule.last_modified_date:
            plan = self._plan(schedule, now)
            self._plans[schedule.arn] = plan
        recurrence = plan.recurrence
        if recurrence is None:
            return 0
        end = _epoch(schedule.end_date)
        fired = 0
        while plan.next_due is not None and plan.next_due <= now:
            due = plan.next_due
            if end is not None and due >= end:
                plan.next_due = None
                break
            if fired >= self._max_catch_up:
                skip_to = recurrence.next_after(now, plan.anchor)
                _log.warning("schedule %s: %d firings made in one look; due times up to now skipped",
                             schedule.arn, fired)
                plan.next_due = skip_to
                break
            if schedule.state != "DISABLED":
                fire(Firing(schedule.arn, group.name, schedule.target, due, account_id, region))
                fired += 1
            if recurrence.kind == "at":
                plan.next_due = None
                if schedule.state != "DISABLED" and (schedule.action_after_completion or "NONE") == "DELETE":
                    group.schedules.pop(schedule.name, None)
                break
            plan.next_due = recurrence.next_after(due, plan.anchor)
        return fired

    def _plan(self, schedule: Any, now: float) -> _Plan:
        try:
            recurrence = parse(schedule.schedule_expression, schedule.schedule_expression_timezone or "UTC")
        except ScheduleExpressionError as exc:
            _log.warning("schedule %s is never fired locally: %s", schedule.arn, exc)
            return _Plan(schedule.last_modified_date, None, None, None)
        start = _epoch(schedule.start_date)
        if recurrence.kind == "at":
            due: float | None = recurrence.next_after(float("-inf"))
            return _Plan(schedule.last_modified_date, recurrence, None, due)
        if recurrence.kind == "rate":
            anchor = start if start is not None else now
            return _Plan(schedule.last_modified_date, recurrence, anchor, anchor if anchor >= now else
                         recurrence.next_after(now, anchor))
        after = max(now, start - 0.001) if start is not None else now
        return _Plan(schedule.last_modified_date, recurrence, None, recurrence.next_after(after))


def _schedules() -> Iterator[tuple[str, str, Any, Any]]:
    """(account id, region, group, schedule) for every schedule moto holds."""
    from moto.scheduler.models import scheduler_backends

    for account_id, regions in list(scheduler_backends.items()):
        for region, backend in list(regions.items()):
            for group in list(backend.schedule_groups.values()):
                for schedule in list(group.schedules.values()):
                    yield account_id, region, group, schedule


def _epoch(value: Any) -> float | None:
    """StartDate/EndDate as moto stores them (epoch number, or ISO text) in epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
