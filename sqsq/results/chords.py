"""Chord counting in the results store (issue 13): one conditional write per member, one transition per chord.

A chord's *counter* is one item in the results table, under the chord's counter id, beside the member records:
``done`` (members counted), ``size``, and two one-way flags, ``fired`` (the callback was triggered) and ``failed``
(a member failed for good). The rules, kept by both stores:

* :meth:`ChordStore.put_counted` writes a member's SUCCESS record and adds 1 to ``done`` *atomically*
  (DynamoDB TransactWriteItems: the record's forward-only condition guards both). A duplicate delivery's write is
  refused by the record that is already SUCCESS, so the count moves once per member, whatever the deliveries.
* :meth:`ChordStore.chord_transition` sets ``fired`` (only once ``done >= size``) or ``failed`` (only while neither
  flag is set) with a conditional write: of members finishing at the same instant exactly one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from sqsq.results import ResultRecord

CHORD_TASK_NAME = "sqsq.chord"
"""The ``task_name`` of a chord counter item (it reads as a STARTED record)."""

Transition = Literal["fired", "failed"]


@dataclass(frozen=True)
class ChordState:
    """A chord's counter as read (strongly consistent).

    Attributes:
        counter_id: the counter's key in the results table.
        size: members in the chord (0 when no member was counted yet).
        done: members counted (each once).
        fired: the callback was triggered.
        failed: a member failed for good (the error callback, if any, was triggered).
    """

    counter_id: str
    size: int
    done: int
    fired: bool
    failed: bool

    @property
    def complete(self) -> bool:
        """Every member counted."""
        return self.size > 0 and self.done >= self.size


class ChordStore(Protocol):
    """What :mod:`sqsq.workflows` needs beyond :class:`sqsq.results.ResultStore` (both stores implement it)."""

    def put_counted(self, record: ResultRecord, counter_id: str, size: int) -> bool:
        """Write ``record`` (forward-only rule) and count it in ``counter_id`` in one atomic step.

        Returns:
            False when the record was refused (a later state is stored: a duplicate); nothing was counted then.
        """
        ...

    def chord_state(self, counter_id: str) -> ChordState | None:
        """The counter (strongly consistent), or None when no member was counted or failed yet."""
        ...

    def chord_transition(self, counter_id: str, flag: Transition, expires_at: int) -> bool:
        """Set ``flag`` once: ``fired`` when complete and not fired; ``failed`` when neither flag is set.

        Returns:
            True for the one caller that set it.
        """
        ...

    def get_many(self, task_ids: Sequence[str]) -> dict[str, ResultRecord]:
        """Strongly consistent reads of many records; missing or expired ids are absent from the result."""
        ...
