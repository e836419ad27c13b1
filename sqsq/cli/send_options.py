"""``sqsq send``'s message options on the command line: ``--attribute NAME[:TYPE]=VALUE`` and errors that name flags.

:class:`sqsq.errors.SendOptionError` names the options as :meth:`sqsq.App.send` keywords (``pass group_id=...``);
on the command line the same problem names the flags (``pass --group-id ...``), and exits with the usage code.

Only stdlib, click and :mod:`sqsq.errors` are imported here: ``sqsq --help`` loads this module.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import click

from sqsq.errors import SendOptionError

FLAGS = {
    "group_id": "--group-id",
    "deduplication_id": "--deduplication-id",
    "tenant": "--tenant",
    "delay_seconds": "--delay-seconds",
    "attributes": "--attribute",
    "queue": "--queue",
}
"""``App.send`` keyword -> the ``sqsq send`` flag that sets it."""

_KEYWORDS = "|".join(FLAGS)
_WITH_VALUE = re.compile(rf"(?<![\w.-])({_KEYWORDS})=(?=[^\s,/);:])")  # group_id=... / tenant='a b'
_BARE = re.compile(rf"(?<![\w.-])({_KEYWORDS})=")  # "use tenant=," / "group_id=/deduplication_id="

ATTRIBUTE_TYPES = ("String", "Number", "Binary")
"""The SQS data types ``--attribute NAME:TYPE=VALUE`` takes (default String; Binary as base64)."""


def with_flags(detail: str) -> str:
    """``detail`` with each ``App.send`` keyword (``group_id=``) named as its ``sqsq send`` flag (``--group-id``).

    Example:
        >>> with_flags("FIFO queue q.fifo needs a message group: pass group_id=... to the send")
        'FIFO queue q.fifo needs a message group: pass --group-id ... to the send'
    """
    detail = _WITH_VALUE.sub(lambda m: f"{FLAGS[m.group(1)]} ", detail)
    return _BARE.sub(lambda m: FLAGS[m.group(1)], detail)


def for_command_line(exc: SendOptionError) -> SendOptionError:
    """The same error, its text naming ``sqsq send``'s flags instead of Python keywords."""
    return SendOptionError(with_flags(exc.detail), exc.task_name)


def parse_attributes(values: Sequence[str]) -> dict[str, object]:
    """``--attribute`` values as ``App.send``'s ``attributes=``: ``NAME=VALUE`` (String), ``NAME:Number=3``,
    ``NAME:String=...``, ``NAME:Binary=<base64>``. Names and values are checked by the send (SQS's rules).

    Raises:
        click.BadParameter: no ``=``, an unknown type, a Number or base64 text that does not parse, a name twice.
    """
    out: dict[str, object] = {}
    for text in values:
        spec, sep, value = text.partition("=")
        name, _, kind = spec.partition(":")
        if not sep or not name:
            raise click.BadParameter(f"{text!r}: give NAME=VALUE (or NAME:Number=3)", param_hint="--attribute")
        kind = kind or "String"
        if kind not in ATTRIBUTE_TYPES:
            raise click.BadParameter(f"{text!r}: type {kind!r} is not one of {', '.join(ATTRIBUTE_TYPES)}",
                                     param_hint="--attribute")
        if name in out:
            raise click.BadParameter(f"attribute {name!r} given twice", param_hint="--attribute")
        out[name] = _value(text, kind, value)
    return out


def _value(text: str, kind: str, value: str) -> object:
    if kind == "Number":
        try:
            return Decimal(value)
        except InvalidOperation:
            raise click.BadParameter(f"{text!r}: {value!r} is not a number", param_hint="--attribute") from None
    if kind == "Binary":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise click.BadParameter(f"{text!r}: a Binary value is given as base64", param_hint="--attribute") from None
    return value
