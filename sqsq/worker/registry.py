"""The worker registry: each poller worker reports itself every ``interval_seconds`` (host, pid, queues,
concurrency, in flight, tasks done, started and last seen) with one PutItem in the results table, so the
dashboard and ``sqsq top`` list live workers (see :mod:`sqsq.results.workers` for the item and its cost).

Off when results are off (the app's store is not DynamoDB, or every task has ``ignore_result``) or the interval is 0
(``sqsq worker --registry-interval-seconds 0``). A failed report is logged (throttled) and never stops the worker.
The same loop prints the worker's EMF metrics line when asked (:mod:`sqsq.worker.emf`; ``--emf-metrics``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqsq.app import App
from sqsq.executor.throttle import LogThrottle
from sqsq.results.workers_report import WorkerReport
from sqsq.worker.emf import EmfEmitter
from sqsq.worker.stats import WorkerStats

if TYPE_CHECKING:  # imported when the registry starts: importing the worker must not load botocore
    from sqsq.results.dynamodb import DynamoResults

log = logging.getLogger("sqsq.worker")

REGISTRY_INTERVAL_SECONDS = 30.0
"""Default interval between a worker's reports."""


class Registry:
    """Reports a worker to the results table until ``closed`` is set (the thread's target is :meth:`run`).

    Args:
        app: the app (its results store must be :class:`DynamoResults`, else :meth:`enabled` is False).
        queues: physical queue names polled.
        concurrency: the worker's concurrency.
        stats: the worker's counters (tasks done = succeeded + retried + dead-lettered).
        in_flight: returns the messages held now.
        interval_seconds: seconds between reports; 0 turns the registry off.
        throttle: where recurring failures are logged.
        emf: an EMF emitter to run on the same interval (``REGISTRY_INTERVAL_SECONDS`` when the registry is off), or
            None.
    """

    def __init__(
        self, app: App, queues: list[str], concurrency: int, stats: WorkerStats, in_flight: Callable[[], int],
        interval_seconds: float, throttle: LogThrottle, emf: EmfEmitter | None = None,
    ):
        self._app = app
        self._store: DynamoResults | None = None
        self._emf = emf
        self._stats = stats
        self._in_flight = in_flight
        self._throttle = throttle
        self.interval_seconds = interval_seconds
        host = socket.gethostname()
        self._base = WorkerReport(
            worker_id=f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}", host=host, pid=os.getpid(), queues=queues,
            concurrency=concurrency, started_at=time.time(), interval_seconds=interval_seconds,
        )

    def _resolve(self) -> DynamoResults | None:
        # at run time, not construction: a test may swap the app's store in between
        if self.interval_seconds <= 0 or all(t.ignore_result for t in self._app.tasks.values()):
            return None  # off, or results off: an app whose tasks all store nothing writes nothing here either
        from sqsq.results.dynamodb import DynamoResults

        results = self._app.results
        return results if isinstance(results, DynamoResults) else None

    def report(self) -> WorkerReport:
        """The report as of now."""
        s = self._stats
        b = self._base
        return WorkerReport(
            worker_id=b.worker_id, host=b.host, pid=b.pid, queues=b.queues, concurrency=b.concurrency,
            in_flight=self._in_flight(), tasks_done=s.succeeded + s.retried + s.dead_lettered,
            started_at=b.started_at, last_seen=time.time(), interval_seconds=b.interval_seconds,
        )

    def beat(self) -> None:
        """Write one report (failures logged, not raised)."""
        if self._store is None:
            return
        from sqsq.results.workers import put_worker

        try:
            put_worker(self._store.clients, self._store.table_name, self.report())
        except Exception as exc:  # never stop the worker for its report
            self._throttle.log(logging.WARNING, "worker-registry", "worker registry: %s", exc)

    def run(self, closed: threading.Event) -> None:
        """Report now and every interval until ``closed``; then remove the item (a clean stop leaves at once)."""
        self._store = self._resolve()
        if self._store is None and self._emf is None:
            return
        interval = self.interval_seconds if self.interval_seconds > 0 else REGISTRY_INTERVAL_SECONDS
        while not closed.is_set():
            self.beat()
            closed.wait(interval)
            if self._emf is not None:
                self._emf.emit(self._in_flight())
        if self._store is None:
            return
        from sqsq.results.workers import remove_worker

        try:
            remove_worker(self._store.clients, self._store.table_name, self._base.worker_id)
        except Exception as exc:
            log.warning("worker registry: %s", exc)
