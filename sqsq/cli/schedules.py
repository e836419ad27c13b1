"""``sqsq schedules APP [--json]``: the app's recurring schedules with their next firings, and pending one-time
schedules (delayed tasks and ETAs past 900 s), read from EventBridge Scheduler (see :mod:`sqsq.scheduling.listing`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from sqsq.cli.options import load_app
from sqsq.cli.output import EXIT_USAGE, fail


def _when(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.command()
@click.argument("app_spec", metavar="APP")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times in epoch seconds) for scripts.")
@click.option("--group", default=None, help="Schedule group to read; default the app's (its queue prefix without '-').")
def schedules(app_spec: str, as_json: bool, group: str | None) -> None:
    """List APP's schedules: recurring ones (name, expression, time zone, state, next 3 firings in UTC) and
    pending one-time ones (task, id, due time). Against the local AWS, next firings count from its clock
    (``GET /_sqsq/clock``), which tests move forward."""
    from sqsq.scheduling.listing import list_app_schedules
    from sqsq.scheduling.periodic import schedule_group
    from sqsq.transport.aws import AwsClients

    app = load_app(app_spec)
    now: float | None = None
    if app.settings.endpoint_url is not None:
        # The local AWS fires by its own clock (moved by POST /_sqsq/clock): count the next firings from it.
        from sqsq.local.services.clock import read_server_now

        now = read_server_now(app.settings.endpoint_url)
    listing = list_app_schedules(AwsClients(app.settings), group or schedule_group(app.settings), now=now)
    if as_json:
        click.echo(json.dumps(listing.to_json()))
        return
    click.echo(f"schedule group {listing.group}: {len(listing.recurring)} recurring, "
               f"{len(listing.one_time)} pending one-time")
    for r in listing.recurring:
        upcoming = ", ".join(_when(t) for t in r.next_firings) or "none"
        click.echo(f"  {r.name}  {r.expression}  {r.timezone}  {r.state}  task={r.task or '?'}  next: {upcoming}")
    for o in listing.one_time:
        click.echo(f"  {o.name}  due {_when(o.due)}  task={o.task or '?'}  id={o.task_id or '?'}")


@click.command()
@click.argument("app_spec", metavar="APP")
@click.argument("task_id")
def cancel(app_spec: str, task_id: str) -> None:
    """Cancel TASK_ID of APP: delete its schedule if it has not fired, else revoke it (issue 12).

    Prints ``cancelled`` (it never runs), ``revoked`` (queued or running: consumers that check revocations skip
    it; a running task is not interrupted) or ``finished`` (too late), with a note in parentheses when the
    answer alone would mislead (e.g. an id with no record yet). An id not shaped like a task id is refused.
    """
    from sqsq.scheduling.cancel import cancel_explained

    app = load_app(app_spec)
    try:
        result, note = cancel_explained(app, task_id)
    except ValueError as exc:  # not a task id
        fail(str(exc), EXIT_USAGE)
    click.echo(f"{task_id} {result}" + (f" ({note})" if note else ""))
