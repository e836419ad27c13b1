"""Field-by-field checks of cron text, in the terms the user wrote it (pure, no croniter).

:func:`check_ranges` refuses a value outside its field's range and names the field and its range as the user's
form counts them: five-field Unix cron (``minute hour day-of-month month day-of-week``, day-of-week 0-7 with
Sunday 0 and 7) or six-field EventBridge cron (``minutes hours day-of-month month day-of-week year``, day-of-week
1-7 with Sunday 1, years 1970-2199 (sqsq: 1970-2099, croniter's last year):
https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based). croniter, which evaluates
the expression afterwards, would report the same mistakes in its own 7-field form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqsq.errors import ScheduleExpressionError

__all__ = ["EVENTBRIDGE_FIELDS", "UNIX_FIELDS", "Field", "check_ranges"]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class Field:
    """One cron field: its name, its numeric range, the names it also takes, its special characters."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    specials: str = ""

    def describe(self) -> str:
        """``"0-59"``, ``"1-12 or JAN-DEC"``..."""
        named = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        return f"{self.low}-{self.high}{named}"


UNIX_FIELDS = (
    Field("minute", 0, 59),
    Field("hour", 0, 23),
    Field("day-of-month", 1, 31, specials="LW?"),  # passed on to EventBridge as written
    Field("month", 1, 12, _MONTHS),
    Field("day-of-week", 0, 7, _DAYS),
)
"""Five-field Unix cron."""

EVENTBRIDGE_FIELDS = (
    Field("minutes", 0, 59),
    Field("hours", 0, 23),
    Field("day-of-month", 1, 31, specials="LW?"),
    Field("month", 1, 12, _MONTHS),
    Field("day-of-week", 1, 7, _DAYS, specials="L#?"),
    Field("year", 1970, 2099),  # EventBridge takes up to 2199; croniter, which sqsq evaluates cron with, 2099
)
"""Six-field EventBridge cron."""

_TOKEN = re.compile(r"^[0-9A-Z]+$")


def check_ranges(fields: list[str], spec: tuple[Field, ...], text: str) -> None:
    """Refuse a value outside its field's range, or a zero or non-numeric step.

    Args:
        fields: the fields as the user wrote them (as many as ``spec``).
        spec: :data:`UNIX_FIELDS` or :data:`EVENTBRIDGE_FIELDS`.
        text: the whole expression, named in the error.

    Raises:
        ScheduleExpressionError: e.g. ``invalid cron expression '61 3 * * *': minute 61 is out of range; minute
            takes 0-59``.
    """
    for value, field in zip(fields, spec, strict=True):
        for part in value.upper().split(","):
            base, slash, step = part.partition("/")
            if slash and not (step.isdigit() and int(step) > 0):
                raise ScheduleExpressionError(
                    f"invalid cron expression {text!r}: {field.name} step {step!r} in {value!r} must be a whole "
                    "number of at least 1"
                )
            if base in ("*", "?") or base == "":
                continue
            if field.specials:
                base = base.split("#", 1)[0] if "#" in field.specials else base  # 6#3: the 3rd Friday
                base = base.rstrip("LW") if base not in ("L", "LW") else ""
            for token in filter(None, base.split("-")):
                _check_token(token, field, value, text)


def _check_token(token: str, field: Field, value: str, text: str) -> None:
    if token in field.names:
        return
    if not _TOKEN.match(token) or not token.isdigit():
        hint = " (L, W and # need the 6-field EventBridge form)" if not field.specials and re.search("[LW#]", value) else ""
        raise ScheduleExpressionError(
            f"invalid cron expression {text!r}: {field.name} {value!r} is not a value; {field.name} takes "
            f"{field.describe()}{hint}"
        )
    if not field.low <= int(token) <= field.high:
        raise ScheduleExpressionError(
            f"invalid cron expression {text!r}: {field.name} {int(token)} is out of range; {field.name} takes "
            f"{field.describe()}"
        )
