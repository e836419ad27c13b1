"""The options of one send, written once: the keyword arguments every way of sending takes, and their record.

:class:`SendKwargs` (and :class:`SendManyKwargs`, without ``deduplication_id``) type the ``**options`` of
:meth:`sqsq.App.send`, :meth:`sqsq.App.send_many`, :meth:`sqsq.task.Task.options`, :func:`sqsq.send` and
:func:`sqsq.send_many` (PEP 692): type checkers see them as keyword-only arguments and report them as they would
written out (``def send(..., *, delay_seconds: int = ..., queue: str | None = ..., ...)``).
:func:`send_options_of` turns the given keywords into a :class:`SendOptions`, refusing unknown ones as Python would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from sqsq.errors import ConfigError


class SendManyKwargs(TypedDict, total=False):
    """Keyword options of a batch send (``send_many``): those of :class:`SendKwargs` but ``deduplication_id``
    (each message's is its task id). Field order is the order type checkers print them in."""

    delay_seconds: int
    queue: str | None
    group_id: str | None
    tenant: str | None
    attributes: Mapping[str, object] | None
    eta: datetime | None


class SendKwargs(TypedDict, total=False):
    """Keyword options of one send; their meaning is :class:`SendOptions`'. (Not derived from
    :class:`SendManyKwargs`, so that ``deduplication_id`` stays in its place in the printed signatures.)"""

    delay_seconds: int
    queue: str | None
    group_id: str | None
    deduplication_id: str | None
    tenant: str | None
    attributes: Mapping[str, object] | None
    eta: datetime | None


@dataclass(frozen=True)
class SendOptions:
    """Options of one send, apart from the task's arguments (keyword-only wherever they are given).

    Attributes:
        delay_seconds: seconds before the task may run, 0 to 365 days (past 900 s: through a one-time
            EventBridge schedule, see :mod:`sqsq.scheduling`; checked at send).
        queue: logical queue to send to instead of the task's own (``None`` = the task's).
        group_id: FIFO queues: the message group (``None`` = the task's ``group_key``); see :mod:`sqsq.grouping`.
        deduplication_id: FIFO queues: MessageDeduplicationId (``None`` = the task id).
        tenant: standard queues: the fair-queue tenant, sent as MessageGroupId.
        attributes: SQS message attributes (:mod:`sqsq.attributes`; checked at send), or ``None``.
        eta: an aware datetime before which the task does not run (instead of ``delay_seconds``).
    """

    delay_seconds: int = 0
    queue: str | None = None
    group_id: str | None = None
    deduplication_id: str | None = None
    tenant: str | None = None
    attributes: Mapping[str, object] | None = None
    eta: datetime | None = None


# The runtime check takes its names from the typed lists, so what mypy accepts and what runs cannot drift apart;
# tests/unit/test_send_options.py pins that SendKwargs names exactly SendOptions' fields.
_ONE = SendKwargs.__optional_keys__
_MANY = SendManyKwargs.__optional_keys__


def send_options_of(where: str, given: Mapping[str, Any], *, many: bool = False) -> SendOptions:
    """The :class:`SendOptions` of a call's ``**options`` (unchecked values; each is checked at send).

    Args:
        where: the callable's name, for the error (``"send"``, ``"options"``...).
        given: the keyword arguments as passed.
        many: a batch send, which takes no ``deduplication_id``.

    Raises:
        TypeError: an option the call does not take, worded as Python words an unexpected keyword argument.
    """
    allowed = _MANY if many else _ONE
    for name in given:
        if name not in allowed:
            raise TypeError(f"{where}() got an unexpected keyword argument {name!r}")
    return SendOptions(**given)


def check_send_queue(queue: object) -> None:
    """Refuse a send's ``queue`` that is given but not a non-empty string (``""`` would silently mean the default
    queue, ``5`` the queue ``<prefix>5``).

    Raises:
        ConfigError: ``queue`` is neither ``None`` nor a non-empty ``str``.
    """
    if queue is not None and (not isinstance(queue, str) or not queue):
        raise ConfigError(
            f"queue={queue!r}: a send's queue must be a non-empty logical queue name (a str such as \"slow\"); "
            "leave it out (None) to send to the task's own queue"
        )
