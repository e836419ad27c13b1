"""Which locks a DynamoDB request takes in the local AWS: per item for single-item requests, more when unsure."""

from __future__ import annotations

import threading

from sqsq.local.services.dynamodb import LockPlan, plan_locks
from sqsq.local.services.locks import SharedExclusiveLock


def by_pk(name: str) -> str | None:
    return "pk"


def no_item_locks(name: str) -> str | None:  # a table with a stream, or one that does not exist
    return None


def test_single_item_writes_share_the_table_and_lock_their_item() -> None:
    put = plan_locks("PutItem", {"TableName": "t", "Item": {"pk": {"S": "a"}, "x": {"N": "1"}}}, by_pk)
    update = plan_locks("UpdateItem", {"TableName": "t", "Key": {"pk": {"S": "a"}}}, by_pk)
    other = plan_locks("DeleteItem", {"TableName": "t", "Key": {"pk": {"S": "b"}}}, by_pk)
    assert put == update == LockPlan(shared_table="t", item=("t", "S", "a"))
    assert other.item != put.item and other.shared_table == "t"


def test_numeric_keys_that_are_the_same_number_lock_the_same_item() -> None:
    one = plan_locks("GetItem", {"TableName": "t", "Key": {"pk": {"N": "1"}}}, by_pk)
    one_point_zero = plan_locks("PutItem", {"TableName": "t", "Item": {"pk": {"N": "1.0"}}}, by_pk)
    assert one.item == one_point_zero.item


def test_table_wide_requests_and_unlockable_items_hold_the_table_alone() -> None:
    assert plan_locks("Query", {"TableName": "t"}, by_pk) == LockPlan(exclusive_tables=("t",))
    assert plan_locks("PutItem", {"TableName": "t", "Item": {"pk": {"S": "a"}}}, no_item_locks) == LockPlan(
        exclusive_tables=("t",))
    assert plan_locks("PutItem", {"TableName": "t", "Item": {"other": {"S": "a"}}}, by_pk) == LockPlan(
        exclusive_tables=("t",))


def test_batches_and_transactions_hold_each_table_alone_in_name_order() -> None:
    batch = {"RequestItems": {"b": [], "arn:aws:dynamodb:us-east-1:123456789012:table/a": []}}
    assert plan_locks("BatchWriteItem", batch, by_pk) == LockPlan(exclusive_tables=("a", "b"))
    transact = {"TransactItems": [{"Put": {"TableName": "z"}}, {"ConditionCheck": {"TableName": "c"}}]}
    assert plan_locks("TransactWriteItems", transact, by_pk) == LockPlan(exclusive_tables=("c", "z"))


def test_requests_naming_no_table_or_changing_the_catalogue_hold_the_backend() -> None:
    assert plan_locks("ListTables", {}, by_pk) == LockPlan(backend_exclusive=True)
    assert plan_locks("CreateTable", {"TableName": "t"}, by_pk) == LockPlan(backend_exclusive=True)
    assert plan_locks("ExecuteStatement", {"Statement": "SELECT * FROM t"}, by_pk) == LockPlan(backend_exclusive=True)


def test_exclusive_holder_waits_for_shared_holders() -> None:
    lock = SharedExclusiveLock()
    got_exclusive = threading.Event()

    def take_exclusive() -> None:
        with lock.exclusive():
            got_exclusive.set()

    with lock.shared(), lock.shared():  # two shared holders at once
        waiter = threading.Thread(target=take_exclusive)
        waiter.start()
        assert not got_exclusive.wait(0.2)  # while it is held shared, the exclusive holder cannot have it
    waiter.join(timeout=10)
    assert got_exclusive.is_set()
