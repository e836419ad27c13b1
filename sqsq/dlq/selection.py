"""What to act on (:class:`Selection`) and what a redrive did (:class:`RedriveProgress`, :class:`RedriveReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqsq.dlq.entry import DlqEntry


@dataclass(frozen=True)
class Selection:
    """Which DLQ messages to act on. Kinds combine with AND; values of one kind with OR.

    Attributes:
        task_ids: task ids (or message ids, for undecodable bodies).
        task_names: registered task names (``"<undecodable>"`` selects undecodable bodies).
        error_types: recorded exception class names (``"RuntimeError"``, ``"MessageDecodeError"``).
        everything: select every message (alone, or narrowed by the other kinds).
    """

    task_ids: frozenset[str] = frozenset()
    task_names: frozenset[str] = frozenset()
    error_types: frozenset[str] = frozenset()
    everything: bool = False

    @property
    def is_empty(self) -> bool:
        """True when nothing would be selected (no filter and not ``everything``)."""
        return not (self.task_ids or self.task_names or self.error_types or self.everything)

    def matches(self, entry: DlqEntry) -> bool:
        """Whether ``entry`` is selected."""
        if self.is_empty:
            return False
        if self.task_ids and entry.task_id not in self.task_ids and entry.message_id not in self.task_ids:
            return False
        if self.task_names and entry.task_name not in self.task_names:
            return False
        return not (self.error_types and entry.error_type not in self.error_types)


@dataclass(frozen=True)
class RedriveProgress:
    """Where a redrive is, for progress display.

    Attributes:
        scanned: distinct DLQ messages read so far.
        moved: messages sent to the source queue and deleted from the DLQ so far.
        total_estimate: the DLQ's approximate depth when the redrive started.
    """

    scanned: int
    moved: int
    total_estimate: int


@dataclass
class RedriveReport:
    """What a redrive did.

    Attributes:
        source_queue: physical source queue name (destination of the redrive).
        dlq: physical dead-letter queue name.
        dry_run: nothing was moved; ``selected`` lists what would have been.
        scanned: distinct DLQ messages read.
        selected: the entries that matched the selection.
        moved: task ids sent to the source queue and deleted from the DLQ.
        failed: ``{task_id: reason}`` for selected messages not sent; they are still in the DLQ.
        not_deleted: ``{task_id: reason}`` for messages sent but not deleted from the DLQ (now in both queues).
        native_task_handle: the StartMessageMoveTask handle when SQS moved the messages server-side.
        native_fallback_reason: why a requested native move was not used (the AWS error), else ``None``.
        not_found: ids asked for with ``task_ids`` that are not in the DLQ.
    """

    source_queue: str
    dlq: str
    dry_run: bool = False
    scanned: int = 0
    selected: list[DlqEntry] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    not_deleted: dict[str, str] = field(default_factory=dict)
    native_task_handle: str | None = None
    native_fallback_reason: str | None = None
    not_found: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every selected message was moved (or a dry run)."""
        return not self.failed and not self.not_deleted

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "source_queue": self.source_queue,
            "dlq": self.dlq,
            "dry_run": self.dry_run,
            "scanned": self.scanned,
            "selected": [e.task_id for e in self.selected],
            "moved": self.moved,
            "failed": self.failed,
            "not_deleted": self.not_deleted,
            "native_task_handle": self.native_task_handle,
            "native_fallback_reason": self.native_fallback_reason,
            "not_found": self.not_found,
        }
