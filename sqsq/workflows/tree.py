"""A workflow's shape as stored (``<root>.tree``), and its steps with their states (handles, ``sqsq result``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqsq.results import ResultRecord, Status
from sqsq.workflows.ids import callback_id, error_callback_id, step_id

MAX_LISTED_TASKS = 1000
"""A group's member task names are stored one by one up to this many (else the first one only, with the size)."""


def tree_of(workflow: Any) -> dict[str, Any]:
    """The shape of a built :class:`~sqsq.workflows.canvas.Chain`, ``Group`` or ``Chord`` as JSON-ready data.

    Returns:
        ``{"kind": "chain"|"group"|"chord", "size": steps or members, "tasks": [names] | "task": name,
        "callback": name, "on_error": name}`` (the last two for chords).
    """
    sigs = workflow.header.sigs if workflow.kind == "chord" else workflow.sigs
    names = [s.task for s in sigs]
    tree: dict[str, Any] = {"kind": workflow.kind, "size": len(names)}
    if len(set(names)) == 1 and workflow.kind != "chain":
        tree["task"] = names[0]
    else:
        tree["tasks"] = names[:MAX_LISTED_TASKS]
    if workflow.kind == "chord":
        tree["callback"] = workflow.callback.task
        tree["on_error"] = workflow.on_error.task if workflow.on_error is not None else None
    return tree


@dataclass(frozen=True)
class StepState:
    """One step of a workflow as stored now.

    Attributes:
        id: the step's task id.
        task: the task name.
        role: ``step`` (chain), ``member`` (group/chord), ``callback`` or ``on_error``.
        status: PENDING (no record yet) … SUCCESS / FAILURE.
        error: ``"Type: message"`` of a FAILURE or RETRY, else None.
        not_run: True for a PENDING step that will never run, by the workflow's outcome (see :func:`mark_not_run`).
    """

    id: str
    task: str
    role: str
    status: Status
    error: str | None = None
    not_run: bool = False

    @property
    def shown(self) -> str:
        """The state as the tree shows it: ``"not run"`` for a step that never will, else the status name."""
        return "not run" if self.not_run else self.status.value

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict (status as its name)."""
        return {**asdict(self), "status": self.status.value}


def planned_steps(root: str, tree: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(task id, task name, role)`` of every step the tree plans, in order."""
    size = int(tree.get("size", 0))
    tasks = tree.get("tasks") or []
    role = "step" if tree.get("kind") == "chain" else "member"
    out = [(step_id(root, i), tasks[i] if i < len(tasks) else str(tree.get("task") or tasks[0]), role)
           for i in range(size)]
    if tree.get("kind") == "chord":
        out.append((callback_id(root), str(tree["callback"]), "callback"))
        if tree.get("on_error"):
            out.append((error_callback_id(root), str(tree["on_error"]), "on_error"))
    return out


def step_states(planned: list[tuple[str, str, str]], records: dict[str, ResultRecord]) -> list[StepState]:
    """Each planned step with the state its record holds (PENDING when it has none)."""
    states = []
    for task_id, task, role in planned:
        record = records.get(task_id)
        status = Status.PENDING if record is None else record.status
        error = None
        if record is not None and record.error_type is not None and status in (Status.FAILURE, Status.RETRY):
            error = f"{record.error_type}: {record.error_message or ''}"
        states.append(StepState(task_id, task, role, status, error))
    return states


def mark_not_run(kind: str, steps: list[StepState], workflow: ResultRecord | None) -> list[StepState]:
    """``steps`` with :attr:`StepState.not_run` set on PENDING steps the workflow's outcome rules out (nothing is
    written: derived from the workflow's own record).

    A failed chain runs none of its PENDING steps; a failed chord never runs its callback; a chord that succeeded
    never runs its error callback. A group's members do not depend on each other: none is ruled out.
    """
    status = workflow.status if workflow is not None else Status.PENDING

    def ruled_out(s: StepState) -> bool:
        if s.status is not Status.PENDING:
            return False
        if status is Status.FAILURE:
            return kind == "chain" or s.role == "callback"
        return status is Status.SUCCESS and s.role == "on_error"

    return [replace(s, not_run=True) if kind != "group" and ruled_out(s) else s for s in steps]


def load_tree(record: ResultRecord | None) -> dict[str, Any] | None:
    """The shape from its record, or None."""
    if record is None or record.result_json is None:
        return None
    tree: dict[str, Any] = json.loads(record.result_json)
    return tree
