"""``sqsq result WORKFLOW_ID``: a workflow's tree of steps with their states (issue 13), as text or ``--json``."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any

import click

from sqsq.app import App
from sqsq.cli.output import EXIT_TASK_FAILED, EXIT_TIMEOUT
from sqsq.errors import ResultTimeout, TaskFailed
from sqsq.workflows import StepState, WorkflowResult
from sqsq.workflows.ids import tree_id
from sqsq.workflows.tree import load_tree

LISTED_MEMBERS = 50
"""A group or chord with more members is shown as counts by state, plus the members not SUCCESS (up to this many)."""


def show_workflow(app: App, workflow_id: str, wait: bool, timeout_seconds: float, as_json: bool) -> bool:
    """Print the workflow ``workflow_id`` and exit as ``sqsq result`` does; False when it is not a workflow id."""
    tree = load_tree(app.results.get(tree_id(workflow_id)))
    if tree is None:
        return False
    handle: WorkflowResult[Any] = WorkflowResult(workflow_id, app=app, tree=tree)
    if wait:
        try:
            handle.get(timeout_seconds=timeout_seconds)
        except (TaskFailed, ResultTimeout):
            pass
    state, value, error = handle.outcome()
    steps = handle.steps()
    if as_json:
        click.echo(json.dumps({"workflow_id": workflow_id, "kind": tree["kind"], "status": state, "result": value,
                               "error": error, "steps": [s.as_json() for s in steps]}))
    else:
        click.echo(f"{workflow_id} {tree['kind']} {state}" + (f" {json.dumps(value)}" if state == "SUCCESS" else "")
                   + (f" {error}" if error else ""))
        for line in _lines(steps):
            click.echo(line)
    if state == "FAILURE":
        sys.exit(EXIT_TASK_FAILED)
    if wait and state != "SUCCESS":
        sys.exit(EXIT_TIMEOUT)
    return True


def _lines(steps: list[StepState]) -> list[str]:
    members = [s for s in steps if s.role == "member"]
    rest = [s for s in steps if s.role != "member"]
    shown = steps
    lines: list[str] = []
    if len(members) > LISTED_MEMBERS:
        counts = Counter(s.shown for s in members)
        lines.append(f"├─ {len(members)} members: " + ", ".join(f"{n} {st}" for st, n in sorted(counts.items())))
        shown = [s for s in members if s.status.value != "SUCCESS"][:LISTED_MEMBERS] + rest
    for i, s in enumerate(shown):
        branch = "└─" if i == len(shown) - 1 else "├─"
        lines.append(f"{branch} {s.id.rsplit('-', 1)[-1]:>5} {s.role:<8} {s.task} {s.shown}"
                     + (f" {s.error}" if s.error else ""))
    return lines
