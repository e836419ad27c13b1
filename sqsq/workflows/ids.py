"""Task ids inside a workflow: derived from the workflow id, so a step sent twice has one id (and one record).

``<root>`` is the workflow id (a UUID4); its record holds the workflow's state and final value.
Steps: ``<root>-<i>`` (the i-th chain step or group/chord member, from 0), ``<root>-cb`` (a chord's callback),
``<root>-err`` (its error callback), ``<root>-chord`` (the chord's counter), ``<root>-tree`` (the workflow's
shape, for ``sqsq result``).
"""

from __future__ import annotations

WORKFLOW_TASK_NAME = "sqsq.workflow"
"""The ``task_name`` of a workflow's own record."""
TREE_TASK_NAME = "sqsq.workflow.tree"
"""The ``task_name`` of a workflow's shape record."""


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
    """A chord's counter item."""
    return f"{root}-chord"


def tree_id(root: str) -> str:
    """A workflow's shape record."""
    return f"{root}-tree"
