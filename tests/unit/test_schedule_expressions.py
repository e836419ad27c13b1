"""Periodic declarations (issue 12): cron/every at declaration, 5->6-field conversion, time zones and DST."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

import sqsq
from sqsq.errors import ConfigError, ScheduleExpressionError, SignatureInvalid, ValidationError
from sqsq.message import Envelope
from sqsq.scheduling.expressions import cron, every, parse, unix_to_eventbridge
from sqsq.signing import KeyRing

BERLIN = ZoneInfo("Europe/Berlin")


def _epoch(*args: int, tz: ZoneInfo | None = None) -> float:
    return datetime(*args, tzinfo=tz or UTC).timestamp()  # type: ignore[misc]


def _local(epoch_seconds: float, tz: ZoneInfo = BERLIN) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz).strftime("%Y-%m-%d %H:%M %Z")


@pytest.mark.parametrize(("unix", "eventbridge"), [
    ("0 3 * * *", "0 3 * * ? *"),
    ("*/15 * * * *", "*/15 * * * ? *"),
    ("0 0 1 * *", "0 0 1 * ? *"),
    ("30 8 * * 1-5", "30 8 ? * MON,TUE,WED,THU,FRI *"),
    ("0 12 * * 0", "0 12 ? * SUN *"),
    ("0 12 * * 7", "0 12 ? * SUN *"),
    ("0 12 * * sat,sun", "0 12 ? * SUN,SAT *"),
    ("0 0 * 1 */2", "0 0 ? 1 SUN,TUE,THU,SAT *"),
])
def test_unix_cron_is_converted_to_eventbridges_six_fields_with_the_question_mark_rule(unix: str, eventbridge: str) -> None:
    assert unix_to_eventbridge(unix) == eventbridge
    assert cron(unix).expression == f"cron({eventbridge})"


def test_six_field_eventbridge_cron_is_taken_as_it_is() -> None:
    assert cron("0 10 ? * 6L *").expression == "cron(0 10 ? * 6L *)"
    assert cron("15 10 L * ? 2030").fields == "15 10 L * ? 2030"


@pytest.mark.parametrize("text", [
    "61 3 * * *",            # minute out of range
    "0 3 * *",               # four fields
    "0 3 1 * 1",             # both day fields restricted: Unix ORs them, EventBridge cannot
    "0 3 * * * *",           # six fields without '?'
    "0 3 ? * ? *",           # '?' twice
    "0 3 ? * 8 *",           # EventBridge day-of-week is 1-7
    "every day at noon",
])
def test_invalid_cron_text_fails_at_declaration_naming_it(text: str) -> None:
    with pytest.raises(ScheduleExpressionError, match="invalid cron expression") as caught:
        cron(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("text", [
    "0 3 30 2 *",            # February 30
    "0 3 31 2 *",            # February 31
    "0 3 31 4 *",            # April 31
    "0 3 31 2,4,6 *",        # none of those months has a 31st
    "0 3 30 2 ? *",          # the same in EventBridge's six fields
    "0 3 29 2 ? 2027",       # no 29 February in 2027
])
def test_a_cron_whose_dates_never_occur_is_refused_at_declaration_naming_it(text: str) -> None:
    with pytest.raises(ScheduleExpressionError, match="can never fire") as caught:
        cron(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("text", ["0 3 29 2 *", "0 3 31 1,2 *", "0 3 29 2 ? 2027-2028", "0 3 L 2 ? *"])
def test_a_cron_with_a_possible_date_is_accepted(text: str) -> None:
    assert cron(text).recurrence().next_after(_epoch(2026, 1, 1)) is not None


@pytest.mark.parametrize(("text", "message"), [
    ("61 3 * * *", "minute 61 is out of range; minute takes 0-59"),
    ("0 24 * * *", "hour 24 is out of range; hour takes 0-23"),
    ("0 3 0 * *", "day-of-month 0 is out of range; day-of-month takes 1-31"),
    ("0 3 * 13 *", "month 13 is out of range; month takes 1-12 or JAN-DEC"),
    ("0 3 * * 8", "day-of-week 8 is out of range; day-of-week takes 0-7 or SUN-SAT"),
    ("*/0 3 * * *", "minute step '0' in '*/0' must be a whole number of at least 1"),
    ("0 3 ? * 0 *", "day-of-week 0 is out of range; day-of-week takes 1-7 or SUN-SAT"),  # EventBridge: Sunday 1
    ("61 3 * * ? *", "minutes 61 is out of range; minutes takes 0-59"),
    ("0 3 * * ? 1969", "year 1969 is out of range; year takes 1970-2099"),
])
def test_an_out_of_range_field_is_named_with_its_range_in_the_form_the_user_wrote(text: str, message: str) -> None:
    with pytest.raises(ScheduleExpressionError) as caught:
        cron(text)
    assert str(caught.value) == f"invalid cron expression {text!r}: {message}"


def test_unknown_time_zone_fails_at_declaration_naming_it() -> None:
    with pytest.raises(ScheduleExpressionError, match="'Europe/Atlantis'"):
        cron("0 3 * * *", timezone="Europe/Atlantis")
    with pytest.raises(ScheduleExpressionError, match="'Mars/Olympus'"):
        every(seconds=3600, timezone="Mars/Olympus")


def test_schedule_errors_are_config_errors() -> None:
    assert issubclass(ScheduleExpressionError, ConfigError)


@pytest.mark.parametrize(("seconds", "message"), [
    (30, "under EventBridge Scheduler's smallest rate, 1 minute"),
    (59, "seconds=60 or more"),
    (90, "use seconds=120"),
    (3630, "use seconds=3600"),
])
def test_rates_under_a_minute_or_not_whole_minutes_are_refused_with_the_nearest_valid_value(
    seconds: int, message: str
) -> None:
    with pytest.raises(ScheduleExpressionError, match=message):
        every(seconds=seconds)


@pytest.mark.parametrize(("seconds", "expression"), [
    (60, "rate(1 minute)"), (300, "rate(5 minutes)"), (3600, "rate(1 hour)"), (5400, "rate(90 minutes)"),
    (86400, "rate(1 day)"), (172800, "rate(2 days)"),
])
def test_every_renders_the_largest_whole_rate_unit(seconds: int, expression: str) -> None:
    assert every(seconds=seconds).expression == expression


@pytest.mark.parametrize(("kwargs", "expression"), [
    ({"minutes": 5}, "rate(5 minutes)"), ({"hours": 2}, "rate(2 hours)"), ({"days": 1}, "rate(1 day)"),
    ({"hours": 1, "minutes": 30}, "rate(90 minutes)"), ({"minutes": 1, "seconds": 60}, "rate(2 minutes)"),
])
def test_every_takes_minutes_hours_and_days_which_add_up(kwargs: dict[str, int], expression: str) -> None:
    assert every(**kwargs).expression == expression


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, r"every\(\) is under EventBridge Scheduler's smallest rate"),
    ({"minutes": 1.5}, "minutes must be a whole number"),
    ({"hours": -1}, "hours must be a whole number, 0 or more"),
    ({"minutes": 1, "seconds": 30}, r"every\(seconds=30, minutes=1\) is not a whole number of minutes.*seconds=120"),
])
def test_every_refuses_no_period_fractions_negatives_and_part_minutes_naming_what_was_given(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ScheduleExpressionError, match=message):
        every(**kwargs)  # type: ignore[arg-type]


def test_cron_fires_at_the_wall_time_of_its_time_zone_across_dst() -> None:
    nightly = cron("0 3 * * *", timezone="Europe/Berlin").recurrence()
    times = nightly.next_times(_epoch(2026, 3, 27, 12), 3)
    assert [_local(t) for t in times] == ["2026-03-28 03:00 CET", "2026-03-29 03:00 CEST", "2026-03-30 03:00 CEST"]
    assert times[1] - times[0] == 23 * 3600  # the short night


def test_a_wall_time_skipped_in_spring_does_not_fire() -> None:
    times = cron("30 2 * * *", timezone="Europe/Berlin").recurrence().next_times(_epoch(2026, 3, 27, 12), 3)
    assert [_local(t) for t in times] == ["2026-03-28 02:30 CET", "2026-03-30 02:30 CEST", "2026-03-31 02:30 CEST"]


def test_a_wall_time_repeated_in_autumn_fires_once() -> None:
    times = cron("30 2 * * *", timezone="Europe/Berlin").recurrence().next_times(_epoch(2026, 10, 24, 12), 3)
    assert [_local(t) for t in times] == ["2026-10-25 02:30 CEST", "2026-10-26 02:30 CET", "2026-10-27 02:30 CET"]


def test_eventbridge_day_of_week_counts_sunday_as_one() -> None:
    [first] = parse("cron(0 9 ? * 1 *)").next_times(_epoch(2026, 12, 1), 1)  # a Tuesday
    assert datetime.fromtimestamp(first, UTC).strftime("%A %d") == "Sunday 06"
    [last_friday] = parse("cron(0 9 ? * 6L *)").next_times(_epoch(2026, 12, 1), 1)
    assert datetime.fromtimestamp(last_friday, UTC).strftime("%A %d") == "Friday 25"


def test_rate_and_at_expressions_give_their_times() -> None:
    anchor = _epoch(2026, 12, 3, 10)
    assert parse("rate(5 minutes)").next_times(anchor, 2, anchor=anchor) == [anchor + 300, anchor + 600]
    at = parse("at(2027-01-01T00:00:00)", "Europe/Berlin")
    assert at.next_after(anchor) == _epoch(2027, 1, 1, tz=BERLIN)
    assert at.next_after(_epoch(2027, 1, 2)) is None


def _app() -> tuple[sqsq.App, object]:
    app = sqsq.App("clock")

    @app.task(name="clock.report")
    def report(day: str, verbose: bool = False) -> str:
        return day

    return app, report


def test_app_schedule_validates_args_by_the_tasks_model_at_declaration() -> None:
    app, report = _app()
    with pytest.raises(ValidationError):
        app.schedule(report, cron("0 3 * * *"), args={"day": 3, "extra": 1})  # type: ignore[arg-type]
    periodic = app.schedule(report, cron("0 3 * * *"), args={"day": "today"})  # type: ignore[arg-type]
    assert periodic.name == "clock.report" and periodic.args == {"day": "today", "verbose": False}
    assert app.periodic_tasks == {"clock.report": periodic}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "bad name!"}, "must be 1-64"),
    ({"flexible_window_minutes": 0}, "1-1440"),
    ({"flexible_window_minutes": 1441}, "1-1440"),
])
def test_app_schedule_refuses_bad_names_and_windows(kwargs: dict[str, object], message: str) -> None:
    app, report = _app()
    with pytest.raises(ConfigError, match=message):
        app.schedule(report, cron("0 3 * * *"), args={"day": "x"}, **kwargs)  # type: ignore[arg-type]


def test_app_schedule_refuses_a_second_schedule_of_the_same_name_and_a_non_schedule() -> None:
    app, report = _app()
    app.schedule(report, every(seconds=3600), args={"day": "x"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="already declared"):
        app.schedule(report, every(seconds=7200), args={"day": "y"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"sqsq.cron\(...\) or sqsq.every"):
        app.schedule(report, "0 3 * * *", args={"day": "y"}, name="other")  # type: ignore[arg-type]


def _firing(body: str, when: str = "2026-12-04T02:00:00Z") -> Envelope:
    return Envelope.from_body(body.replace("<aws.scheduler.scheduled-time>", when))


def test_each_firing_gets_its_own_id_from_the_scheduled_time() -> None:
    app, report = _app()
    periodic = app.schedule(report, cron("0 3 * * *"), args={"day": "x"}, name="nightly")  # type: ignore[arg-type]
    body = periodic.input(None)
    first, second = _firing(body), _firing(body, "2026-12-05T02:00:00Z")
    assert (first.id, second.id) == ("periodic.nightly:2026-12-04T02:00:00Z", "periodic.nightly:2026-12-05T02:00:00Z")
    assert first.periodic == "periodic.nightly" and "sent_at" not in first.model_fields_set


def test_a_signed_periodic_input_verifies_at_every_firing_and_its_fixed_fields_cannot_change() -> None:
    ring = KeyRing.parse("k1:" + base64.b64encode(bytes(range(32))).decode())
    app, report = _app()
    body = app.schedule(report, cron("0 3 * * *"), args={"day": "x"}, name="nightly").input(ring)  # type: ignore[arg-type]
    ring.verify(_firing(body))
    ring.verify(_firing(body, "2027-01-01T02:00:00Z"))
    for tampered in (body.replace('"day":"x"', '"day":"y"'), body.replace("periodic.nightly:", "periodic.other:")):
        with pytest.raises(SignatureInvalid):
            ring.verify(_firing(tampered))
