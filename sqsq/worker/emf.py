"""CloudWatch metrics from a poller worker in the embedded metric format (EMF): one JSON line on stdout per
interval, which the CloudWatch agent (or a container's awslogs driver with EMF) turns into metrics.

The Lambda path prints the same through Powertools (:mod:`sqsq.lambda_handler.metrics`); Powertools is a Lambda
extra that poller workers do not install, and EMF is a documented JSON shape, so this writes it directly
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).

Metrics (namespace ``sqsq`` or ``POWERTOOLS_METRICS_NAMESPACE``, dimension ``service`` = the app's name), counts
over the interval: ``TasksSucceeded``, ``TasksRetried``, ``TasksDeadLettered``, ``MessagesReceived``; and the
gauge ``MessagesInFlight``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from sqsq.worker.stats import WorkerStats

_COUNTS = {"TasksSucceeded": "succeeded", "TasksRetried": "retried", "TasksDeadLettered": "dead_lettered",
           "MessagesReceived": "received"}


def metrics_namespace() -> str:
    """``POWERTOOLS_METRICS_NAMESPACE`` if set (as the Lambda path reads it), else ``"sqsq"``."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "sqsq"


def emf_line(namespace: str, service: str, values: dict[str, int], now: float | None = None) -> str:
    """One EMF document: ``values`` (metric name -> count) with the ``service`` dimension.

    Returns:
        The JSON text (one line).
    """
    t = time.time() if now is None else now
    document: dict[str, object] = {
        "_aws": {
            "Timestamp": int(t * 1000),  # EMF wants milliseconds
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["service"]],
                "Metrics": [{"Name": name, "Unit": "Count"} for name in values],
            }],
        },
        "service": service,
        **values,
    }
    return json.dumps(document, separators=(",", ":"))


@dataclass
class EmfEmitter:
    """Prints the counters' change since the last call as one EMF line.

    Args:
        namespace: the CloudWatch namespace.
        service: the ``service`` dimension (the app's name).
        stats: the worker's counters.
        out: where lines go (stdout).
    """

    namespace: str
    service: str
    stats: WorkerStats
    out: TextIO = field(default_factory=lambda: sys.stdout)
    _last: dict[str, int] = field(default_factory=dict)

    def emit(self, in_flight: int) -> str:
        """Print (and return) the line for the interval that just ended."""
        values = {}
        for name, attribute in _COUNTS.items():
            now = int(getattr(self.stats, attribute))
            values[name] = now - self._last.get(name, 0)
            self._last[name] = now
        values["MessagesInFlight"] = in_flight
        line = emf_line(self.namespace, self.service, values)
        print(line, file=self.out, flush=True)
        return line
