"""What a poller worker reports about itself (the worker registry's record; no AWS import, so the worker can
import it cheaply)."""

from __future__ import annotations

from dataclasses import dataclass, field

STALE_AFTER_INTERVALS = 3
"""A worker not seen for this many of its intervals is listed no more (and its item expires)."""


@dataclass(frozen=True)
class WorkerReport:
    """What a poller worker says about itself.

    Attributes:
        worker_id: unique per worker process (host, pid and a random suffix).
        host, pid: where it runs.
        queues: the physical queue names it polls.
        concurrency: tasks run at once.
        in_flight: messages held now (received, not acknowledged).
        tasks_done: messages finished since start (succeeded, retried or dead-lettered).
        started_at: epoch seconds it started.
        last_seen: epoch seconds of this report.
        interval_seconds: how often it reports.
    """

    worker_id: str
    host: str
    pid: int
    queues: list[str] = field(default_factory=list)
    concurrency: int = 0
    in_flight: int = 0
    tasks_done: int = 0
    started_at: float = 0.0
    last_seen: float = 0.0
    interval_seconds: float = 30.0
