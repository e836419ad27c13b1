"""Cron text between its three forms: Unix (5 fields), EventBridge (6 fields), croniter (7 fields).

:func:`unix_to_eventbridge` turns what users usually write into what EventBridge Scheduler takes;
:func:`croniter_text` turns EventBridge's form into the one croniter evaluates (seconds fixed at 0). Both name
the offending text in a :class:`sqsq.errors.ScheduleExpressionError`. The rules are EventBridge's:
https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqsq.errors import ScheduleExpressionError
from sqsq.scheduling.cron_fields import EVENTBRIDGE_FIELDS, check_ranges

__all__ = ["croniter_text", "unix_to_eventbridge"]

_DOW_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


# -- Unix (5-field) to EventBridge (6-field) ---------------------------------------------------------------------


def _unix_dow_values(field: str, text: str) -> set[int]:
    """The Unix day-of-week numbers (0-6, Sunday 0) a Unix day-of-week field selects."""
    values: set[int] = set()
    for part in field.upper().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ScheduleExpressionError(f"invalid cron expression {text!r}: bad step in day-of-week {field!r}")
        if base == "*":
            low, high = 0, 6
        else:
            low_text, _, high_text = base.partition("-")
            low = _unix_dow_number(low_text, field, text)
            high = _unix_dow_number(high_text, field, text) if high_text else (6 if step else low)
        if high < low:
            raise ScheduleExpressionError(f"invalid cron expression {text!r}: range {base!r} runs backwards")
        values.update(range(low, high + 1, step or 1))
    return {v % 7 for v in values}


def _unix_dow_number(token: str, field: str, text: str) -> int:
    if token in _DOW_NAMES:
        return _DOW_NAMES.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    raise ScheduleExpressionError(
        f"invalid cron expression {text!r}: day-of-week {field!r} is not 0-7 or SUN-SAT (L and # need the "
        "6-field EventBridge form)"
    )


def unix_to_eventbridge(text: str) -> str:
    """Convert a 5-field Unix cron to EventBridge's 6-field form (the text inside ``cron(...)``).

    * a year field ``*`` is appended;
    * the ``?`` rule: EventBridge needs ``?`` in exactly one of day-of-month / day-of-week. A ``*`` day-of-week
      becomes ``?``; else a ``*`` day-of-month becomes ``?``. Unix cron runs when *either* restricted day field
      matches; EventBridge cannot say that, so restricting both is refused;
    * day-of-week is renumbered (Unix 0-7 with Sunday 0 and 7, EventBridge 1-7 with Sunday 1) and written as
      names (``1-5`` becomes ``MON,TUE,WED,THU,FRI``).

    Args:
        text: five space-separated fields, ``minute hour day-of-month month day-of-week``.

    Returns:
        six fields, e.g. ``"0 3 * * ? *"`` for ``"0 3 * * *"``.

    Raises:
        ScheduleExpressionError: not five fields, both day fields restricted, or a bad day-of-week.
    """
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleExpressionError(f"invalid cron expression {text!r}: expected 5 (Unix) or 6 (EventBridge) fields")
    minute, hour, dom, month, dow = fields
    if dow == "*" or dow == "?":
        return f"{minute} {hour} {'*' if dom == '?' else dom} {month} ? *"
    if dom not in ("*", "?"):
        raise ScheduleExpressionError(
            f"invalid cron expression {text!r}: both day-of-month and day-of-week are restricted; EventBridge "
            "cannot run on either (declare two schedules, or use the 6-field form with '?' in one of them)"
        )
    days = sorted(_unix_dow_values(dow, text))
    return f"{minute} {hour} ? {month} {','.join(_DOW_NAMES[d] for d in days)} *"


# -- EventBridge cron to croniter ---------------------------------------------------------------------------------


def _croniter_dow(field: str) -> str:
    """EventBridge day-of-week (1-7 = SUN-SAT, ``5L``, ``6#3``) in croniter's numbering (0-6 = SUN-SAT)."""
    if field in ("?", "*"):
        return "*"

    def shift(match: re.Match[str]) -> str:
        return str(int(match.group(0)) - 1)

    out = []
    for part in field.upper().split(","):
        if part.endswith("L") and part[:-1]:
            day = part[:-1]
            number = _DOW_NAMES.index(day) if day in _DOW_NAMES else int(day) - 1
            out.append(f"L{number}")
        elif "#" in part:
            day, _, nth = part.partition("#")
            number = _DOW_NAMES.index(day) if day in _DOW_NAMES else int(day) - 1
            out.append(f"{number}#{nth}")
        else:
            base, slash, step = part.partition("/")
            out.append(re.sub(r"\d+", shift, base) + slash + step)
    return ",".join(out)


def _check_eventbridge_fields(fields: list[str], text: str) -> None:
    dom, dow = fields[2], fields[4]
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError(
            f"invalid cron expression {text!r}: EventBridge needs '?' in exactly one of day-of-month (3rd field) and "
            "day-of-week (5th field)"
        )
    for value in dow.upper().replace("L", "").replace("#", ",").replace("-", ",").replace("/", ",").split(","):
        if value.isdigit() and not 1 <= int(value) <= 7 and "/" not in dow:
            raise ScheduleExpressionError(
                f"invalid cron expression {text!r}: EventBridge day-of-week is 1-7 (SUN-SAT), got {value}"
            )


def croniter_text(six: str, text: str) -> str:
    """EventBridge's six cron fields (``six``) in croniter's seven-field form, checked by croniter once.

    Args:
        six: the text inside ``cron(...)``.
        text: the expression as the user wrote it, for errors.

    Raises:
        ScheduleExpressionError: not six fields, a value out of its field's range, the ``?`` rule broken, or text
            croniter cannot read.
    """
    fields = six.split()
    if len(fields) != 6:
        raise ScheduleExpressionError(f"invalid cron expression {text!r}: expected 5 (Unix) or 6 (EventBridge) fields")
    check_ranges(fields, EVENTBRIDGE_FIELDS, text)
    _check_eventbridge_fields(fields, text)
    minute, hour, dom, month, dow, year = fields
    seven = f"{minute} {hour} {'*' if dom == '?' else dom} {month} {_croniter_dow(dow)} 0 {year}"
    from croniter import croniter  # on first use: importing sqsq (a Lambda cold start) does not load it

    try:
        croniter(seven, datetime(2000, 1, 1))
    except Exception as exc:  # croniter's CroniterError family and ValueErrors on odd text
        reason = re.sub(r"\[[^\]]*\]\s*", "", str(exc)).strip()  # without croniter's 7-field form
        raise ScheduleExpressionError(
            f"invalid cron expression {text!r}: sqsq's cron evaluator (croniter) cannot read it ({reason})"
        ) from None
    return seven
