"""The task index: a global secondary index on the results table, so recent and failed tasks are listed by a
Query, never a Scan.

Design (DynamoDB limits: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html):

- partition key ``state_day`` (S): ``"<STATUS>#<YYYY-MM-DD>"`` (UTC day of ``updated_at``), e.g.
  ``"FAILURE#2026-12-03"``. Failed tasks are one Query; all recent tasks are one Query per state, merged.
- sort key ``updated_at`` (N, epoch seconds): newest first with ``ScanIndexForward=False``; a time filter is a
  key condition (``BETWEEN``), so it reads only what it returns.
- projection INCLUDE of the listing's small attributes (name, status, attempts, sent_at, runtime, error type and
  message), never the result or traceback, so an index entry stays under 1 KB: one write unit.

Cost: DynamoDB charges a GSI write for every base-table write that sets the key: one write unit per result write
(on demand: $0.625 per million in us-east-1 at the time of writing), and a state change moves the entry between
partitions (a delete plus a put: two). A task recorded STARTED then SUCCESS costs about 3 index writes besides its
2 base writes. Tasks that store nothing (``ignore_result``) and apps without the DynamoDB store write nothing here;
``DynamoResults(..., index=False)`` leaves the attribute out, so no index write happens at all.

Limit: one index partition takes up to 1,000 write units per second, so one state's entries of one day are
written at up to ~1,000 per second (beyond that DynamoDB throttles the index and with it the table's writes).

Worker registry items (:mod:`sqsq.results.workers`) share the index under the partition ``"_worker"``.
"""

from __future__ import annotations

import time
from typing import Any

INDEX_NAME = "by_state_day"
INDEX_PARTITION_KEY = "state_day"
INDEX_SORT_KEY = "updated_at"
PROJECTED = ("task_name", "status", "attempts", "sent_at", "runtime_seconds", "error_type", "error_message",
             "worker", "expires_at")
"""Non-key attributes the index carries (``INCLUDE`` projection)."""
WORKER_PARTITION = "_worker"


def day_of(epoch_seconds: float) -> str:
    """The UTC day ``"YYYY-MM-DD"`` of an epoch time."""
    return time.strftime("%Y-%m-%d", time.gmtime(epoch_seconds))


def partition(status: str, epoch_seconds: float) -> str:
    """The index partition of a record of ``status`` written at ``epoch_seconds``."""
    return f"{status}#{day_of(epoch_seconds)}"


def attribute_definitions() -> list[dict[str, str]]:
    """The table's AttributeDefinitions: the key plus the index's keys."""
    return [
        {"AttributeName": "task_id", "AttributeType": "S"},
        {"AttributeName": INDEX_PARTITION_KEY, "AttributeType": "S"},
        {"AttributeName": INDEX_SORT_KEY, "AttributeType": "N"},
    ]


def global_secondary_index() -> dict[str, Any]:
    """The index as CreateTable, UpdateTable and CloudFormation's ``GlobalSecondaryIndexes`` declare it."""
    return {
        "IndexName": INDEX_NAME,
        "KeySchema": [
            {"AttributeName": INDEX_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": INDEX_SORT_KEY, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(PROJECTED)},
    }
