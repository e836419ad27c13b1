"""DynamoDB in the local AWS: moto 5.2.5's DynamoDB backend, locked per table and per item.

(It also parses each condition expression text once, see :mod:`sqsq.local.services.dynamodb_expressions`, and
sums an item's size once, see :mod:`sqsq.local.services.dynamodb_items`.)

moto's DynamoDB backend has no locking and serves each request on its own thread: a ConditionExpression check and
the write that follows it can interleave with another request's, so two conditional writes could both win. Each
request now runs under the locks :func:`plan_locks` picks for it:

* a single-item request (GetItem, PutItem, UpdateItem, DeleteItem) holds its table in shared mode and the lock of
  its item (by partition key; items that share one serialize), so writes to different items and tables proceed
  concurrently and a conditional write to one item is atomic;
* a request that reads or changes a table as a whole (Query, Scan, DescribeTable, UpdateTable, ..., and single-item
  requests on a table with a stream, whose shard is shared) holds its table exclusively; BatchGetItem,
  BatchWriteItem and TransactGet/WriteItems hold each of their tables exclusively, in name order;
* CreateTable, DeleteTable and requests that name no table (ListTables, PartiQL, ...) hold the whole backend
  exclusively. Everything else holds it in shared mode. Locks are taken in one order: backend, tables, item.

Private moto internals this relies on (checked against moto 5.2.5, see :attr:`DynamoDbService.moto_version`): none
with a leading underscore. It wraps ``moto.dynamodb.responses.DynamoHandler.call_action`` and reads the handler's
``params`` (moto's parsed request) and ``headers``, ``DynamoHandler.dynamodb_backend``,
``DynamoDBBackend.get_table`` and the model attributes ``Table.hash_key_attr`` and ``Table.stream_shard``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from sqsq.local.services.base import LocalService
from sqsq.local.services.dynamodb_expressions import patch_condition_parser
from sqsq.local.services.dynamodb_items import patch_item_init
from sqsq.local.services.locks import SharedExclusiveLock, StripedLocks
from sqsq.local.services.moto_version import SUPPORTED_MOTO_VERSION

__all__ = ["LOCKS", "DynamoDbLocks", "DynamoDbService", "LockPlan", "plan_locks"]

_ITEM_ACTIONS = {"GetItem": "Key", "PutItem": "Item", "UpdateItem": "Key", "DeleteItem": "Key"}
"""Single-item actions, and the request field that holds the item's key."""
_BACKEND_ACTIONS = frozenset({"CreateTable", "DeleteTable", "RestoreTableFromBackup", "RestoreTableToPointInTime"})
"""Actions that add or remove tables: they hold the whole backend."""
_TRANSACT_PARTS = ("Get", "Put", "Update", "Delete", "ConditionCheck")


@dataclass(frozen=True)
class LockPlan:
    """The locks one request holds, outermost first.

    Attributes:
        backend_exclusive: hold the whole backend alone (then nothing else is needed).
        exclusive_tables: tables held alone, in the order taken (sorted).
        shared_table: the table held in shared mode, for a single-item request.
        item: the item's lock key, ``(table, key type, key value)``, with ``shared_table``.
    """

    backend_exclusive: bool = False
    exclusive_tables: tuple[str, ...] = ()
    shared_table: str | None = None
    item: Hashable | None = None


def _table_lock_name(name: str) -> str:
    """A table's name, also when the request gives its ARN (``arn:aws:dynamodb:REGION:ACCOUNT:table/NAME``)."""
    return name.split(":table/", 1)[1].split("/", 1)[0] if name.startswith("arn:") and ":table/" in name else name


def _item_key(table: str, value: Any) -> Hashable | None:
    """A lock key for a partition key value (``{"S": "x"}``); numbers by value, so ``1`` and ``1.0`` agree."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return None
    ((kind, raw),) = value.items()
    try:
        normalized = float(raw) if kind == "N" else raw
        hash(normalized)
    except (TypeError, ValueError):
        return None
    return (table, kind, normalized)


def _multi_table_names(action: str, params: Mapping[str, Any]) -> list[str] | None:
    """The tables a batch or transaction touches; None for other actions."""
    if action in ("BatchGetItem", "BatchWriteItem"):
        return [str(name) for name in params.get("RequestItems") or {}]
    if action in ("TransactGetItems", "TransactWriteItems"):
        names = []
        for entry in params.get("TransactItems") or []:
            for part in _TRANSACT_PARTS:
                name = (entry.get(part) or {}).get("TableName") if isinstance(entry, Mapping) else None
                if name:
                    names.append(str(name))
        return names
    return None


def plan_locks(action: str, params: Mapping[str, Any], hash_key_of: Callable[[str], str | None]) -> LockPlan:
    """The locks a DynamoDB request needs (see the module docstring for the rules).

    Args:
        action: the API action, e.g. ``"PutItem"``.
        params: the parsed request (moto's ``params``: ``{"TableName": ..., "Item": {"pk": {"S": ...}}}``).
        hash_key_of: a table's partition key attribute, or None when its items cannot be locked one by one
            (no such table, or a table with a stream).

    Returns:
        the plan; anything it cannot read holds more, never less.
    """
    if action in _BACKEND_ACTIONS:
        return LockPlan(backend_exclusive=True)
    tables = _multi_table_names(action, params)
    if tables is not None:
        return LockPlan(exclusive_tables=tuple(sorted({_table_lock_name(t) for t in tables})))
    name = params.get("TableName")
    if not isinstance(name, str) or not name:
        return LockPlan(backend_exclusive=True)
    table = _table_lock_name(name)
    key_field = _ITEM_ACTIONS.get(action)
    hash_key = hash_key_of(name) if key_field is not None else None
    key = params.get(key_field) if key_field is not None else None
    item = _item_key(table, key.get(hash_key)) if hash_key is not None and isinstance(key, Mapping) else None
    if item is None:
        return LockPlan(exclusive_tables=(table,))
    return LockPlan(shared_table=table, item=item)


class DynamoDbLocks:
    """The backend's lock, one lock per table and striped item locks."""

    def __init__(self) -> None:
        self.backend = SharedExclusiveLock()
        self._tables: dict[str, SharedExclusiveLock] = {}
        self._tables_guard = threading.Lock()
        self._items = StripedLocks()

    def table(self, name: str) -> SharedExclusiveLock:
        """The lock of table ``name`` (created on first use)."""
        with self._tables_guard:
            lock = self._tables.get(name)
            if lock is None:
                lock = self._tables[name] = SharedExclusiveLock()
            return lock

    @contextmanager
    def hold(self, plan: LockPlan) -> Iterator[None]:
        """Hold what ``plan`` names for the ``with`` block, in the one order: backend, tables, item."""
        with ExitStack() as stack:
            if plan.backend_exclusive:
                stack.enter_context(self.backend.exclusive())
                yield
                return
            stack.enter_context(self.backend.shared())
            for name in plan.exclusive_tables:
                stack.enter_context(self.table(name).exclusive())
            if plan.shared_table is not None:
                stack.enter_context(self.table(plan.shared_table).shared())
            if plan.item is not None:
                stack.enter_context(self._items.for_key(plan.item))
            yield


LOCKS = DynamoDbLocks()
"""The locks of this process's DynamoDB backend (moto's backend is per process)."""

_patch_lock = threading.Lock()
_PATCHED_MARK = "_sqsq_patched"


class DynamoDbService(LocalService):
    """DynamoDB: moto's backend with per-table and per-item locking (see the module docstring)."""

    name: ClassVar[str] = "dynamodb"
    moto_version: ClassVar[str | None] = SUPPORTED_MOTO_VERSION

    @property
    def locks(self) -> DynamoDbLocks:
        """The locks requests hold (tests hold one to show what it blocks)."""
        return LOCKS

    def patch(self) -> None:
        """Wrap moto's DynamoDB request handler with the locks; cache parsed conditions; sum item sizes once.

        Idempotent; in this process only."""
        from moto.dynamodb.responses import DynamoHandler

        patch_condition_parser()
        patch_item_init()

        with _patch_lock:
            if getattr(DynamoHandler, _PATCHED_MARK, False):
                return
            original = DynamoHandler.call_action

            def call_action(self: Any) -> Any:
                params = getattr(self, "params", None) or {}
                action = str(self.headers.get("X-Amz-Target", "")).rsplit(".", 1)[-1]

                def plan() -> LockPlan:
                    return plan_locks(action, params, lambda name: _hash_key_of(self, name))

                while True:
                    planned = plan()
                    with LOCKS.hold(planned):
                        # a table may have gained a stream since: then it must be held whole, so plan again
                        if planned.item is None or plan() == planned:
                            return original(self)

            setattr(DynamoHandler, "call_action", call_action)  # noqa: B010 - mypy forbids assigning to a method
            setattr(DynamoHandler, _PATCHED_MARK, True)


def _hash_key_of(handler: Any, table_name: str) -> str | None:
    """The partition key attribute of a table, or None when it has a stream or does not exist."""
    try:
        table = handler.dynamodb_backend.get_table(table_name)
    except Exception:  # moto's ResourceNotFoundException (and anything else): lock the whole table
        return None
    if getattr(table, "stream_shard", None) is not None:
        return None
    hash_key = getattr(table, "hash_key_attr", None)
    return hash_key if isinstance(hash_key, str) else None
