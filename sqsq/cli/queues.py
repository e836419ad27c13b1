"""``sqsq queues``: depth, in flight, delayed and DLQ depth of each of APP's queues, and their type (FIFO or not)."""

from __future__ import annotations

import json

import click

from sqsq.cli.options import app_argument, load_app
from sqsq.extras import require
from sqsq.transport import QueueInfo


@click.command()
@app_argument
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def queues(app_spec: str, as_json: bool) -> None:
    """Depth, in flight, delayed and DLQ depth of each of APP's queues (APP may also be given as -A APP)."""
    if not as_json:
        require("sqsq queues without --json", "rich")
    app = load_app(app_spec)
    billed = _billed_by_queue(app.settings.endpoint_url)
    rows = []
    for logical in app.logical_queues():
        name = app.queue_name(logical)
        d = app.transport.depth(name)
        info = app.transport.queue_info(name)
        dlq = info.dead_letter_queue_name
        dlq_depth = app.transport.depth(dlq).visible if dlq else None
        rows.append({"queue": name, "visible": d.visible, "in_flight": d.in_flight, "delayed": d.delayed,
                     "dlq": dlq, "dlq_visible": dlq_depth, "max_receive_count": info.max_receive_count,
                     "max_message_size_bytes": info.max_message_size_bytes,
                     **_fifo_columns(info), **_billing_row(billed, name)})
    if as_json:
        click.echo(json.dumps(rows))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("queue", "type", "visible", "in flight", "delayed", "DLQ", "DLQ visible", "maxReceiveCount")
    for r in rows:
        table.add_row(*(str(r[k]) if r[k] is not None else "-" for k in
                        ("queue", "type", "visible", "in_flight", "delayed", "dlq", "dlq_visible",
                         "max_receive_count")))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped output: never truncate queue names
    console.print(table)


def _fifo_columns(info: QueueInfo) -> dict[str, object]:
    """FIFO figures GetQueueAttributes gives: the type ("fifo", "fifo high throughput" or "standard") and, for a
    FIFO queue, DeduplicationScope and FifoThroughputLimit. Fair-queue figures (ApproximateNumberOfNoisyGroups and
    the ...InQuietGroups counts) exist only as CloudWatch metrics, which this command does not read."""
    high = info.deduplication_scope == "messageGroup" and info.fifo_throughput_limit == "perMessageGroupId"
    kind = ("fifo high throughput" if high else "fifo") if info.fifo else "standard"
    return {"type": kind, "fifo": info.fifo, "deduplication_scope": info.deduplication_scope,
            "fifo_throughput_limit": info.fifo_throughput_limit}


def _billed_by_queue(endpoint_url: str | None) -> dict[str, dict[str, int]] | None:
    """The local AWS's billed-request counts by queue; None against AWS (SQS does not report them)."""
    if endpoint_url is None:
        return None
    from sqsq.local.services.counter import read_billed

    answer = read_billed(endpoint_url)
    return None if answer is None else dict(answer.get("by_queue", {}))


def _billing_row(billed: dict[str, dict[str, int]] | None, queue: str) -> dict[str, int | None]:
    """``requests`` and ``billed_requests`` (each 64 KiB chunk of a payload is one) for ``--json``; None on AWS."""
    if billed is None:
        return {"requests": None, "billed_requests": None}
    row = billed.get(queue, {})
    return {"requests": row.get("requests", 0), "billed_requests": row.get("billed_requests", 0)}
