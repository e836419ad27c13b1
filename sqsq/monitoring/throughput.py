"""Succeeded and failed tasks per minute over the last hour, counted from the task index (Queries of the
SUCCESS and FAILURE partitions of the days the hour spans, projecting only ``updated_at``).

Workflow records (:data:`~sqsq.results.listing.INTERNAL_TASK_NAMES`) are not counted: their steps are. A retried
task counts once, when it ends; a record rewritten later (a redrive's SUCCESS) moves to its new minute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqsq.results import Status
from sqsq.results.index import day_of
from sqsq.results.listing import INTERNAL_TASK_NAMES, query_partition
from sqsq.transport.aws import AwsClients

WINDOW_MINUTES = 60


@dataclass(frozen=True)
class Throughput:
    """Per-minute counts, oldest minute first.

    Attributes:
        start: epoch seconds of the first minute's start.
        succeeded, failed: counts per minute (length :data:`WINDOW_MINUTES`).
    """

    start: float
    succeeded: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def throughput(clients: AwsClients, table_name: str, now: float | None = None) -> Throughput:
    """Count SUCCESS and FAILURE records per minute over the last :data:`WINDOW_MINUTES` minutes.

    Raises:
        AwsError: a Query failed.
    """
    now = time.time() if now is None else now
    start = (int(now) // 60 - WINDOW_MINUTES + 1) * 60
    counts = {Status.SUCCESS: [0] * WINDOW_MINUTES, Status.FAILURE: [0] * WINDOW_MINUTES}
    days = dict.fromkeys((day_of(start), day_of(now)))
    for status, per_minute in counts.items():
        for day in days:
            for item in query_partition(clients, table_name, f"{status.value}#{day}", start, now, 1000,
                                        attributes=("updated_at",), exclude_names=INTERNAL_TASK_NAMES):
                minute = int((float(item["updated_at"]["N"]) - start) // 60)
                if 0 <= minute < WINDOW_MINUTES:
                    per_minute[minute] += 1
    return Throughput(start=float(start), succeeded=counts[Status.SUCCESS], failed=counts[Status.FAILURE])
