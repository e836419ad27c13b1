"""Per-queue figures: the same counts as ``sqsq queues --json`` plus the age of the oldest message.

Age of the oldest message: SQS has no such attribute; it is CloudWatch's ``ApproximateAgeOfOldestMessage``
metric. :func:`oldest_age_seconds` reads it (GetMetricStatistics, Maximum over the last 5 minutes); where there
is no datapoint (the local AWS publishes no SQS metrics; a new or idle queue) it is ``None`` and shown as "n/a",
never guessed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqsq.app import App
from sqsq.errors import AwsError
from sqsq.transport.aws import AwsClients
from sqsq.transport.metrics import max_metric_value


@dataclass(frozen=True)
class QueueStats:
    """One queue's figures (SQS's approximate counts).

    Attributes:
        queue: physical name.
        visible, in_flight, delayed: ApproximateNumberOfMessages, ...NotVisible, ...Delayed.
        dlq: the DLQ's name, or None.
        dlq_visible: messages in the DLQ, or None.
        max_receive_count: the redrive policy's maxReceiveCount, or None.
        oldest_age_seconds: CloudWatch's ApproximateAgeOfOldestMessage (max, last 5 min), or None when unknown.
    """

    queue: str
    visible: int
    in_flight: int
    delayed: int
    dlq: str | None
    dlq_visible: int | None
    max_receive_count: int | None
    oldest_age_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The fields as a dict (the first seven are ``sqsq queues --json``'s row)."""
        return asdict(self)


def oldest_age_seconds(clients: AwsClients, queue: str, now: float | None = None) -> float | None:
    """CloudWatch's ApproximateAgeOfOldestMessage of ``queue`` (max over 5 minutes), or None when unavailable."""
    try:
        return max_metric_value(clients, "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue,
                                window_seconds=300, now=time.time() if now is None else now)
    except AwsError:
        return None


def queue_stats(app: App, age: Callable[[str], float | None] | None = None) -> list[QueueStats]:
    """The figures of every logical queue of ``app``, sorted by logical name.

    Args:
        app: the app.
        age: reads a queue's oldest-message age (e.g. :class:`OldestAgeCache`); None: the age is not read (None).

    Raises:
        QueueNotFound, AwsError: a queue is missing or SQS failed.
    """
    rows = []
    for logical in app.logical_queues():
        name = app.queue_name(logical)
        d = app.transport.depth(name)
        info = app.transport.queue_info(name)
        dlq = info.dead_letter_queue_name
        rows.append(QueueStats(
            queue=name, visible=d.visible, in_flight=d.in_flight, delayed=d.delayed, dlq=dlq,
            dlq_visible=app.transport.depth(dlq).visible if dlq else None, max_receive_count=info.max_receive_count,
            oldest_age_seconds=age(name) if age is not None else None,
        ))
    return rows


OLDEST_AGE_CACHE_SECONDS = 60.0
"""SQS publishes the metric once a minute: a refresh within a minute reuses the last read (GetMetricStatistics is
$0.01 per 1,000 requests)."""


class OldestAgeCache:
    """:func:`oldest_age_seconds` per queue, read at most once per :data:`OLDEST_AGE_CACHE_SECONDS`."""

    def __init__(self, clients: AwsClients):
        self._clients = clients
        self._lock = threading.Lock()
        self._read: dict[str, tuple[float, float | None]] = {}

    def __call__(self, queue: str) -> float | None:
        now = time.monotonic()
        with self._lock:
            hit = self._read.get(queue)
            if hit is not None and now - hit[0] < OLDEST_AGE_CACHE_SECONDS:
                return hit[1]
        value = oldest_age_seconds(self._clients, queue)
        with self._lock:
            self._read[queue] = (now, value)
        return value
