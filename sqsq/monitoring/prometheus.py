"""``/metrics`` in the Prometheus text format, built with prometheus_client's public collector API.

Metrics (all gauges: each is read from SQS and the task index when scraped, over the last hour for tasks):

- ``sqsq_queue_messages{queue,state}``: visible, in_flight, delayed;
- ``sqsq_dlq_messages{queue}``: messages in the queue's DLQ;
- ``sqsq_queue_oldest_message_age_seconds{queue}``: CloudWatch's ApproximateAgeOfOldestMessage, when known;
- ``sqsq_tasks{task,outcome}``: task records written in the last hour by state;
- ``sqsq_task_runtime_seconds{task,outcome}`` (summary ``_count``/``_sum``): run time of those with one;
- ``sqsq_workers``: live poller workers; ``sqsq_worker_in_flight{worker}``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqsq.extras import require

require("sqsq dashboard", "fastapi_dashboard", "uvicorn", "jinja2", "prometheus_client")

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

if TYPE_CHECKING:
    from sqsq.monitoring.source import Monitor

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Collector(Collector):
    def __init__(self, monitor: Monitor):
        self._monitor = monitor

    def collect(self) -> Iterator[Metric]:
        m = self._monitor
        depth = GaugeMetricFamily("sqsq_queue_messages", "Messages in the queue by state", labels=["queue", "state"])
        dlq = GaugeMetricFamily("sqsq_dlq_messages", "Messages in the queue's DLQ", labels=["queue"])
        age = GaugeMetricFamily("sqsq_queue_oldest_message_age_seconds",
                                "ApproximateAgeOfOldestMessage (CloudWatch), when known", labels=["queue"])
        for q in m.queues():
            for state in ("visible", "in_flight", "delayed"):
                depth.add_metric([q.queue, state], getattr(q, state))
            if q.dlq_visible is not None:
                dlq.add_metric([q.queue], q.dlq_visible)
            if q.oldest_age_seconds is not None:
                age.add_metric([q.queue], q.oldest_age_seconds)
        yield from (depth, dlq, age)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        runtime: dict[tuple[str, str], tuple[int, float]] = defaultdict(lambda: (0, 0.0))
        for row in m.last_hour_rows():
            key = (row.task_name, row.status)
            counts[key] += 1
            if row.runtime_seconds is not None:
                n, total = runtime[key]
                runtime[key] = (n + 1, total + row.runtime_seconds)
        tasks = GaugeMetricFamily("sqsq_tasks", "Task records written in the last hour", labels=["task", "outcome"])
        for (task, outcome), n in sorted(counts.items()):
            tasks.add_metric([task, outcome], n)
        durations = SummaryMetricFamily("sqsq_task_runtime_seconds", "Run time of tasks recorded in the last hour",
                                        labels=["task", "outcome"])
        for (task, outcome), (n, total) in sorted(runtime.items()):
            durations.add_metric([task, outcome], count_value=n, sum_value=total)
        yield from (tasks, durations)
        workers = m.workers()
        yield GaugeMetricFamily("sqsq_workers", "Live poller workers", value=len(workers))
        in_flight = GaugeMetricFamily("sqsq_worker_in_flight", "Messages a worker holds", labels=["worker"])
        for w in workers:
            in_flight.add_metric([w.worker_id], w.in_flight)
        yield in_flight


def metrics_text(monitor: Monitor) -> bytes:
    """The Prometheus exposition text of ``monitor``'s figures, read now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(monitor))
    return generate_latest(registry)
