"""The local AWS builds a DynamoDB item with one size sum; the item, and the size limit, are moto's own."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("moto")

from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

from sqsq.local.services.dynamodb_items import patch_item_init

RECORD = {
    "task_id": {"S": "abc"}, "status": {"S": "SUCCESS"}, "attempts": {"N": "1"}, "result": {"S": "null"},
    "tags": {"SS": ["a", "b"]}, "blob": {"B": b"\x00\x01"}, "flag": {"BOOL": True}, "nothing": {"NULL": True},
    "nested": {"M": {"list": {"L": [{"N": "1.5"}, {"M": {"k": {"S": "é"}}}]}, "nums": {"NS": ["1", "2"]}}},
}


def moto_item(attrs: dict[str, Any]) -> Item:
    """An item built as moto 5.2.5 builds it: one LimitedSizeDict.__setitem__ (a size check) per attribute."""
    item = Item.__new__(Item)
    item.hash_key, item.range_key = DynamoType({"S": "abc"}), None
    item.attrs = LimitedSizeDict()
    for key, value in attrs.items():
        item.attrs[key] = DynamoType(value)
    return item


@pytest.fixture(autouse=True, scope="module")
def patched() -> None:
    patch_item_init()


def test_an_item_holds_what_moto_s_item_holds() -> None:
    item = Item(DynamoType({"S": "abc"}), None, RECORD)
    assert type(item.attrs) is LimitedSizeDict
    assert item == moto_item(RECORD)
    assert item.to_json() == moto_item(RECORD).to_json()
    assert list(item.attrs) == list(RECORD)


@pytest.mark.parametrize("payload_bytes", [404_900, 405_000, 405_100])
def test_the_size_limit_is_where_moto_puts_it(payload_bytes: int) -> None:
    attrs = {"task_id": {"S": "abc"}, "result": {"S": "x" * (payload_bytes - len("task_id") - 3 - len("result"))}}
    try:
        moto_item(attrs)
        expected = None
    except ItemSizeTooLarge:
        expected = ItemSizeTooLarge
    if expected is None:
        assert Item(DynamoType({"S": "abc"}), None, attrs).attrs["result"] == DynamoType(attrs["result"])
    else:
        with pytest.raises(ItemSizeTooLarge):
            Item(DynamoType({"S": "abc"}), None, attrs)
    assert (expected is None) == (payload_bytes <= 405_000)


def test_later_writes_to_an_item_are_still_size_checked() -> None:
    item = Item(DynamoType({"S": "abc"}), None, {"task_id": {"S": "abc"}})
    with pytest.raises(ItemSizeTooLarge):
        item.attrs["big"] = DynamoType({"S": "x" * 405_001})
