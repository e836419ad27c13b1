"""Chord counting in the results store (issue 13): one conditional write per member, one transition per chord.

A chord's members are counted in *counter* items of the results table, beside the member records. A counter holds
``members`` (a number set), ``n`` (its size) and two one-way flags. The operations, kept by both stores:

* :meth:`ChordStore.add_member` adds a number to a counter's set with one conditional UpdateItem
  (``NOT contains(members, :i)``) and returns the count: a duplicate delivery's add is refused and changes
  nothing, so each member is counted once whatever the deliveries (the count is then read).
* :meth:`ChordStore.chord_transition` sets ``fired`` (only once ``n >= target``) or ``failed`` (only while neither
  flag is set) with a conditional write: of members finishing at the same instant exactly one wins.

:mod:`sqsq.workflows.continuation` shards a chord's members into counters of at most
:data:`~sqsq.workflows.ids.CHORD_SHARD_SIZE` (a full shard adds its number to the chord's top counter), so an item
stays small (a few KB: one write unit per KB on AWS) however large the chord.
A transaction (member record + count in one TransactWriteItems) would do it in one request, but the local AWS
(moto) copies the whole table for each transaction, which makes a 10,000-member chord quadratic there.
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
    """A counter as read (strongly consistent).

    Attributes:
        counter_id: the counter's key in the results table.
        done: numbers in its set (members, or full shards for a chord's top counter).
        fired: the callback was triggered.
        failed: a member failed for good (the error callback, if any, was triggered).
    """

    counter_id: str
    done: int
    fired: bool
    failed: bool


class ChordStore(Protocol):
    """What :mod:`sqsq.workflows` needs beyond :class:`sqsq.results.ResultStore` (both stores implement it)."""

    def add_member(self, counter_id: str, member: int, expires_at: int) -> int:
        """Add ``member`` to the counter's set, once (conditional UpdateItem); the set's size after it.

        Returns:
            The count: after this add, or as read when ``member`` was there already (a duplicate).
        """
        ...

    def chord_state(self, counter_id: str) -> ChordState | None:
        """The counter (strongly consistent), or None when nothing was counted or flagged yet."""
        ...

    def chord_transition(self, counter_id: str, flag: Transition, target: int, expires_at: int) -> bool:
        """Set ``flag`` once: ``fired`` when ``done >= target`` and not fired; ``failed`` when neither flag is set.

        Returns:
            True for the one caller that set it.
        """
        ...

    def get_many(self, task_ids: Sequence[str]) -> dict[str, ResultRecord]:
        """Strongly consistent reads of many records; missing or expired ids are absent from the result."""
        ...
