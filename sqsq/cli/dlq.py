"""``sqsq dlq``: list, show, redrive, sweep and purge the dead letters of APP's queues (rendering: dlq_render)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from sqsq.cli.dlq_render import (
    RedriveProgressDisplay,
    dlq_entry_json,
    dlq_show_lines,
    print_dlq_table,
    rendering_failed,
)
from sqsq.cli.options import Finite, load_app
from sqsq.cli.output import EXIT_AWS, EXIT_CONFIG, EXIT_PURGE_IN_PROGRESS, EXIT_USAGE, echo, fail, json_text
from sqsq.errors import QueueNotFound
from sqsq.extras import require

_DLQ_PROGRESS_MIN_MESSAGES = 50
"""Redrives of at least this many messages (DLQ depth) show progress on stderr."""


def _dlq_option_visibility(fn: Any) -> Any:
    return click.option(
        "--visibility-timeout-seconds",
        "visibility_timeout_seconds",
        default=120,
        show_default=True,
        type=click.IntRange(1, 43_200),
        help="How long DLQ messages stay hidden while this command reads them; they are made visible again "
        "at the end (or reappear after this long if the command dies).",
    )(fn)


def _open_dlq(app_spec: str, queue: str, visibility_timeout_seconds: int = 120) -> Any:
    from sqsq.dlq import DeadLetterQueue

    app = load_app(app_spec)
    try:
        return DeadLetterQueue(app, queue, visibility_timeout_seconds=visibility_timeout_seconds)
    except QueueNotFound as exc:
        known = ", ".join(app.logical_queues())
        raise QueueNotFound(f"{exc}. {app_spec}'s queues are: {known}", code=exc.code) from exc



@click.group()
def dlq() -> None:
    """Dead-letter queues of APP's queues: list, show, redrive and purge their messages.

    \b
    Every subcommand takes APP (module:attribute) and QUEUE, the *source* queue whose DLQ is meant:
    a logical name ("default", "images") or the physical SQS name ("shop-default"). The DLQ is the target
    of QUEUE's redrive policy; failure reasons come from APP's results table.

    Reading a DLQ hides its messages while the command runs (--visibility-timeout-seconds) and makes them
    visible again at the end; only `redrive` removes messages (after sending them back) and `purge` deletes.

    \b
    Examples:
      sqsq dlq list shop.app:app default --error RuntimeError
      sqsq dlq show shop.app:app default 5f0c…
      sqsq dlq redrive shop.app:app default --task shop.resize --dry-run
      sqsq dlq purge shop.app:app images --yes
    """


@dlq.command("list")
@click.argument("app_spec", metavar="APP")
@click.argument("queue", metavar="QUEUE")
@click.option("--task", "task_names", multiple=True, help="Only this task name (repeatable; '<undecodable>' too).")
@click.option("--error", "error_types", multiple=True, help="Only this recorded error type, e.g. RuntimeError.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@_dlq_option_visibility
def dlq_list(
    app_spec: str, queue: str, task_names: tuple[str, ...], error_types: tuple[str, ...], as_json: bool,
    visibility_timeout_seconds: int,
) -> None:
    """List the messages in QUEUE's DLQ: task, task id, args, attempts, failure reason, age (oldest first).

    Undecodable bodies are listed as task '<undecodable>', keyed by their SQS message id.
    """
    from sqsq.dlq import Selection

    if not as_json:
        require("sqsq dlq list without --json", "rich")
    d = _open_dlq(app_spec, queue, visibility_timeout_seconds)
    selection = None
    if task_names or error_types:
        selection = Selection(task_names=frozenset(task_names), error_types=frozenset(error_types))
    entries = d.entries(selection)
    if as_json:
        now = time.time()
        click.echo("[" + ", ".join(dlq_entry_json(e, now) for e in entries) + "]")
        return
    if not entries:
        echo(f"{d.dlq_name} (DLQ of {d.source_queue}): no messages" + (" match" if selection else ""))
        return
    print_dlq_table(entries)
    echo(f"{len(entries)} message(s) in {d.dlq_name} (DLQ of {d.source_queue})")


@dlq.command("show")
@click.argument("app_spec", metavar="APP")
@click.argument("queue", metavar="QUEUE")
@click.argument("task_id", metavar="TASK_ID")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_dlq_option_visibility
def dlq_show(app_spec: str, queue: str, task_id: str, as_json: bool, visibility_timeout_seconds: int) -> None:
    """Show one DLQ message by TASK_ID (or SQS message id): full envelope and the recorded error.

    Exits 3 when no message of QUEUE's DLQ has that id. A letter that cannot be shown (nested too deeply,
    not decodable) is one line: its message id, size and why.
    """
    d = _open_dlq(app_spec, queue, visibility_timeout_seconds)
    entry = d.find(task_id)
    if entry is None:
        fail(f"no message for task {task_id} in {d.dlq_name} (DLQ of {d.source_queue})", EXIT_CONFIG)
    if as_json:
        click.echo(dlq_entry_json(entry, detail=True))
        return
    try:
        lines = dlq_show_lines(entry)
    except Exception as exc:  # rendering failed: say so in one line, as for any unreadable letter
        lines = [entry.as_unreadable(rendering_failed(exc)).one_line()]
    for line in lines:
        echo(line)


@dlq.command("redrive")
@click.argument("app_spec", metavar="APP")
@click.argument("queue", metavar="QUEUE")
@click.option("--task-id", "task_ids", multiple=True, help="This task id (or message id); repeatable.")
@click.option("--task", "task_names", multiple=True, help="Messages of this task name; repeatable.")
@click.option("--error", "error_types", multiple=True, help="Messages whose recorded error type is this; repeatable.")
@click.option("--all", "everything", is_flag=True, help="Every message (narrowed by any other filter given).")
@click.option("--dry-run", is_flag=True, help="Only list what would move; move nothing.")
@click.option("--native", is_flag=True,
              help="With --all alone: let SQS move everything server-side (StartMessageMoveTask). Bodies move "
              "unchanged, so result records keep their FAILURE; falls back to a client-side move where the "
              "endpoint does not support it.")
@click.option("--max-per-second", type=Finite(at_least=0.1), default=None,
              help="Send at most this many messages per second (default: as fast as SQS answers).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_dlq_option_visibility
def dlq_redrive(
    app_spec: str, queue: str, task_ids: tuple[str, ...], task_names: tuple[str, ...], error_types: tuple[str, ...],
    everything: bool, dry_run: bool, native: bool, max_per_second: float | None, as_json: bool,
    visibility_timeout_seconds: int,
) -> None:
    """Send selected messages of QUEUE's DLQ back to QUEUE, then delete them from the DLQ.

    Filters combine with AND (values of one filter with OR). Each task runs again with a fresh attempt
    count and a new generation, so its result record moves on from FAILURE. Send comes before delete: a crash
    mid-way can leave a message in both queues, never in neither. Exits 4 if some messages could not be moved
    (they stay in the DLQ and are listed).
    """
    from sqsq.dlq import Selection

    selection = Selection(frozenset(task_ids), frozenset(task_names), frozenset(error_types), everything)
    if selection.is_empty:
        fail("say what to redrive: --task-id ID, --task NAME, --error TYPE or --all", EXIT_USAGE)
    if native and (not everything or task_ids or task_names or error_types):
        fail("--native moves every message server-side: use it with --all and no other filter", EXIT_USAGE)
    if dry_run and not as_json:
        require("sqsq dlq redrive --dry-run without --json", "rich")
    d = _open_dlq(app_spec, queue, visibility_timeout_seconds)
    with RedriveProgressDisplay(enabled=not dry_run and d.depth() >= _DLQ_PROGRESS_MIN_MESSAGES) as progress:
        report = d.redrive(selection, dry_run=dry_run, native=native, max_per_second=max_per_second,
                           on_progress=progress)
    if report.native_fallback_reason:
        echo(f"note: StartMessageMoveTask not available ({report.native_fallback_reason}); "
              "moved the messages client-side", err=True)
    if as_json:
        click.echo(json_text(report.to_json()))
    elif report.native_task_handle is not None:
        click.echo(f"SQS is moving every message of {d.dlq_name} to {d.source_queue} server-side "
                   f"(task handle {report.native_task_handle}); bodies are unchanged")
    elif dry_run:
        if report.selected:
            print_dlq_table(report.selected)
        click.echo(f"dry run: {len(report.selected)} of {report.scanned} message(s) in {d.dlq_name} would move "
                   f"to {d.source_queue}; nothing was moved")
    else:
        click.echo(f"moved {len(report.moved)} of {len(report.selected)} selected message(s) from {d.dlq_name} "
                   f"to {d.source_queue} ({report.scanned} read)")
    for task_id in report.not_found:
        echo(f"not in {d.dlq_name}: {task_id}", err=True)
    for task_id, reason in report.failed.items():
        echo(f"not moved (still in the DLQ): {task_id}: {reason}", err=True)
    for task_id, reason in report.not_deleted.items():
        echo(f"duplicated: {task_id}: {reason}", err=True)
    if not report.ok:
        sys.exit(EXIT_AWS)


@dlq.command("sweep")
@click.argument("app_spec", metavar="APP")
@click.argument("queue", metavar="QUEUE")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def dlq_sweep(app_spec: str, queue: str, as_json: bool) -> None:
    """Rescue or record what SQS's redrive policy moved to QUEUE's DLQ without an outcome (workers do it every
    minute): a message with rescues left goes back as a fresh copy, the others get FAILURE with the reason."""
    from sqsq.sweep import sweep_dead_letters

    report = sweep_dead_letters(load_app(app_spec), queue)
    if as_json:
        click.echo(json_text({"dlq": report.dlq, "scanned": report.scanned, "rescued": report.rescued,
                          "recorded": report.recorded, "failed": report.failed}))
    else:
        click.echo(f"{report.dlq}: scanned {report.scanned}, rescued {len(report.rescued)}, recorded "
                   f"{len(report.recorded)} FAILURE(s)" + "".join(f"\n  {k}: {v}" for k, v in report.recorded.items()))
    if report.failed:
        for task_id, why in report.failed.items():
            echo(f"not rescued {task_id}: {why}", err=True)
        sys.exit(EXIT_AWS)


@dlq.command("purge")
@click.argument("app_spec", metavar="APP")
@click.argument("queue", metavar="QUEUE")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def dlq_purge(app_spec: str, queue: str, yes: bool) -> None:
    """Delete every message in QUEUE's DLQ (PurgeQueue).

    SQS allows one purge per queue per 60 s and may take up to 60 s to finish: messages sent to the DLQ in
    the next 60 s may be deleted too. A second purge within 60 s exits 75 with "purge already in progress;
    retry after ~N s". sqsq remembers its purges in $XDG_CACHE_HOME/sqsq/purges.json (default
    ~/.cache/sqsq/purges.json), so the rule holds even where the endpoint does not enforce it.
    """
    from sqsq.errors import PurgeInProgress

    d = _open_dlq(app_spec, queue)
    warning = (f"messages sent to {d.dlq_name} in the next 60 s may be deleted too "
               "(SQS takes up to 60 s to purge)")
    if not yes:
        click.confirm(f"Delete every message (~{d.depth()}) in {d.dlq_name}, the DLQ of {d.source_queue}? "
                      f"Note: {warning}.", abort=True, err=True)
    try:
        d.purge()
    except PurgeInProgress as exc:
        fail(str(exc), EXIT_PURGE_IN_PROGRESS)
    click.echo(f"purged {d.dlq_name} (DLQ of {d.source_queue}); {warning}")
