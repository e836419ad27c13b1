"""Recent tasks from the task index (:mod:`sqsq.results.index`): Queries only, newest first, never a Scan.

A listing walks the UTC days from ``until`` back to ``since`` and, for each day, queries each wanted state's
partition (``ScanIndexForward=False``, the time window as the key condition); it stops after the first day that
fills ``limit``. So ``limit`` rows cost at most ``states x days`` Queries, each reading about what it returns (a
``name`` filter is a FilterExpression: it reads up to :data:`MAX_PAGES_PER_PARTITION` pages to find matches).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sqsq.results import Status
from sqsq.results.index import INDEX_NAME, INDEX_PARTITION_KEY, INDEX_SORT_KEY, day_of
from sqsq.results.items import item_number, item_string
from sqsq.transport.aws import AwsClients, wrap_boto_error

LISTED_STATES = tuple(s for s in Status if s is not Status.PENDING)
"""The states a record can be in (PENDING means no record): SCHEDULED and REVOKED records carry the index key too."""
INTERNAL_TASK_NAMES = ("sqsq.workflow", "sqsq.workflow.tree")
"""Records that are not task runs: a workflow's own record and its shape (``sqsq.workflows.ids``; a unit test keeps
the two equal). Task listings, metrics and throughput leave them out unless asked for by ``name``."""
DEFAULT_WINDOW_SECONDS = 7 * 86_400
"""How far back a listing without ``since`` looks."""
NAME_FILTER_PAGE_ITEMS = 1000
"""Page size (Limit) of a Query with a ``name`` filter: DynamoDB applies Limit before the filter, so small pages
would make many round trips to find a rare name; a read costs the items read either way (a 1 MB page at most)."""
MAX_PAGES_PER_PARTITION = 20
"""Pages (up to 1 MB each) one partition's Query may read looking for ``name`` matches."""
_DAY_SECONDS = 86_400


@dataclass(frozen=True)
class TaskRow:
    """One task as the index carries it (no arguments, result or traceback: those are a GetItem away).

    Attributes:
        task_id, task_name, status: as in :class:`sqsq.results.ResultRecord`.
        attempts: the attempt that wrote the record.
        updated_at: epoch seconds of the last write.
        sent_at: epoch seconds the producer sent it, or None.
        runtime_seconds: how long the last run took, or None.
        error_type, error_message: the recorded error (RETRY/FAILURE), or None.
    """

    task_id: str
    task_name: str
    status: str
    attempts: int
    updated_at: float
    sent_at: float | None = None
    runtime_seconds: float | None = None
    error_type: str | None = None
    error_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class TaskFilter:
    """What to list.

    Attributes:
        states: status values to include (empty: all of :data:`LISTED_STATES`).
        name: exact task name, or None for all tasks (the internal workflow records left out:
            :data:`INTERNAL_TASK_NAMES`; name one of them to list those).
        since: epoch seconds, inclusive; None: ``until`` minus :data:`DEFAULT_WINDOW_SECONDS`.
        until: epoch seconds, inclusive; None: now.
        limit: at most this many rows (1-1000).
    """

    states: tuple[str, ...] = ()
    name: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 50


def row_of(item: dict[str, dict[str, str]]) -> TaskRow:
    """The :class:`TaskRow` of an index item (absent attributes: None)."""
    def s(key: str) -> str | None:
        return item_string(item, key)

    def n(key: str) -> float | None:
        return item_number(item, key)

    return TaskRow(
        task_id=item["task_id"]["S"], task_name=s("task_name") or "", status=s("status") or "",
        attempts=int(n("attempts") or 0), updated_at=n("updated_at") or 0.0, sent_at=n("sent_at"),
        runtime_seconds=n("runtime_seconds"), error_type=s("error_type"), error_message=s("error_message"),
    )


def query_partition(
    clients: AwsClients, table_name: str, partition: str, since: float, until: float, limit: int,
    name: str | None = None, attributes: Sequence[str] = (), exclude_names: Sequence[str] = (),
) -> Iterator[dict[str, dict[str, str]]]:
    """Items of one index partition with ``since <= updated_at <= until``, newest first (Query, paged).

    ``limit`` is the page size; ``attributes`` (when given) the only attributes read besides ``expires_at``;
    ``name`` keeps only that task name, ``exclude_names`` leaves those out (FilterExpressions).

    Raises:
        AwsError: the Query failed (after botocore's retries); the table or index is missing included.
    """
    kwargs: dict[str, Any] = {
        "TableName": table_name, "IndexName": INDEX_NAME, "ScanIndexForward": False, "Limit": limit,
        "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :since AND :until",
        "ExpressionAttributeNames": {"#pk": INDEX_PARTITION_KEY, "#sk": INDEX_SORT_KEY},
        "ExpressionAttributeValues": {":pk": {"S": partition}, ":since": {"N": repr(since)}, ":until": {"N": repr(until)}},
    }
    if attributes:
        names = [*attributes, "expires_at"]
        kwargs["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(names)))
        kwargs["ExpressionAttributeNames"].update({f"#a{i}": a for i, a in enumerate(names)})
    filters = []
    if name is not None:
        filters.append("#tn = :name")
        kwargs["ExpressionAttributeValues"][":name"] = {"S": name}
    if exclude_names:
        filters.append("NOT #tn IN (" + ", ".join(f":x{i}" for i in range(len(exclude_names))) + ")")
        kwargs["ExpressionAttributeValues"].update({f":x{i}": {"S": n} for i, n in enumerate(exclude_names)})
    if filters:
        kwargs["FilterExpression"] = " AND ".join(filters)
        kwargs["ExpressionAttributeNames"]["#tn"] = "task_name"
    now = time.time()
    for _ in range(MAX_PAGES_PER_PARTITION):
        try:
            page = clients.dynamodb.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise wrap_boto_error(exc, f"listing tasks from {table_name!r}", clients.describe_endpoint()) from exc
        for item in page.get("Items", []):
            if float(item.get("expires_at", {"N": "inf"})["N"]) > now:  # expired = absent (TTL is lazy)
                yield item
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _days(since: float, until: float) -> list[str]:
    days, t = [], until
    while t >= since - _DAY_SECONDS:
        day = day_of(t)
        if day_of(since) > day:
            break
        days.append(day)
        t -= _DAY_SECONDS
    return list(dict.fromkeys(days))


def list_tasks(clients: AwsClients, table_name: str, query: TaskFilter) -> list[TaskRow]:
    """The newest tasks matching ``query`` (Queries on the task index only).

    Returns:
        Up to ``query.limit`` rows, newest ``updated_at`` first.

    Raises:
        ValueError: limit out of 1-1000, or an unknown state.
        AwsError: a Query failed.
    """
    if not 1 <= query.limit <= 1000:
        raise ValueError(f"limit={query.limit} is out of range; use 1-1000")
    states: Sequence[str] = query.states or [s.value for s in LISTED_STATES]
    unknown = sorted(set(states) - {s.value for s in LISTED_STATES})
    if unknown:
        raise ValueError(f"unknown state(s) {unknown}; use {[s.value for s in LISTED_STATES]}")
    until = time.time() if query.until is None else query.until
    since = until - DEFAULT_WINDOW_SECONDS if query.since is None else query.since
    found: list[TaskRow] = []
    for day in _days(since, until):
        for state in states:
            page = query.limit if query.name is None else NAME_FILTER_PAGE_ITEMS
            items = query_partition(clients, table_name, f"{state}#{day}", since, until, page, query.name,
                                    exclude_names=INTERNAL_TASK_NAMES if query.name is None else ())
            for taken, item in enumerate(items, start=1):
                found.append(row_of(item))
                if taken >= query.limit:
                    break
        if len(found) >= query.limit:
            break
    return heapq.nlargest(query.limit, found, key=lambda r: r.updated_at)
