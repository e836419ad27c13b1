"""Task ids inside a workflow: derived from the workflow id, so a step sent twice has one id (and one record).

``<root>`` is the workflow id (a UUID4); its record holds the workflow's state and final value.
Steps: ``<root>-<i>`` (the i-th chain step or group/chord member, from 0), ``<root>-cb`` (a chord's callback),
``<root>-err`` (its error callback), ``<root>-chord`` (the chord's counter; ``<root>-chord-<shard>`` count its
members), ``<root>-tree`` (the workflow's shape, for ``sqsq result``).
"""

from __future__ import annotations

WORKFLOW_TASK_NAME = "sqsq.workflow"
"""The ``task_name`` of a workflow's own record."""
TREE_TASK_NAME = "sqsq.workflow.tree"
"""The ``task_name`` of a workflow's shape record."""
CHORD_SHARD_SIZE = 1000
"""Chord members counted per counter item (``<root>-chord-<shard>``); full shards are counted in ``<root>-chord``."""


def step_id(root: str, index: int) -> str:
    """The i-th chain step or group/chord member."""
    return f"{root}-{index}"


def callback_id(root: str) -> str:
    """A chord's callback."""
    return f"{root}-cb"


def error_callback_id(root: str) -> str:
    """A chord's error callback."""
    return f"{root}-err"


def counter_id(root: str) -> str:
    """A chord's top counter item (full shards, and the fired/failed flags)."""
    return f"{root}-chord"


def shard_counter_id(root: str, shard: int) -> str:
    """The counter item of members ``shard * CHORD_SHARD_SIZE`` .. of a chord."""
    return f"{root}-chord-{shard}"


def shards(size: int) -> int:
    """How many shard counters a chord of ``size`` members has."""
    return -(-size // CHORD_SHARD_SIZE)


def shard_size(size: int, shard: int) -> int:
    """Members counted in ``shard`` of a chord of ``size``."""
    return min(CHORD_SHARD_SIZE, size - shard * CHORD_SHARD_SIZE)


def tree_id(root: str) -> str:
    """A workflow's shape record."""
    return f"{root}-tree"
