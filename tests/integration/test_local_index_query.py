"""The local AWS's fast GSI Query (sqsq.local.services.dynamodb_index) gives moto's own answers, and a write is seen."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from moto import mock_aws

import sqsq
from bench.dashboard import _records
from sqsq.local.services import dynamodb_index
from sqsq.results.listing import TaskFilter, list_tasks, query_partition
from sqsq.transport.admin import ensure_results_table
from sqsq.transport.aws import AwsClients


@pytest.fixture
def patchable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's Table.query and DynamoHandler.call_action as they were, restored after the test (in this process)."""
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    monkeypatch.setattr(Table, "query", Table.query)
    monkeypatch.setattr(DynamoHandler, "call_action", DynamoHandler.call_action)
    monkeypatch.setattr(Table, dynamodb_index._PATCHED_MARK, False, raising=False)
    yield


def test_fast_index_queries_answer_as_moto_does_and_see_writes(patchable: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        app = sqsq.App("ixq")
        clients = AwsClients(app.settings)
        ensure_results_table(clients, "ixq-results")
        now = time.time()
        items = _records(300, now - 5)
        for i in range(0, len(items), 25):
            clients.dynamodb.batch_write_item(
                RequestItems={"ixq-results": [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]})
        filters = [TaskFilter(states=("FAILURE",), until=now), TaskFilter(until=now, limit=40),
                   TaskFilter(name="bench.task_07", until=now, limit=5), TaskFilter(since=now - 3600, until=now, limit=7),
                   TaskFilter(until=now - 7200, limit=30), TaskFilter(states=("RETRY",), until=now, limit=1000)]
        day = time.strftime("%Y-%m-%d", time.gmtime(now - 5))

        def answers() -> list[list[str]]:
            out = [[r.task_id for r in list_tasks(clients, "ixq-results", f)] for f in filters]
            paged = query_partition(clients, "ixq-results", f"SUCCESS#{day}", now - 9000, now, 7)  # ExclusiveStartKey
            return [*out, [it["task_id"]["S"] for it in paged][:60]]

        before = answers()
        dynamodb_index.DynamoDbIndexQuery().patch()
        assert answers() == before
        assert all(before)
        gone = before[0][0]
        clients.dynamodb.delete_item(TableName="ixq-results", Key={"task_id": {"S": gone}})
        assert answers()[0] == before[0][1:] + answers()[0][len(before[0]) - 1:]
        assert gone not in answers()[0]
