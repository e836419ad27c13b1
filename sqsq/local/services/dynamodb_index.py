"""Fast Queries on global secondary indexes in the local AWS (the dashboard's task index at 100,000 records).

moto 5.2.5 answers a GSI Query by sorting the whole table by its key (``Table.all_items``), comparing every item
with the partition value, sorting every match, all through ``DynamoType`` (a ``Decimal`` or ``str`` cast per
comparison), and only then taking ``Limit``: seconds per Query at 100,000 items, where DynamoDB reads only what it
returns. This service wraps ``Table.query`` (GSI queries with one string partition-key condition and one range key)
so that it hands moto's own query the same answer set, smaller:

1. the partition's items (those holding every index key, as moto requires), sorted in the index's order by the
   values ``DynamoType.cast_value`` gives, are kept until the next DynamoDB action other than a read
   (:data:`_READ_ACTIONS`) ends, in any table;
2. the range condition (=, <, <=, >, >=, BETWEEN) is a bisection of that order; other conditions go to moto as is;
3. an ``ExclusiveStartKey`` is bisected too (moto skips what sorts at or before it in the query's direction), and
   only the next ``Limit + 1`` items in that direction are passed on, since moto stops at ``Limit`` items before it
   applies a FilterExpression (as DynamoDB does).

moto's query then runs unchanged on those items (sorting, limits, projections, filters, LastEvaluatedKey), so the
answer is the one moto gives. It runs under the table's exclusive lock (:mod:`sqsq.local.services.dynamodb` holds a
table whole for a Query), which makes the per-call ``all_items`` override safe. A write that ran while a partition
was being read leaves it uncached.

Private moto internals this relies on (checked against moto 5.2.5): ``Table.query``'s signature,
``Table.all_items``, ``Table.items`` (hash key -> item, or -> range key -> item), ``Table.range_key_attr``,
``Table._generate_attr_to_sort_by``, ``Item.attrs``, ``DynamoType.type/.value``, and
``DynamoHandler.call_action`` with its ``headers``.
"""

from __future__ import annotations

import bisect
import threading
from decimal import Decimal
from typing import Any, ClassVar

from sqsq.local.services.base import LocalService
from sqsq.local.services.moto_version import SUPPORTED_MOTO_VERSION

__all__ = ["DynamoDbIndexQuery"]

_patch_lock = threading.Lock()
_PATCHED_MARK = "_sqsq_index_query_patched"


def _unsorted_items(table: Any) -> Any:
    # Table.all_items sorts the whole table by its key through DynamoType comparisons; the candidates are sorted
    # by moto's query afterwards anyway, so they are gathered unsorted.
    for entry in table.items.values():
        if table.range_key_attr:
            yield from entry.values()
        else:
            yield entry


def _plain(v: Any) -> Any:
    """A key attribute's value as Python compares it: Decimal for N (exact, as DynamoType.cast_value), else raw."""
    return Decimal(v.value) if v.type == "N" else v.value


_READ_ACTIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable",
                           "DescribeTimeToLive", "DescribeContinuousBackups", "ListTables", "ListTagsOfResource"})
"""Actions that change no item: every other DynamoDB action moves :data:`_GENERATION` on (after it ran)."""


class _Partitions:
    """Each queried index partition's items sorted by the index order, valid until the next write of any table."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation = 0
        self._sorted: dict[tuple[int, str, str], tuple[int, Any, list[tuple[Any, ...]], list[Any]]] = {}

    def written(self) -> None:
        with self.lock:
            self.generation += 1
            self._sorted.clear()

    def get(self, table: Any, attr: str, value: str, order: list[str]) -> tuple[list[tuple[Any, ...]], list[Any]]:
        """(keys, items) of the partition ``attr = value``, ascending in ``order``."""
        with self.lock:
            generation = self.generation
            hit = self._sorted.get((id(table), attr, value))
        if hit is not None and hit[0] == generation and hit[1] is table:
            return hit[2], hit[3]
        found = []
        for item in _unsorted_items(table):
            v = item.attrs.get(attr)
            if v is not None and v.value == value and v.type == "S" and all(k in item.attrs for k in order):
                found.append((tuple(_plain(item.attrs[k]) for k in order), item))
        found.sort(key=lambda pair: pair[0])
        keys, items = [k for k, _ in found], [i for _, i in found]
        with self.lock:
            if self.generation == generation:  # no write since the read began
                self._sorted[(id(table), attr, value)] = (generation, table, keys, items)
        return keys, items


PARTITIONS = _Partitions()


def _in_range(keys: list[tuple[Any, ...]], comparison: str | None, bounds: list[Any]) -> tuple[int, int] | None:
    """The slice of ``keys`` (sorted; the range value is ``key[1]``) meeting the condition, or None (unsupported)."""
    values = [k[1] for k in keys]
    lo, hi = 0, len(keys)
    if not comparison:
        return lo, hi
    if comparison in ("EQ", "="):
        return bisect.bisect_left(values, bounds[0]), bisect.bisect_right(values, bounds[0])
    if comparison in ("LT", "<"):
        return lo, bisect.bisect_left(values, bounds[0])
    if comparison in ("LE", "<="):
        return lo, bisect.bisect_right(values, bounds[0])
    if comparison in ("GT", ">"):
        return bisect.bisect_right(values, bounds[0]), hi
    if comparison in ("GE", ">="):
        return bisect.bisect_left(values, bounds[0]), hi
    if comparison == "BETWEEN":
        return bisect.bisect_left(values, bounds[0]), max(bisect.bisect_right(values, bounds[1]), 0)
    return None


class DynamoDbIndexQuery(LocalService):
    """GSI Queries answered from a pre-selected candidate set (see the module docstring)."""

    name: ClassVar[str] = "dynamodb-index-query"
    moto_version: ClassVar[str | None] = SUPPORTED_MOTO_VERSION

    def patch(self) -> None:
        """Wrap moto's ``Table.query`` in this process. Idempotent."""
        from moto.dynamodb.models.dynamo_type import DynamoType
        from moto.dynamodb.models.table import Table

        with _patch_lock:
            if getattr(Table, _PATCHED_MARK, False):
                return
            original = Table.query

            def query(self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, limit: Any,
                      exclusive_start_key: Any, scan_index_forward: Any, projection_expressions: Any,
                      index_name: Any = None, consistent_read: Any = False, filter_expression: Any = None,
                      hash_key_conditions: Any = None, range_key_conditions: Any = None, **filter_kwargs: Any) -> Any:
                args = (hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
                        projection_expressions)
                kwargs = {"index_name": index_name, "consistent_read": consistent_read,
                          "filter_expression": filter_expression, "hash_key_conditions": hash_key_conditions,
                          "range_key_conditions": range_key_conditions, **filter_kwargs}
                index = next((i for i in self.all_indexes() if i.name == index_name), None) if index_name else None
                simple = (index is not None and hash_key_conditions and len(hash_key_conditions) == 1
                          and not filter_kwargs and (not range_key_conditions or len(range_key_conditions) == 1)
                          and hash_key_conditions[0][1].type == "S")
                if not simple:
                    return original(self, *args, **kwargs)
                attr, value = hash_key_conditions[0][0], hash_key_conditions[0][1].value
                ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]  # type: ignore[union-attr]
                if len(ranges) != 1 or (range_objs and any(o.type not in ("N", "S") for o in range_objs)):
                    return original(self, *args, **kwargs)
                order = self._generate_attr_to_sort_by([attr, self.hash_key_attr], [*ranges, self.range_key_attr])
                keys, items = PARTITIONS.get(self, attr, value, order)
                span = _in_range(keys, range_comparison, [_plain(o) for o in range_objs or []])
                if span is None:
                    return original(self, *args, **kwargs)
                lo, hi = span
                forward = scan_index_forward is not False
                if exclusive_start_key is not None:
                    if any(k not in exclusive_start_key for k in order):
                        return original(self, *args, **kwargs)
                    start = tuple(_plain(DynamoType(exclusive_start_key[k])) for k in order)
                    # moto skips what comes before or at the start key in the query's direction
                    lo, hi = (max(lo, bisect.bisect_right(keys, start)), hi) if forward else (
                        lo, min(hi, bisect.bisect_left(keys, start)))
                if limit:
                    lo, hi = (lo, min(hi, lo + int(limit) + 1)) if forward else (max(lo, hi - int(limit) - 1), hi)
                found = items[lo:hi] if lo < hi else []
                self.all_items = lambda: found  # this call only (the table is held exclusively)
                try:
                    return original(self, *args, **kwargs)
                finally:
                    del self.all_items

            setattr(Table, "query", query)  # noqa: B010 - mypy forbids assigning to a method
            setattr(Table, _PATCHED_MARK, True)
            _count_writes()


def _count_writes() -> None:
    """Wrap moto's DynamoDB request handler: after any action but a read, the sorted partitions are dropped."""
    from moto.dynamodb.responses import DynamoHandler

    inner = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        action = str(self.headers.get("X-Amz-Target", "")).rsplit(".", 1)[-1]
        try:
            return inner(self)
        finally:
            if action not in _READ_ACTIONS:
                PARTITIONS.written()

    setattr(DynamoHandler, "call_action", call_action)  # noqa: B010
