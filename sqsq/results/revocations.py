"""The app's revocation marker: one item in the results table listing the ids of revoked tasks.

``sqsq cancel`` / ``AsyncResult.cancel`` adds a task id to it (one UpdateItem, ``ADD`` to a string set, so two
cancels never lose each other); consumers that check revocations (``revocation_check_seconds`` > 0) read it at
most that often while they handle messages (one GetItem per interval per process, never one per task) and skip
a listed task without running it. The item expires ``result_ttl_seconds`` after the last revocation, as the
records it shadows do. Size: a DynamoDB item holds 400 KB, about 10,000 task ids; a revocation that does not fit
fails with :class:`sqsq.errors.LimitExceeded` (wait for the marker to expire or raise nothing).

Both stores implement :class:`RevocationStore` (:class:`~sqsq.results.dynamodb.DynamoResults`,
:class:`~sqsq.results.memory.MemoryResults`); a store that does not cannot revoke queued tasks.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

MARKER_PREFIX = "sqsq-revocations:"
"""The marker's key in the results table: this prefix + the app's name (task ids are UUIDs: no clash)."""


def marker_key(app_name: str) -> str:
    """The marker item's ``task_id`` for an app."""
    return MARKER_PREFIX + app_name


@runtime_checkable
class RevocationStore(Protocol):
    """A results store that also keeps revocation markers. Methods may raise :class:`sqsq.errors.AwsError`."""

    def add_revocation(self, key: str, task_id: str, ttl_seconds: int) -> None:
        """Add ``task_id`` to the marker ``key`` (created if missing); it expires ``ttl_seconds`` from now."""
        ...

    def revocations(self, key: str) -> frozenset[str]:
        """The task ids in the marker ``key`` (empty when missing or expired); strongly consistent."""
        ...
