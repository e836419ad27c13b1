"""``sqsq send`` and ``sqsq result``: send a task by name, read a result by id."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from sqsq.cli.options import Finite, load_app
from sqsq.cli.output import EXIT_TASK_FAILED, EXIT_TIMEOUT, EXIT_USAGE, fail
from sqsq.cli.send_options import for_command_line, parse_attributes
from sqsq.errors import SendOptionError

if TYPE_CHECKING:
    from sqsq.app import AsyncResult

RESULT_PREVIEW_CHARS = 4096
"""Longest result ``sqsq result`` prints as text (without ``--full``/``--json``); the rest is cut with a note."""


@click.command()
@click.argument("app_spec", metavar="APP")
@click.argument("task_name", metavar="TASK")
@click.argument("args_json", metavar="JSON", default="{}")
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
@click.option("--timeout-seconds", default=60.0, show_default=True, type=Finite(), help="How long --wait waits.")
@click.option("--delay-seconds", default=0, show_default=True, type=int,
              help="Seconds before it may run, 0 to 365 days (past 900: an EventBridge one-time schedule).")
@click.option("--queue", default=None, help="Logical queue to send to instead of the task's own.")
@click.option("--group-id", default=None, help="FIFO queues: the message group (default: the task's group_key).")
@click.option("--deduplication-id", default=None, help="FIFO queues: MessageDeduplicationId (default: the task id).")
@click.option("--tenant", default=None, help="Standard queues: the fair-queue tenant (sent as MessageGroupId).")
@click.option("--attribute", "attribute_specs", multiple=True, metavar="NAME[:TYPE]=VALUE",
              help="An SQS message attribute (repeatable); TYPE String (default), Number, or Binary (base64).")
def send(
    app_spec: str, task_name: str, args_json: str, wait: bool, timeout_seconds: float, delay_seconds: int, queue: str | None,
    group_id: str | None, deduplication_id: str | None, tenant: str | None, attribute_specs: tuple[str, ...],
) -> None:
    """Send TASK of APP with JSON arguments; prints the task id (and the result with --wait)."""
    attributes = parse_attributes(attribute_specs)
    app = load_app(app_spec)
    try:
        args = json.loads(args_json)
    except ValueError as exc:
        fail(f"JSON arguments do not parse: {exc}", EXIT_USAGE)
    if not isinstance(args, dict):
        fail('JSON arguments must be an object, e.g. \'{"x": 1}\'', EXIT_USAGE)
    try:
        handle = app.send(task_name, args, delay_seconds=delay_seconds, queue=queue, group_id=group_id,
                          deduplication_id=deduplication_id, tenant=tenant, attributes=attributes or None)
    except SendOptionError as exc:  # exits 2 (usage), naming the flags
        raise for_command_line(exc) from None
    click.echo(handle.id)
    if wait:
        value = handle.get(timeout_seconds=timeout_seconds)
        click.echo(json.dumps(_jsonable(handle, value)))


def _jsonable(handle: AsyncResult, value: Any) -> Any:
    record = handle.record()
    return json.loads(record.result_json) if record and record.result_json else value


@click.command()
@click.argument("task_id")
@click.option("-A", "--app", "app_spec", default=None,
              help="APP (module:attribute) to rebuild the value; default: raw JSON.")
@click.option("--wait", is_flag=True, help="Wait until the task is SUCCESS or FAILURE.")
@click.option("--timeout-seconds", default=60.0, show_default=True, type=Finite(), help="How long --wait waits.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
@click.option("--full", is_flag=True, help=f"Print a result past {RESULT_PREVIEW_CHARS} characters whole.")
def result(task_id: str, app_spec: str | None, wait: bool, timeout_seconds: float, as_json: bool, full: bool) -> None:
    """Show a task's status and result by id (table from --app or SQSQ_RESULTS_TABLE/SQSQ_APP_NAME).

    A workflow id (from chain/group/chord .delay()) shows the workflow's tree of steps with their states.
    """
    from sqsq.app import App, AsyncResult
    from sqsq.errors import ResultsTableNotFound, TaskFailed
    from sqsq.results import Status

    app = load_app(app_spec) if app_spec else App(os.environ.get("SQSQ_APP_NAME", "sqsq"))
    handle = AsyncResult(task_id, app=app)
    try:
        from sqsq.cli.workflow_tree import show_workflow

        if show_workflow(app, task_id, wait, timeout_seconds, as_json):  # issue 13: a workflow id shows its tree
            return
        if wait:
            try:
                handle.get(timeout_seconds=timeout_seconds)
            except TaskFailed:
                pass
        record = handle.record()
    except ResultsTableNotFound as exc:
        if app_spec or os.environ.get("SQSQ_APP_NAME") or os.environ.get("SQSQ_RESULTS_TABLE"):
            raise
        raise ResultsTableNotFound(
            f"{exc}. Which app's table? Pass --app module:attribute, or set SQSQ_APP_NAME (or SQSQ_RESULTS_TABLE)",
            code=exc.code,
        ) from exc
    if as_json:
        click.echo(json.dumps(record.__dict__ if record else {"task_id": task_id, "status": "PENDING"}, default=str))
    elif record is None:
        click.echo(f"{task_id} PENDING")
        click.echo(f"(no record in table {app.settings.table_name}: not run yet, expired, or another app's task; "
                   "pass --app to read another app's table)", err=True)
    elif record.status is Status.SUCCESS:
        click.echo(f"{task_id} SUCCESS {_preview(task_id, record.result_json or '', full)}")
    elif record.status is Status.SCHEDULED:  # issue 12
        due = "?" if record.due_at is None else datetime.fromtimestamp(record.due_at, UTC).isoformat()
        click.echo(f"{task_id} SCHEDULED due {due}")
    else:
        click.echo(f"{task_id} {record.status.value} attempts={record.attempts} {record.error_type or ''}: "
                   f"{record.error_message or ''}".rstrip(": "))
    if record is not None and record.status is Status.FAILURE:
        sys.exit(EXIT_TASK_FAILED)
    if wait and (record is None or not record.status.is_final):
        sys.exit(EXIT_TIMEOUT)


def _preview(task_id: str, result_json: str, full: bool) -> str:
    """The result text to print: whole with ``--full`` or when short, else its start (and a note on stderr)."""
    if full or len(result_json) <= RESULT_PREVIEW_CHARS:
        return result_json
    click.echo(f"(result cut at {RESULT_PREVIEW_CHARS} of {len(result_json)} characters; `sqsq result {task_id} "
               "--full` prints it whole, `--json` the whole record)", err=True)
    return result_json[:RESULT_PREVIEW_CHARS] + "..."
