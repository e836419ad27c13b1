"""Per-queue figures: the same counts as ``sqsq queues --json`` plus the age of the oldest message.

Age of the oldest message: SQS has no such attribute; it is CloudWatch's ``ApproximateAgeOfOldestMessage``
metric. :func:`oldest_age_seconds` reads it (GetMetricStatistics, Maximum over the last 5 minutes); where there
is no datapoint (the local AWS publishes no SQS metrics; a new or idle queue) it is ``None`` and shown as "n/a",
never guessed.
"""

from __future__ import annotations

import time
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


def queue_stats(app: App, clients: AwsClients | None = None) -> list[QueueStats]:
    """The figures of every logical queue of ``app``, sorted by logical name.

    Args:
        app: the app.
        clients: for CloudWatch's oldest-message age; None: the age is not read (None).

    Raises:
        QueueNotFound, AwsError: a queue is missing or SQS failed.
    """
    rows = []
    for logical in app.logical_queues():
        name = app.queue_name(logical)
        d = app.transport.depth(name)
        info = app.transport.queue_info(name)
        dlq = info.dead_letter_target_arn.rsplit(":", 1)[1] if info.dead_letter_target_arn else None
        rows.append(QueueStats(
            queue=name, visible=d.visible, in_flight=d.in_flight, delayed=d.delayed, dlq=dlq,
            dlq_visible=app.transport.depth(dlq).visible if dlq else None, max_receive_count=info.max_receive_count,
            oldest_age_seconds=oldest_age_seconds(clients, name) if clients is not None else None,
        ))
    return rows
