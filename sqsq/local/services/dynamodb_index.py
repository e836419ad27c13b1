"""Fast Queries on global secondary indexes in the local AWS (the dashboard's task index at 100,000 records).

moto 5.2.5 answers a GSI Query by sorting the whole table by its key (``Table.all_items``), comparing every item
with the partition value, sorting every match, all through ``DynamoType`` (a ``Decimal`` or ``str`` cast per
comparison), and only then taking ``Limit``: seconds per Query at 100,000 items. This service wraps
``Table.query`` (GSI queries with one string partition-key condition only) so that it hands moto's own query the
same answer set, smaller:

1. the candidates are the items whose partition attribute is that string (compared as plain strings), gathered
   without sorting the table;
2. with a range condition (=, <, <=, >, >=, BETWEEN, begins_with on a number or string key), only candidates that
   satisfy it (moto's own comparison functions, on the values its ``cast_value`` gives);
3. without an ``ExclusiveStartKey``, only the first ``Limit + 1`` candidates in the query's order (a heap), since
   moto stops at ``Limit`` items before it applies a FilterExpression (as DynamoDB does).

moto's query then runs unchanged on those candidates (sorting, limits, projections, filters, LastEvaluatedKey), so
the answer is the one moto gives. It runs under the table's exclusive lock (:mod:`sqsq.local.services.dynamodb`
holds a table whole for a Query), which makes the per-call ``all_items`` override safe.

Private moto internals this relies on (checked against moto 5.2.5): ``Table.query``'s signature,
``Table.all_items``, ``Table.items`` (hash key -> item, or -> range key -> item), ``Table.range_key_attr``,
``Table._generate_attr_to_sort_by``, ``Item.attrs``, ``DynamoType.type/.value`` and
``moto.dynamodb.comparisons.get_comparison_func``.
"""

from __future__ import annotations

import heapq
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


_PREFILTERED = frozenset({"EQ", "=", "LT", "<", "LE", "<=", "GT", ">", "GE", ">=", "BETWEEN", "BEGINS_WITH"})
"""Range comparisons evaluated here on plain values, with moto's own comparison functions."""


def _candidates(table: Any, attr: str, value: str, range_key: str | None, comparison: str | None,
                range_objs: list[Any]) -> list[Any] | None:
    """Items of the partition ``attr = value`` meeting the range condition, or None when it cannot be prefiltered."""
    from moto.dynamodb.comparisons import get_comparison_func

    if comparison and (comparison not in _PREFILTERED or range_key is None
                       or any(o.type not in ("N", "S") for o in range_objs)):
        return None
    test = get_comparison_func(comparison) if comparison else None
    bounds = [_plain(o) for o in range_objs]
    out = []
    for item in _unsorted_items(table):
        v = item.attrs.get(attr)
        if v is None or v.value != value or v.type != "S":
            continue
        if test is not None:
            r = item.attrs.get(range_key)
            if r is None or r.type != range_objs[0].type or not test(_plain(r), *bounds):
                continue
        out.append(item)
    return out


class DynamoDbIndexQuery(LocalService):
    """GSI Queries answered from a pre-selected candidate set (see the module docstring)."""

    name: ClassVar[str] = "dynamodb-index-query"
    moto_version: ClassVar[str | None] = SUPPORTED_MOTO_VERSION

    def patch(self) -> None:
        """Wrap moto's ``Table.query`` in this process. Idempotent."""
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
                range_key = ranges[0] if len(ranges) == 1 else None
                found = _candidates(self, attr, value, range_key, range_comparison, range_objs or [])
                if found is None:
                    return original(self, *args, **kwargs)
                if exclusive_start_key is None and limit:
                    order = self._generate_attr_to_sort_by([attr, self.hash_key_attr],
                                                           [*ranges, self.range_key_attr])

                    def key(item: Any) -> tuple[Any, ...]:
                        return tuple(_plain(item.attrs[k]) for k in order)

                    pick = heapq.nsmallest if scan_index_forward is not False else heapq.nlargest
                    found = pick(int(limit) + 1, found, key=key)
                self.all_items = lambda: found  # this call only (the table is held exclusively)
                try:
                    return original(self, *args, **kwargs)
                finally:
                    del self.all_items

            setattr(Table, "query", query)  # noqa: B010 - mypy forbids assigning to a method
            setattr(Table, _PATCHED_MARK, True)
