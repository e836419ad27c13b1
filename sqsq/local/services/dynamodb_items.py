"""DynamoDB items in the local AWS, built with one size sum instead of one per attribute.

moto 5.2.5 builds an item (``Item.__init__``: every PutItem, and the items UpdateItem and others make) by setting
its attributes one by one on a ``LimitedSizeDict``, whose ``__setitem__`` sums the size of every attribute already
there before it adds the next: quadratic in the number of attributes, and most of the cost of storing sqsq's
dozen-attribute result records. Here the same sizes (``bytesize(name) + DynamoType.size()``) are added up once,
attribute by attribute in the request's order, and ``ItemSizeTooLarge`` is raised at the same attribute as moto
raises it (sizes are never negative, so the first prefix over the limit is the one moto's check would stop at).
The item's ``attrs`` is the same ``LimitedSizeDict`` with the same contents, so later writes to it are checked as
before.

Private moto internals this relies on (checked against moto 5.2.5): ``Item.__init__``'s body and attributes
(``hash_key``, ``range_key``, ``attrs``), ``LimitedSizeDict`` and its 405,000-byte limit, ``DynamoType.size``,
``moto.dynamodb.models.utilities.bytesize`` and ``ItemSizeTooLarge``.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["ITEM_SIZE_LIMIT_BYTES", "patch_item_init"]

ITEM_SIZE_LIMIT_BYTES = 405_000
"""moto's item size limit (``LimitedSizeDict``: DynamoDB's documented 400 KB, set where its tests found it)."""

_patch_lock = threading.Lock()
_PATCHED_MARK = "_sqsq_single_size_sum"


def patch_item_init() -> None:
    """Make moto's ``Item.__init__`` sum the item's size once. Idempotent."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    with _patch_lock:
        if getattr(Item, _PATCHED_MARK, False):
            return

        def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
            self.hash_key = hash_key
            self.range_key = range_key
            converted: dict[str, Any] = {}
            size_bytes = 0
            for key, value in attrs.items():
                typed = DynamoType(value)
                size_bytes += bytesize(key) + typed.size()
                if size_bytes > ITEM_SIZE_LIMIT_BYTES:
                    raise ItemSizeTooLarge
                converted[key] = typed
            self.attrs = LimitedSizeDict(converted)  # dict.update: no per-attribute sums

        setattr(Item, "__init__", __init__)  # noqa: B010 - mypy forbids assigning to a method
        setattr(Item, _PATCHED_MARK, True)
