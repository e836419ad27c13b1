"""Property (issue 12): for any delay from 0 to 365 days, or any ETA, the delivery plan never makes a task visible
before its due time and never puts DelaySeconds > 900 on the wire. Checked on the pure plan (many examples) and
through App.send on the in-memory twins (what reaches the schedule's Input or the queue)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from sqsq import limits
from sqsq.app import App
from sqsq.message import Envelope
from sqsq.results.memory import MemoryResults
from sqsq.scheduling.plan import due_time, plan_delivery
from sqsq.transport.memory import MemoryTransport
from sqsq.transport.schedules import MemoryScheduler

YEAR = limits.SCHEDULER_MAX_DELAY_SECONDS
NOW = st.floats(min_value=1.7e9, max_value=1.9e9, allow_nan=False, allow_infinity=False)


def _visible_at(now: float, due_at: float, delay_seconds: int, fire_at: int | None, late_seconds: float) -> float:
    """When the message becomes visible: the send (now, or the schedule firing, possibly late) + DelaySeconds."""
    sent = now if fire_at is None else fire_at + late_seconds
    return sent + delay_seconds


@given(now=NOW, ahead=st.floats(min_value=-86_400, max_value=YEAR, allow_nan=False), late=st.floats(0, 300))
@settings(max_examples=2000)
def test_a_plan_never_arrives_early_and_never_delays_more_than_900_s(now: float, ahead: float, late: float) -> None:
    due_at = now + ahead
    plan = plan_delivery(due_at, now)
    assert 0 <= plan.delay_seconds <= limits.SQS_MAX_DELAY_SECONDS
    assert _visible_at(now, due_at, plan.delay_seconds, plan.fire_at, late) >= due_at
    if plan.fire_at is None:
        assert ahead <= limits.SQS_MAX_DELAY_SECONDS
        assert plan.delay_seconds <= max(0.0, ahead) + 1  # not later than needed either
    else:
        assert plan.fire_at % 60 == 0 and plan.fire_at > now  # a whole minute, in the future
        assert due_at - plan.fire_at <= limits.SQS_MAX_DELAY_SECONDS  # fires at most 15 minutes early


@given(now=NOW, delay=st.integers(min_value=0, max_value=YEAR))
@settings(max_examples=1000)
def test_every_whole_delay_up_to_a_year_is_planned_on_time(now: float, delay: int) -> None:
    due_at = due_time("t", delay_seconds=delay, now=now)
    plan = plan_delivery(due_at, now)
    assert _visible_at(now, due_at, plan.delay_seconds, plan.fire_at, 0.0) >= now + delay
    assert plan.delay_seconds <= limits.SQS_MAX_DELAY_SECONDS


@given(offset=st.integers(min_value=-10 * 86_400, max_value=YEAR - 60), tz_hours=st.integers(-12, 14))
@settings(max_examples=300, deadline=None)
def test_sends_with_an_eta_put_at_most_900_s_on_the_wire_and_carry_the_due_time(offset: int, tz_hours: int) -> None:
    transport, results, scheduler = MemoryTransport(), MemoryResults(), MemoryScheduler()
    transport.create_queue("p-default-dlq")
    transport.create_queue("p-default", dlq_name="p-default-dlq", max_receive_count=3)
    app = App("p", transport=transport, results=results, scheduler=scheduler, endpoint_url="http://unused.invalid")

    @app.task(name="p.noop")
    def noop() -> None:
        return None

    eta = datetime.now(UTC).astimezone(timezone(timedelta(hours=tz_hours))) + timedelta(seconds=offset)
    handle = app.send("p.noop", {}, eta=eta)
    if not scheduler.schedules:
        return  # sent now (due within 900 s): SQS DelaySeconds, checked by check_delay
    (spec,) = scheduler.schedules.values()
    sent = json.loads(spec.target_input())
    assert 0 <= sent["DelaySeconds"] <= limits.SQS_MAX_DELAY_SECONDS
    envelope = Envelope.from_body(sent["MessageBody"])
    assert envelope.id == handle.id and envelope.due_at == eta.timestamp()
    fire_at = datetime.strptime(spec.expression, "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC).timestamp()
    assert fire_at + sent["DelaySeconds"] >= eta.timestamp()
