"""How ``sqsq dlq`` shows dead letters: tables (rich), one-entry detail lines, JSON, and redrive progress.

Each entry is rendered on its own; one whose rendering fails is shown as unreadable (message id, size, why), so
the other letters still list. rich is imported only when a table or a progress bar is drawn.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from sqsq.cli.output import finite_or_none, json_text, printable
from sqsq.extras import require


def dlq_console() -> Any:
    from rich.console import Console

    # Not a terminal (pipes, CI): no wrapping, so ids and errors stay on one line each.
    return Console() if sys.stdout.isatty() else Console(width=400, soft_wrap=True)


DLQ_SHOW_BODY_MAX_CHARS = 4_000
"""Longest undecodable body ``dlq show`` prints as text (``--json`` prints it whole)."""


def rendering_failed(exc: Exception) -> str:
    return f"cannot be shown ({type(exc).__name__})"


def _dlq_row(e: Any, now: float) -> list[str]:
    from sqsq.dlq import format_age

    error = f"{e.error_type or '-'}: {e.error_message or ''}".rstrip(": ")
    return [
        e.task_name, e.task_id, e.args_summary(), "-" if e.attempts is None else str(e.attempts), error[:120],
        format_age(e.age_seconds(now)),
    ]


def print_dlq_table(entries: list[Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    now = time.time()
    table = Table("task", "task id", "args", "attempts", "error", "age")
    for e in entries:
        try:
            row = _dlq_row(e, now)
        except Exception as exc:  # one letter that cannot be rendered is listed by message id; the others still list
            row = _dlq_row(e.as_unreadable(rendering_failed(exc)), now)
        table.add_row(*(Text(printable(c)) for c in row))  # Text: never rich markup ("[/x]" in args would raise)
    dlq_console().print(table)


def dlq_entry_json(e: Any, now: float | None = None, detail: bool = False) -> str:
    """One entry as JSON text; an entry whose rendering fails becomes its unreadable form (message id, size)."""
    try:
        return json_text(e.detail_json(now) if detail else e.to_json(now))
    except Exception as exc:
        plain = e.as_unreadable(rendering_failed(exc))
        return json_text(plain.detail_json(now) if detail else plain.to_json(now))



def dlq_show_lines(entry: Any) -> list[str]:
    """What ``dlq show`` prints for one entry (one line for an unreadable one); built whole before printing."""
    from sqsq.dlq import format_age

    if entry.unreadable:
        return [entry.one_line()]
    detail = entry.detail_json()
    lines = [f"{key}: {'-' if detail[key] is None else detail[key]}" for key in (
        "task_id", "task", "message_id", "status", "attempts", "generation", "error_type", "error_message")]
    lines.append(f"sent: {format_age(entry.age_seconds())} ago ({entry.sent_at:.3f})")
    lines.append(f"size: {detail['size_bytes']} bytes")
    if entry.envelope is not None:
        lines.append("envelope:")
        lines.append(json.dumps(finite_or_none(detail["envelope"]), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        body = entry.message.body
        lines.append(f"body (undecodable: {entry.decode_error}):")
        lines.append(body if len(body) <= DLQ_SHOW_BODY_MAX_CHARS else
                     f"{body[:DLQ_SHOW_BODY_MAX_CHARS]}… ({len(body)} characters in all; --json prints it whole)")
    if detail["traceback"]:
        lines.append("traceback:")
        lines.append(detail["traceback"].rstrip())
    return lines


class RedriveProgressDisplay:
    """Progress on stderr: a rich bar on a terminal, else one plain line at most every 0.5 s."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None
        self._last = 0.0

    def __enter__(self) -> RedriveProgressDisplay:
        if self.enabled and sys.stderr.isatty():
            require("sqsq dlq redrive's progress bar (on a terminal)", "rich")
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("redrive", total=None)
        return self

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=p.scanned, total=p.total_estimate,
                             description=f"redrive: moved {p.moved}")
            return
        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            click.echo(f"redrive: scanned {p.scanned} of ~{p.total_estimate}, moved {p.moved}", err=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

