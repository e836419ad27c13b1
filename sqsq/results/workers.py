"""The worker registry's storage: one item per poller worker in the results table, refreshed by a PutItem every
interval and listed by a Query on the task index's ``"_worker"`` partition (never a Scan).

Item: ``task_id = "_worker#<worker id>"`` (S), ``state_day = "_worker"`` (S), ``updated_at`` (N, last seen, epoch
seconds), ``expires_at`` (N, the table's TTL: last seen + 3 intervals, so a dead worker's item is deleted by
DynamoDB eventually; the listing hides it at once), ``worker`` (S, JSON of :class:`WorkerReport`).

Cost: one PutItem (1 write unit) plus its index write (1) per worker per interval: at 30 s, 5,760 write units a
day per worker (about $0.0036 a day on demand in us-east-1 at $0.625 per million).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from botocore.exceptions import BotoCoreError, ClientError

from sqsq.results.index import INDEX_PARTITION_KEY, WORKER_PARTITION
from sqsq.results.listing import query_partition
from sqsq.results.workers_report import STALE_AFTER_INTERVALS, WorkerReport
from sqsq.transport.aws import AwsClients, wrap_boto_error


def put_worker(clients: AwsClients, table_name: str, report: WorkerReport) -> None:
    """Write ``report`` (one PutItem).

    Raises:
        AwsError: the write failed after botocore's retries.
    """
    expires = int(report.last_seen + STALE_AFTER_INTERVALS * report.interval_seconds) + 1
    item = {
        "task_id": {"S": f"_worker#{report.worker_id}"},
        INDEX_PARTITION_KEY: {"S": WORKER_PARTITION},
        "updated_at": {"N": repr(round(report.last_seen, 6))},
        "expires_at": {"N": str(expires)},
        "worker": {"S": json.dumps(asdict(report))},
    }
    try:
        clients.dynamodb.put_item(TableName=table_name, Item=item)
    except (ClientError, BotoCoreError) as exc:
        raise wrap_boto_error(exc, "reporting the worker", clients.describe_endpoint()) from exc


def live_workers(clients: AwsClients, table_name: str, now: float | None = None) -> list[WorkerReport]:
    """Workers seen within :data:`STALE_AFTER_INTERVALS` of their interval, most recently seen first (Query).

    Raises:
        AwsError: the Query failed.
    """
    now = time.time() if now is None else now
    out = []
    for item in query_partition(clients, table_name, WORKER_PARTITION, 0, now + 60, 1000):
        report = WorkerReport(**json.loads(item["worker"]["S"]))
        if report.last_seen + STALE_AFTER_INTERVALS * report.interval_seconds >= now:
            out.append(report)
    return out


def remove_worker(clients: AwsClients, table_name: str, worker_id: str) -> None:
    """Delete a worker's item (on a clean stop, so it leaves the list at once).

    Raises:
        AwsError: the delete failed.
    """
    try:
        clients.dynamodb.delete_item(TableName=table_name, Key={"task_id": {"S": f"_worker#{worker_id}"}})
    except (ClientError, BotoCoreError) as exc:
        raise wrap_boto_error(exc, "removing the worker's report", clients.describe_endpoint()) from exc
