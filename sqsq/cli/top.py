"""``sqsq top APP``: the dashboard's figures live in the terminal (rich), for servers without a browser."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from sqsq.cli.options import Finite, app_argument, load_app
from sqsq.extras import require

if TYPE_CHECKING:
    from sqsq.monitoring import Monitor


def _view(monitor: Monitor, limit: int) -> Any:
    from rich.console import Group
    from rich.table import Table

    from sqsq.results.listing import TaskFilter

    queues = Table("queue", "visible", "in flight", "delayed", "DLQ depth", title=f"{monitor.app.name}: queues")
    for q in monitor.queues():
        queues.add_row(q.queue, str(q.visible), str(q.in_flight), str(q.delayed),
                       "-" if q.dlq_visible is None else str(q.dlq_visible))
    t = monitor.throughput()
    rate = Table("last hour", "succeeded", "failed", "last minute ok", "last minute failed", title="throughput")
    rate.add_row("", str(sum(t.succeeded)), str(sum(t.failed)), str(t.succeeded[-1]), str(t.failed[-1]))
    workers = Table("host", "pid", "queues", "concurrency", "in flight", "tasks done", "last seen", title="workers")
    for w in monitor.workers():
        workers.add_row(w.host, str(w.pid), ", ".join(w.queues), str(w.concurrency), str(w.in_flight),
                        str(w.tasks_done), f"{time.time() - w.last_seen:.0f} s ago")
    tasks = Table("state", "name", "id", "attempts", "error", title="recent tasks")
    for r in monitor.tasks(TaskFilter(limit=limit)):
        tasks.add_row(r.status, r.task_name, r.task_id, str(r.attempts), r.error_type or "")
    return Group(queues, rate, workers, tasks)


@click.command()
@app_argument
@click.option("--once", is_flag=True, help="Print one snapshot and exit (scripts, tests).")
@click.option("--interval-seconds", default=2.0, show_default=True, type=Finite(0.2), help="Refresh interval.")
@click.option("--limit", default=15, show_default=True, type=click.IntRange(1, 200), help="Recent tasks shown.")
def top(app_spec: str, once: bool, interval_seconds: float, limit: int) -> None:
    """Live view of APP: queues, throughput, workers and recent tasks (Ctrl-C to quit)."""
    require("sqsq top", "rich")
    from rich.console import Console
    from rich.live import Live

    from sqsq.monitoring import Monitor

    monitor = Monitor(load_app(app_spec), read_oldest_age=False)
    console = Console()
    if once:
        if not console.is_terminal:
            console = Console(width=200)
        console.print(_view(monitor, limit))
        return
    with Live(_view(monitor, limit), console=console, screen=False, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval_seconds)
                live.update(_view(monitor, limit), refresh=True)
        except KeyboardInterrupt:
            pass
