"""Tasks for the dashboard: recent ones from the task index, and one task's page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqsq.monitoring.masking import mask
from sqsq.results import ResultRecord


@dataclass(frozen=True)
class TaskDetail:
    """One task's page.

    Attributes:
        record: the stored record (None: no record, i.e. PENDING, unknown or expired).
        args: the arguments, masked: the record's preview (cut at 512 characters), or the dead letter's whole
            arguments while its message is in a DLQ; None when not known.
        in_dlq: the DLQ holding its message, or None.
    """

    task_id: str
    record: ResultRecord | None
    args: Any = None
    in_dlq: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the result decoded from its JSON text)."""
        r = self.record
        out: dict[str, Any] = {"task_id": self.task_id, "status": r.status.value if r else "PENDING",
                               "args": self.args, "in_dlq": self.in_dlq}
        if r is not None:
            out.update(
                task_name=r.task_name, attempts=r.attempts, generation=r.generation, sent_at=r.sent_at,
                updated_at=r.updated_at, expires_at=r.expires_at, runtime_seconds=r.runtime_seconds,
                result=mask(json.loads(r.result_json)) if r.result_json is not None else None,
                error_type=r.error_type, error_message=r.error_message, traceback=r.traceback, due_at=r.due_at,
            )
        return out


def format_seconds(seconds: float | None) -> str:
    """A run time as people read it: ``"-"`` (none), ``"85 µs"``, ``"12.4 ms"``, ``"1.250 s"``.

    The record's ``runtime_seconds`` is the task body's own time; the worker's ``task ... success in N s`` log line
    also counts decoding, claiming and writing the result, so a fast task reads less here than in the log.
    """
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.3f} s"
