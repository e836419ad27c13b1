"""The worker's DLQ sweep: every interval, sweep the DLQs of its queues that hold messages (:mod:`sqsq.sweep`)."""

from __future__ import annotations

import logging
import threading

from sqsq.app import App
from sqsq.executor import LogThrottle
from sqsq.transport import QueueInfo
from sqsq.worker.stats import WorkerStats

log = logging.getLogger("sqsq.worker")

DLQ_SWEEP_INTERVAL_SECONDS = 60.0
"""How often a worker sweeps its queues' DLQs (:mod:`sqsq.sweep`): one GetQueueAttributes per DLQ while empty."""


def sweep_loop(
    app: App,
    infos: dict[str, QueueInfo],
    interval_seconds: float,
    closed: threading.Event,
    stopping: threading.Event,
    stats: WorkerStats,
    throttle: LogThrottle,
) -> None:
    """Every ``interval_seconds`` until ``closed``, sweep the DLQ of each queue in ``infos`` that has one."""
    while not closed.wait(interval_seconds):
        # Imported here, after the first interval: the sweep (and sqsq.dlq under it) is not needed to start
        # receiving, so the worker's first ReceiveMessage does not wait for it (issue 11, start-up).
        from sqsq.sweep import sweep_dead_letters

        for logical, info in infos.items():
            if info.dead_letter_target_arn is None or stopping.is_set():
                continue
            try:
                report = sweep_dead_letters(app, logical)
            except Exception as exc:  # never lose the sweeper; the next round tries again
                throttle.log(logging.WARNING, f"sweep:{logical}", "sweeping %s's DLQ failed: %s", logical, exc)
                continue
            stats.dlq_rescued += len(report.rescued)
            stats.dlq_recorded += len(report.recorded)
