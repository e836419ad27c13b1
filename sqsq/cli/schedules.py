"""``sqsq schedules APP`` (what is coming) and ``sqsq cancel APP TASK_ID`` (issue 12).

This module holds the one-time part; the time-engine half of issue 12 adds the recurring schedules.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from sqsq.cli.options import load_app


@click.command()
@click.argument("app_spec", metavar="APP")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def schedules(app_spec: str, as_json: bool) -> None:
    """List APP's pending one-time schedules (sends due more than 900 s ahead): task, id and due time."""
    from sqsq.scheduling.listing import pending_one_time

    app = load_app(app_spec)
    pending = pending_one_time(app.scheduler, app.settings.schedule_group_name)
    if as_json:
        click.echo(json.dumps([p.as_json() for p in pending]))
        return
    if not pending:
        click.echo(f"no pending one-time schedules in group {app.settings.schedule_group_name}")
    for p in pending:
        due = "?" if p.due_at is None else datetime.fromtimestamp(p.due_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(f"{due}  {p.task_id}  {p.task}")


@click.command()
@click.argument("app_spec", metavar="APP")
@click.argument("task_id")
def cancel(app_spec: str, task_id: str) -> None:
    """Cancel TASK_ID of APP: delete its schedule if it has not fired, else revoke it.

    Prints ``cancelled`` (it never runs), ``revoked`` (queued or running: consumers that check revocations skip
    it; a running task is not interrupted) or ``finished`` (too late).
    """
    from sqsq.scheduling.cancel import cancel as cancel_task

    app = load_app(app_spec)
    click.echo(f"{task_id} {cancel_task(app, task_id)}")
