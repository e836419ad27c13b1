"""The task index (issue 15): results carry its key, listings are Queries (never Scans), workers report themselves."""

from __future__ import annotations

import time
import uuid

import pytest

import sqsq
from sqsq.local.provision import provision
from sqsq.local.server import LocalAwsServer
from sqsq.results import ResultRecord, Status
from sqsq.results.dynamodb import DynamoResults
from sqsq.results.listing import TaskFilter, list_tasks
from sqsq.results.workers import live_workers, put_worker
from sqsq.results.workers_report import WorkerReport
from sqsq.transport.aws import AwsClients


@pytest.fixture
def store(local_aws: LocalAwsServer) -> DynamoResults:
    app = sqsq.App(f"ix{uuid.uuid4().hex[:6]}")
    app.configure(endpoint_url=local_aws.endpoint_url)
    provision(app)
    return DynamoResults(AwsClients(app.settings), app.settings.table_name)


def _put(store: DynamoResults, status: Status, name: str, at: float, i: int) -> str:
    task_id = f"{name}-{i}-{uuid.uuid4().hex[:6]}"
    store.put(ResultRecord(task_id=task_id, status=status, task_name=name, attempts=1, sent_at=at - 1,
                           runtime_seconds=0.5).stamped(10 * 86_400, now=at))
    return task_id


def test_recent_tasks_are_listed_newest_first_by_state_name_and_time(store: DynamoResults) -> None:
    now = time.time()
    ok = [_put(store, Status.SUCCESS, "add", now - 100 + i, i) for i in range(5)]
    bad = [_put(store, Status.FAILURE, "div", now - 50 + i, i) for i in range(3)]
    old = _put(store, Status.SUCCESS, "add", now - 2 * 86_400, 99)
    clients, table = store.clients, store.table_name

    rows = list_tasks(clients, table, TaskFilter(limit=6))
    assert [r.task_id for r in rows] == [*reversed(bad), *reversed(ok)][:6]
    assert [r.task_id for r in list_tasks(clients, table, TaskFilter(states=("FAILURE",)))] == list(reversed(bad))
    assert {r.task_name for r in list_tasks(clients, table, TaskFilter(name="add"))} == {"add"}
    assert old in [r.task_id for r in list_tasks(clients, table, TaskFilter(name="add"))]
    recent = list_tasks(clients, table, TaskFilter(since=now - 3600))
    assert old not in [r.task_id for r in recent] and len(recent) == 8
    assert rows[0].runtime_seconds == 0.5 and rows[0].error_type is None


def test_a_listing_makes_queries_and_never_a_scan(store: DynamoResults, local_aws: LocalAwsServer) -> None:
    _put(store, Status.SUCCESS, "add", time.time(), 0)
    before = local_aws.request_counts()
    list_tasks(store.clients, store.table_name, TaskFilter(name="add", since=time.time() - 3 * 86_400))
    after = local_aws.request_counts()
    assert after.get("dynamodb:Query", 0) > before.get("dynamodb:Query", 0)
    assert after.get("dynamodb:Scan", 0) == before.get("dynamodb:Scan", 0)


def test_a_store_without_the_index_writes_no_index_key(store: DynamoResults) -> None:
    plain = DynamoResults(store.clients, store.table_name, index=False)
    task_id = _put(plain, Status.SUCCESS, "add", time.time(), 0)
    item = store.clients.dynamodb.get_item(TableName=store.table_name, Key={"task_id": {"S": task_id}})["Item"]
    assert "state_day" not in item
    assert task_id not in [r.task_id for r in list_tasks(store.clients, store.table_name, TaskFilter())]


def test_stale_workers_age_out_of_the_registry(store: DynamoResults) -> None:
    now = time.time()
    fresh = WorkerReport("w-fresh", "h", 1, ["q"], 4, 2, 10, now - 100, now, 30)
    stale = WorkerReport("w-stale", "h", 2, ["q"], 4, 0, 3, now - 500, now - 91, 30)
    for report in (fresh, stale):
        put_worker(store.clients, store.table_name, report)
    assert [w.worker_id for w in live_workers(store.clients, store.table_name, now=now)] == ["w-fresh"]
