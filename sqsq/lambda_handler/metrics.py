"""The EMF metrics one invocation prints (Powertools' ``EphemeralMetrics``, flushed once per batch).

Metrics, all with the app's name as the ``service`` dimension: ``RecordsSucceeded`` (acknowledged, duplicates and
dead-lettered included: Lambda deletes them), ``RecordsFailed`` (reported in ``batchItemFailures``),
``RecordsRetried``, ``RecordsDeadLettered``, ``RecordsNotStarted`` (counts) and ``RecordDuration`` (seconds, one
value per record that ran, at most 100: EMF's limit of values per metric per line).
"""

from __future__ import annotations

from sqsq.lambda_handler import require_powertools
from sqsq.lambda_handler.invocation import Invocation

require_powertools()

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit  # noqa: E402

__all__ = ["emit_metrics"]

EMF_MAX_VALUES_PER_METRIC = 100
"""EMF: at most 100 values per metric per line
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)."""


def emit_metrics(namespace: str, service: str, inv: Invocation, failed: int) -> None:
    """Print one EMF line for the invocation ``inv`` (``failed``: records reported failed)."""
    metrics = EphemeralMetrics(namespace=namespace, service=service)
    succeeded = inv.counts.get("succeeded", 0) + inv.counts.get("duplicates", 0)
    succeeded += inv.counts.get("dead_lettered", 0)
    metrics.add_metric(name="RecordsSucceeded", unit=MetricUnit.Count, value=succeeded)
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=failed)
    metrics.add_metric(name="RecordsRetried", unit=MetricUnit.Count, value=inv.counts.get("retried", 0))
    metrics.add_metric(name="RecordsDeadLettered", unit=MetricUnit.Count, value=inv.counts.get("dead_lettered", 0))
    metrics.add_metric(name="RecordsNotStarted", unit=MetricUnit.Count, value=inv.counts.get("not_started", 0))
    for seconds in inv.durations_seconds[:EMF_MAX_VALUES_PER_METRIC]:
        metrics.add_metric(name="RecordDuration", unit=MetricUnit.Seconds, value=round(seconds, 6))
    metrics.flush_metrics()
