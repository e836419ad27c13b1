"""Monitoring data (issue 15): what the dashboard (:mod:`sqsq.dashboard`), ``sqsq top`` and ``/metrics`` show.

Modules, one job each:

- :mod:`~sqsq.monitoring.queues`: depth, in flight, delayed, DLQ depth and oldest-message age per queue;
- :mod:`~sqsq.monitoring.throughput`: succeeded and failed per minute over the last hour (task index Queries);
- :mod:`~sqsq.monitoring.tasks`: recent tasks with filters, one task's page (arguments masked);
- :mod:`~sqsq.monitoring.failures`: dead letters with their reasons; retry, bulk redrive and purge through
  :class:`sqsq.dlq.DeadLetterQueue` (the code of ``sqsq dlq redrive`` and ``sqsq dlq purge``);
- :mod:`~sqsq.monitoring.workers`: live poller workers (:mod:`sqsq.worker.registry` writes them);
- :mod:`~sqsq.monitoring.masking`: secret-looking argument values masked before anything is shown;
- :mod:`~sqsq.monitoring.prometheus`: the ``/metrics`` text.

Nothing here Scans a table: listings are Queries on the task index (:mod:`sqsq.results.index`).
"""

from __future__ import annotations

from sqsq.monitoring.source import Monitor

__all__ = ["Monitor"]
