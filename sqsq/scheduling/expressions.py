"""Schedule expressions as EventBridge Scheduler reads them: ``cron(...)``, ``rate(...)``, ``at(...)``.

:func:`cron` and :func:`every` are the declarations users write (``sqsq.cron("0 3 * * *", timezone=...)``,
``sqsq.every(seconds=3600)``, ``sqsq.every(minutes=5)``); both check everything at declaration and raise
:class:`sqsq.errors.ScheduleExpressionError` naming the offending text. :func:`parse` reads any EventBridge
expression (as stored by the Scheduler API) into a :class:`Recurrence` whose :meth:`Recurrence.next_after` gives
firing times; the local scheduler (:mod:`sqsq.local.scheduler`) and ``sqsq schedules`` use it.

EventBridge cron has six fields, ``minutes hours day-of-month month day-of-week year``, day-of-week 1-7 = SUN-SAT,
and exactly one of day-of-month / day-of-week must be ``?``
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based). Evaluation uses croniter
(its 7-field form with seconds fixed at 0), on naive wall-clock times of the schedule's time zone, so daylight
saving time behaves as EventBridge documents: a wall time skipped in spring does not fire, a wall time repeated
in autumn fires once (the first). ``rate`` schedules are fixed durations from their anchor (StartDate, else
creation), unaffected by DST.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqsq.errors import ScheduleExpressionError
from sqsq.scheduling.cron_fields import UNIX_FIELDS, check_ranges
from sqsq.scheduling.cron_text import croniter_text, unix_to_eventbridge

__all__ = [
    "MIN_RATE_SECONDS",
    "Cron",
    "Every",
    "Recurrence",
    "cron",
    "every",
    "parse",
    "unix_to_eventbridge",
    "zone",
]

MIN_RATE_SECONDS = 60
"""EventBridge Scheduler's smallest rate: ``rate(1 minute)`` (units are minutes, hours, days)."""

_RATE_RE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_AT_RE = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON_RE = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def zone(timezone: str) -> ZoneInfo:
    """The IANA time zone named ``timezone``.

    Raises:
        ScheduleExpressionError: no such zone (the message names it).
    """
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleExpressionError(
            f"unknown time zone {timezone!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None


# -- recurrences --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recurrence:
    """When a schedule fires: an EventBridge expression in a time zone.

    Attributes:
        expression: ``cron(...)``, ``rate(...)`` or ``at(...)``, as the Scheduler API stores it.
        timezone: the ScheduleExpressionTimezone (IANA name).
        kind: ``"cron"``, ``"rate"`` or ``"at"``.
    """

    expression: str
    timezone: str
    kind: str
    _cron: str = ""
    _rate_seconds: int = 0
    _at: float = 0.0

    @property
    def rate_seconds(self) -> int:
        """The period of a ``rate`` schedule in seconds (0 for the other kinds)."""
        return self._rate_seconds

    def next_after(self, after: float, anchor: float | None = None) -> float | None:
        """The first firing time strictly after ``after`` (epoch seconds), or None when there is none.

        Args:
            after: epoch seconds.
            anchor: for ``rate``: its first firing (StartDate, else creation), epoch seconds; default ``after``
                rounded down to the minute. Ignored by the other kinds.

        Returns:
            epoch seconds of the next firing; for ``at``, its time if later than ``after``, else None.
        """
        if self.kind == "at":
            return self._at if self._at > after else None
        if self.kind == "rate":
            start = anchor if anchor is not None else math.floor(after / 60) * 60
            if start > after:
                return start
            steps = math.floor((after - start) / self._rate_seconds) + 1
            return start + steps * self._rate_seconds
        return self._next_cron(after)

    def next_times(self, after: float, count: int, anchor: float | None = None) -> list[float]:
        """Up to ``count`` firing times after ``after`` (epoch seconds), ascending."""
        times: list[float] = []
        current = after
        while len(times) < count:
            nxt = self.next_after(current, anchor)
            if nxt is None:
                break
            times.append(nxt)
            current = nxt
        return times

    def _next_cron(self, after: float) -> float | None:
        from croniter import croniter

        tz = zone(self.timezone)
        wall = datetime.fromtimestamp(after, tz).replace(tzinfo=None)
        # Wall times repeat in autumn: start an hour earlier and keep the first firing later than `after`.
        it = croniter(self._cron, wall - timedelta(hours=1))
        for _ in range(10_000):
            try:
                candidate: datetime = it.get_next(datetime)
            except Exception:  # croniter raises when no later time exists (a past year)
                return None
            instant = _wall_to_epoch(candidate, tz)
            if instant is not None and instant > after:
                return instant
        return None


def _wall_to_epoch(wall: datetime, tz: ZoneInfo) -> float | None:
    """Epoch seconds of a naive wall time in ``tz``: the first of a repeated time, None for a skipped one."""
    aware = wall.replace(tzinfo=tz, fold=0)
    back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != wall:
        return None  # skipped by a spring-forward change: EventBridge does not fire it
    return aware.timestamp()


def parse(expression: str, timezone: str = "UTC") -> Recurrence:
    """Read an EventBridge schedule expression.

    Args:
        expression: ``cron(m h dom mon dow year)``, ``rate(N minutes|hours|days)`` or ``at(yyyy-mm-ddThh:mm:ss)``.
        timezone: IANA time zone the expression is evaluated in; default ``UTC``.

    Returns:
        the :class:`Recurrence`.

    Raises:
        ScheduleExpressionError: malformed expression or unknown time zone (the message names the text).
    """
    zone(timezone)
    text = expression.strip()
    match = _RATE_RE.match(text)
    if match:
        value, unit = int(match.group(1)), match.group(2).rstrip("s")
        if value < 1:
            raise ScheduleExpressionError(f"invalid rate expression {expression!r}: the value must be positive")
        return Recurrence(text, timezone, "rate", _rate_seconds=value * _UNIT_SECONDS[unit])
    match = _AT_RE.match(text)
    if match:
        try:
            local = datetime.fromisoformat(match.group(1)).replace(tzinfo=zone(timezone))
        except ValueError:
            raise ScheduleExpressionError(f"invalid at expression {expression!r}") from None
        return Recurrence(text, timezone, "at", _at=local.timestamp())
    match = _CRON_RE.match(text)
    if match:
        return Recurrence(text, timezone, "cron", _cron=croniter_text(match.group(1).strip(), expression))
    raise ScheduleExpressionError(
        f"invalid schedule expression {expression!r}; EventBridge takes cron(...), rate(...) or at(...)"
    )


# -- declarations -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cron:
    """A declared cron schedule (see :func:`cron`).

    Attributes:
        text: what the user wrote.
        fields: the EventBridge 6-field form.
        timezone: IANA time zone.
    """

    text: str
    fields: str
    timezone: str

    @property
    def expression(self) -> str:
        """The ScheduleExpression: ``cron(<6 fields>)``."""
        return f"cron({self.fields})"

    def recurrence(self) -> Recurrence:
        """The :class:`Recurrence` to compute firing times with."""
        return parse(self.expression, self.timezone)


@dataclass(frozen=True)
class Every:
    """A declared rate schedule (see :func:`every`).

    Attributes:
        seconds: the period, a whole number of minutes, at least 60.
        timezone: ScheduleExpressionTimezone (rates are durations: it only matters for StartDate display).
    """

    seconds: int
    timezone: str = "UTC"

    @property
    def expression(self) -> str:
        """The ScheduleExpression: ``rate(N minutes|hours|days)`` in the largest whole unit."""
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if self.seconds % size == 0:
                value = self.seconds // size
                return f"rate({value} {unit}{'' if value == 1 else 's'})"
        raise AssertionError("unreachable: every() only builds whole minutes")

    def recurrence(self) -> Recurrence:
        """The :class:`Recurrence` to compute firing times with."""
        return parse(self.expression, self.timezone)


Schedule = Cron | Every
"""A recurring schedule declaration."""


def cron(text: str, *, timezone: str = "UTC") -> Cron:
    """Declare a cron schedule, evaluated in ``timezone`` by EventBridge Scheduler.

    Five fields are Unix cron (``minute hour day-of-month month day-of-week``, Sunday 0 or 7) and are converted
    to EventBridge's six-field form (see :func:`unix_to_eventbridge`: a year ``*`` appended, ``?`` in the
    unrestricted day field, day-of-week written as names, Sunday 0 or 7 as ``SUN``); six fields are taken as
    EventBridge cron as it is (Sunday 1, ``?`` in exactly one day field, ``L``, ``W``, ``#``). Daylight saving: a
    time skipped in spring does not fire, a repeated one fires once (EventBridge's documented rule).

    Args:
        text: the cron fields (without ``cron(...)``).
        timezone: IANA time zone name; default ``UTC``.

    Returns:
        the :class:`Cron` declaration.

    Raises:
        ScheduleExpressionError: malformed fields, a value out of its field's range (the message names the field
            and its range in the form given: Unix day-of-week 0-7, EventBridge 1-7), a date that never occurs
            (``"0 3 30 2 *"``: February 30) or an unknown time zone; the message names the offending text.

    Example:
        >>> cron("0 3 * * 1-5", timezone="Europe/Berlin").expression
        'cron(0 3 ? * MON,TUE,WED,THU,FRI *)'
    """
    if not isinstance(text, str):
        raise ScheduleExpressionError(f"cron expression must be a string, got {text!r}")
    zone(timezone)
    fields = text.split()
    if len(fields) == 5:
        check_ranges(fields, UNIX_FIELDS, text)
    six = unix_to_eventbridge(text) if len(fields) == 5 else " ".join(fields)
    croniter_text(six, text)
    declared = Cron(text=text, fields=six, timezone=timezone)
    _check_fires(declared)
    return declared


def _check_fires(declared: Cron) -> None:
    """Refuse a cron whose dates never occur (``"0 3 30 2 *"``: February 30). Asked from the start of its first
    year (1970 for ``*``), so the answer does not depend on today's date."""
    fields = declared.fields.split()
    years = [int(y) for y in re.findall(r"\d{4}", fields[5])]
    start = datetime(min(years), 1, 1, tzinfo=UTC).timestamp() - 2 * 86400 if years else 0.0
    if declared.recurrence().next_after(start) is None:
        dom, month, year = fields[2], fields[3], fields[5]
        raise ScheduleExpressionError(
            f"invalid cron expression {declared.text!r}: it can never fire: no date has day-of-month {dom} in month "
            f"{month}" + ("" if year == "*" else f" of year {year}") + " (such as February 30 or April 31); fix the "
            "day or the month"
        )


def every(
    *, seconds: int = 0, minutes: int = 0, hours: int = 0, days: int = 0, timezone: str = "UTC"
) -> Every:
    """Declare a fixed-rate schedule: every ``seconds + 60 * minutes + 3600 * hours + 86400 * days`` seconds from its
    start (a ``rate(...)`` schedule). Give one unit (``every(minutes=5)``) or several, which add up
    (``every(hours=1, minutes=30)`` is 90 minutes).

    Args:
        seconds, minutes, hours, days: whole numbers, at least one given; the period they add up to must be a
            whole number of minutes, at least 60 s (EventBridge rates are minutes, hours, days).
        timezone: ScheduleExpressionTimezone; default ``UTC``.

    Returns:
        the :class:`Every` declaration.

    Raises:
        ScheduleExpressionError: no unit given, a unit that is not a whole number, a period under 60 s or not
            whole minutes (the message names the nearest valid value), or an unknown time zone.

    Example:
        >>> every(seconds=7200).expression
        'rate(2 hours)'
        >>> every(minutes=5).expression
        'rate(5 minutes)'
    """
    units = {"seconds": seconds, "minutes": minutes, "hours": hours, "days": days}
    given = ", ".join(f"{k}={v!r}" for k, v in units.items() if v != 0)
    for name, value in units.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ScheduleExpressionError(f"every({name}={value!r}): {name} must be a whole number, 0 or more")
    seconds = seconds + 60 * minutes + 3600 * hours + 86400 * days
    if seconds < MIN_RATE_SECONDS:
        raise ScheduleExpressionError(
            f"every({given}) is under EventBridge Scheduler's smallest rate, 1 minute; use seconds=60 or more (minutes=1)"
        )
    if seconds % 60:
        nearest = max(MIN_RATE_SECONDS, round(seconds / 60) * 60)
        raise ScheduleExpressionError(
            f"every({given}) is not a whole number of minutes, which rate() needs; use seconds={nearest}"
        )
    zone(timezone)
    return Every(seconds=seconds, timezone=timezone)
