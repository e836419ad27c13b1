"""Workflows for the dashboard: recent ones from the task index, and one workflow's tree of steps.

A workflow leaves two internal records (:mod:`sqsq.workflows.ids`): its shape (``sqsq.workflow.tree``, every kind)
and, for chains and chords, its own state (``sqsq.workflow``). The list is two name-filtered listings of the task
index joined on the workflow id (a group has no state record: its state is its members', shown on its page). A
workflow's page reads what ``sqsq result WORKFLOW_ID`` prints (:class:`sqsq.workflows.WorkflowResult`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqsq.app import App
from sqsq.errors import ResultTimeout
from sqsq.results.listing import TaskFilter, TaskRow
from sqsq.workflows import WorkflowResult
from sqsq.workflows.ids import TREE_TASK_NAME, WORKFLOW_TASK_NAME

_TREE_SUFFIX = "-tree"


@dataclass(frozen=True)
class WorkflowRow:
    """One workflow in the list.

    Attributes:
        workflow_id: the workflow id.
        status: its own record's state (chains and chords), or None (a group, or no state record read).
        sent_at: epoch seconds it was sent (its shape record's write).
    """

    workflow_id: str
    status: str | None
    sent_at: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return dict(self.__dict__)


def workflow_rows(trees: list[TaskRow], states: list[TaskRow]) -> list[WorkflowRow]:
    """Join shape rows with state rows on the workflow id (the shape's order kept: newest first)."""
    status = {r.task_id: r.status for r in states}
    rows = []
    for t in trees:
        workflow_id = t.task_id.removesuffix(_TREE_SUFFIX)
        rows.append(WorkflowRow(workflow_id, status.get(workflow_id), t.updated_at))
    return rows


def state_query(trees: list[TaskRow]) -> TaskFilter:
    """The listing of state records that covers ``trees`` (from the oldest one sent on)."""
    since = min((t.updated_at for t in trees), default=None)
    return TaskFilter(name=WORKFLOW_TASK_NAME, since=None if since is None else since - 1, limit=1000)


def tree_query(limit: int) -> TaskFilter:
    """The listing of the newest ``limit`` workflows' shape records."""
    return TaskFilter(name=TREE_TASK_NAME, limit=limit)


def workflow_detail(app: App, workflow_id: str) -> dict[str, Any] | None:
    """What ``sqsq result WORKFLOW_ID --json`` prints (kind, state, value, error, steps with ``shown``), or None
    when there is no such workflow."""
    handle: WorkflowResult[Any] = WorkflowResult(workflow_id, app=app)
    try:
        kind = handle.tree["kind"]
    except ResultTimeout:
        return None
    state, value, error = handle.outcome()
    steps = [{**s.as_json(), "shown": s.shown} for s in handle.steps()]
    return {"workflow_id": workflow_id, "kind": kind, "status": state, "result": value, "error": error,
            "steps": steps}
