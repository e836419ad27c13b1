"""The :class:`Monitor`: one app's monitoring data, read on demand (the dashboard, ``sqsq top`` and ``/metrics``
all read through it)."""

from __future__ import annotations

import json
import time
from typing import Any

from sqsq.app import App
from sqsq.errors import ConfigError
from sqsq.monitoring.failures import Failures
from sqsq.monitoring.masking import mask
from sqsq.monitoring.queues import OldestAgeCache, QueueStats, queue_stats
from sqsq.monitoring.tasks import TaskDetail
from sqsq.monitoring.throughput import Throughput, throughput
from sqsq.monitoring.workflows import WorkflowRow, state_query, tree_query, workflow_detail, workflow_rows
from sqsq.results.dynamodb import DynamoResults
from sqsq.results.index import day_of
from sqsq.results.listing import INTERNAL_TASK_NAMES, LISTED_STATES, TaskFilter, TaskRow, list_tasks, query_partition, row_of
from sqsq.results.workers import live_workers
from sqsq.results.workers_report import WorkerReport


class Monitor:
    """Monitoring reads for ``app``.

    Args:
        app: the app; its results store must be the DynamoDB one (the task index lives there).
        read_oldest_age: read CloudWatch's ApproximateAgeOfOldestMessage per queue (one call each); False: unknown.

    Raises:
        ConfigError: the app's results store is not DynamoDB (nothing to list tasks from).
    """

    def __init__(self, app: App, *, read_oldest_age: bool = True):
        store = app.results
        if not isinstance(store, DynamoResults):
            raise ConfigError(
                f"monitoring reads the DynamoDB results table, but app {app.name!r} uses {type(store).__name__}; "
                "run it with the default DynamoDB store (results on)"
            )
        self.app = app
        self.store = store
        self.clients = store.clients
        self.table_name = store.table_name
        self._oldest_age = OldestAgeCache(self.clients) if read_oldest_age else None
        self.failures = Failures(app)

    def queues(self) -> list[QueueStats]:
        """Every queue's figures (:func:`sqsq.monitoring.queues.queue_stats`)."""
        return queue_stats(self.app, self._oldest_age)

    def tasks(self, query: TaskFilter) -> list[TaskRow]:
        """Recent tasks (:func:`sqsq.results.listing.list_tasks`: Queries on the task index)."""
        return list_tasks(self.clients, self.table_name, query)

    def task(self, task_id: str) -> TaskDetail:
        """One task's page: its record (GetItem) with the masked arguments preview it keeps, or, when its message
        is in a DLQ, the dead letter's whole masked arguments."""
        record = self.store.get(task_id)
        dead = self.failures.find(task_id)
        if dead is None or dead.entry.envelope is None:
            preview = record.args_preview if record is not None else None
            return TaskDetail(task_id, record, args=_preview_value(preview))
        return TaskDetail(task_id, record, args=mask(dead.entry.envelope.args), in_dlq=dead.queue)

    def workflows(self, limit: int = 50) -> list[WorkflowRow]:
        """The newest workflows with their states (two name-filtered listings of the task index)."""
        trees = self.tasks(tree_query(limit))
        return workflow_rows(trees, self.tasks(state_query(trees)) if trees else [])

    def workflow(self, workflow_id: str) -> dict[str, Any] | None:
        """One workflow's tree of steps, as ``sqsq result WORKFLOW_ID --json`` prints it; None: no such workflow."""
        return workflow_detail(self.app, workflow_id)

    def throughput(self) -> Throughput:
        """Succeeded and failed per minute over the last hour."""
        return throughput(self.clients, self.table_name)

    def workers(self) -> list[WorkerReport]:
        """Live poller workers (Query on the registry's index partition)."""
        return live_workers(self.clients, self.table_name)

    def last_hour_rows(self) -> list[TaskRow]:
        """Every task record written in the last hour (name, state and run time only; not the workflow records),
        for ``/metrics``."""
        now = time.time()
        since = now - 3600
        rows = []
        for day in dict.fromkeys((day_of(since), day_of(now))):
            for state in LISTED_STATES:
                items = query_partition(self.clients, self.table_name, f"{state.value}#{day}", since, now, 1000,
                                        attributes=("task_id", "task_name", "status", "updated_at", "runtime_seconds"),
                                        exclude_names=INTERNAL_TASK_NAMES)
                rows += [row_of(item) for item in items]
        return rows



def _preview_value(preview: str | None) -> Any:
    """A record's arguments preview as JSON data (a preview cut at its length limit stays text)."""
    if preview is None:
        return None
    try:
        return json.loads(preview)
    except ValueError:
        return preview
