"""SQS in the local AWS: moto 5.2.5's SQS backend, patched for concurrent consumers and deep queues.

moto 5.2.5's SQS backend has two problems a task queue trips over, both measured:

* it is not safe under concurrent consumers: two ReceiveMessage calls can hand out the same message, and
  concurrent DeleteMessage(Batch) calls rebuild the message list from a stale copy, losing a deletion;
* ReceiveMessage/SendMessage cost grows with queue depth: every call recomputes datetimes and the
  ``ApproximateNumberOfMessages*`` scans for every stored message (ReceiveMessage(10) took 2.2 s at 5,000 queued).

:class:`SqsService` fixes both at run time (nothing in site-packages is edited):

* each queue's send/receive/delete/visibility/purge/attribute operations hold that queue's lock; a long poll
  releases it while it waits and wakes early when a message is sent;
* ReceiveMessage scans only until it has enough messages, with one clock read per scan; SendMessage no longer
  computes the queue's message counts; the clock moto's SQS model reads is ``time.time()``;
* redrive is unchanged: a message moves to the DLQ on the receive after its ``maxReceiveCount``-th;
* DeleteMessageBatch and ChangeMessageVisibilityBatch with more than 10 entries are refused with
  ``TooManyEntriesInBatchRequest``, as SQS refuses them (moto checks this for SendMessageBatch only, so a client
  bug that batches too much passed locally and failed on AWS);
* message delays are compared with the controllable clock (:mod:`sqsq.local.services.clock`), visibility with
  real time;
* a receipt handle (185 random lowercase letters) is drawn with one ``random.choices`` call of moto's random
  generator instead of 185 ``random.choice`` calls (a third of a ReceiveMessage's CPU); same length, same letters.

Private moto internals these patches rely on (checked against moto 5.2.5, see :attr:`SqsService.moto_version`):

* ``moto.sqs.models.Queue._messages`` (the stored messages, a list) and ``Queue._messages_lock`` (moto's
  per-queue ``Condition``, notified when a message is added);
* ``moto.sqs.models._filter_message_attributes`` (ReceiveMessage's ``MessageAttributeNames`` filter);
* the module globals ``moto.sqs.models.unix_time`` / ``unix_time_millis`` and ``generate_receipt_handle``
  (replaced, for the SQS model only), and ``moto.moto_api._internal.mock_random`` (moto's seedable random).

Besides those, the patches read public-looking but undocumented model attributes (``Queue.pending_messages``,
``pending_message_groups``, ``deleted_messages``, ``dead_letter_queue``, ``redrive_policy``,
``message_retention_period``, ``fifo_queue``; ``Message.visible_at``, ``delayed_until``, ``receipt_handle``,
``approximate_receive_count``, ``sent_timestamp``, ``group_id``, ``mark_received``, ``had_receipt_handle``,
``all_receipt_handles``) and wrap ``SQSBackend`` methods by name.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from sqsq.limits import SQS_MAX_BATCH_ENTRIES
from sqsq.local.services import clock
from sqsq.local.services.base import LocalService
from sqsq.local.services.moto_version import SUPPORTED_MOTO_VERSION

__all__ = ["SqsService"]

_LONG_POLL_RECHECK_SECONDS = 1.0
"""Longest a waiting long poll sleeps before rescanning (catches visibility timeouts that expire)."""

_patch_lock = threading.Lock()
_PATCHED_MARK = "_sqsq_patched"


class SqsService(LocalService):
    """SQS: moto's backend with per-queue locking and depth-independent receives (see the module docstring)."""

    name: ClassVar[str] = "sqs"
    moto_version: ClassVar[str | None] = SUPPORTED_MOTO_VERSION

    def patch(self) -> None:
        """Patch moto's SQS model in this process. Idempotent."""
        import moto.sqs.models as sqs_models

        with _patch_lock:
            if getattr(sqs_models.SQSBackend, _PATCHED_MARK, False):
                return
            _patch_sqs_clock(sqs_models)
            _patch_receipt_handles(sqs_models)
            _patch_sqs_queue(sqs_models)
            _patch_sqs_backend(sqs_models)
            setattr(sqs_models.SQSBackend, _PATCHED_MARK, True)


def _patch_sqs_clock(sqs_models: Any) -> None:
    # moto's unix_time() builds two datetimes and a timedelta per call (~3 us) and its SQS model calls it for
    # every stored message on every scan. time.time() is the same quantity. Only the SQS model's own
    # references are replaced; other services keep moto's clock.
    orig_unix_time: Callable[..., float] = sqs_models.unix_time

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else orig_unix_time(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else orig_unix_time(dt) * 1000.0

    sqs_models.unix_time = unix_time
    sqs_models.unix_time_millis = unix_time_millis


_RECEIPT_HANDLE_LENGTH = 185
"""moto 5.2.5's receipt handle length (``moto.sqs.utils.generate_receipt_handle``)."""


def _patch_receipt_handles(sqs_models: Any) -> None:
    import string

    from moto.moto_api._internal import mock_random

    letters = string.ascii_lowercase

    def generate_receipt_handle() -> str:
        return "".join(mock_random.choices(letters, k=_RECEIPT_HANDLE_LENGTH))

    sqs_models.generate_receipt_handle = generate_receipt_handle


def _message_counts(queue: Any) -> tuple[int, int, int]:
    """(visible, not visible, delayed) in one pass with one clock read, using moto's own comparisons."""
    now_ms = time.time() * 1000.0
    clock_ms = clock.now() * 1000.0  # delays run on the controllable clock (sqsq.local.services.clock)
    visible = not_visible = delayed = 0
    for message in queue._messages:
        is_visible = now_ms > message.visible_at
        is_delayed = clock_ms < message.delayed_until
        if not is_visible:
            not_visible += 1
        if is_delayed:
            delayed += 1
        if is_visible and not is_delayed:
            visible += 1
    return visible, not_visible, delayed


def _patch_sqs_queue(sqs_models: Any) -> None:
    queue_cls = sqs_models.Queue

    # Queue.attributes reads all three counts, and moto's SendMessage reads queue.attributes (for
    # ContentBasedDeduplication) once or twice per message: three O(depth) scans per message sent. While a
    # send holds the queue's lock it sets _sqsq_sending, and the counts, which no code on that path reads, are
    # skipped. Everyone else who reads the counts holds the same lock, so they never see the skip.
    def count_property(index: int) -> property:
        def get(self: Any) -> int:
            if getattr(self, "_sqsq_sending", False):
                return 0
            return _message_counts(self)[index]

        return property(get)

    queue_cls.approximate_number_of_messages = count_property(0)
    queue_cls.approximate_number_of_messages_not_visible = count_property(1)
    queue_cls.approximate_number_of_messages_delayed = count_property(2)

    receipt_handle_is_invalid = sqs_models.ReceiptHandleIsInvalid

    # moto's delete scans every message twice, building a list of receipt handles per message, then rebuilds
    # the list. Same rule (any handle the message ever had; deleting twice is fine), one scan that stops at the
    # match; callers hold the queue's lock (see _patch_sqs_backend), so deleting in place is safe.
    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return
        for index, message in enumerate(self._messages):
            if message.receipt_handle == receipt_handle or message.had_receipt_handle(receipt_handle):
                del self._messages[index]
                self.pending_messages.discard(message)
                self.deleted_messages.update(message.all_receipt_handles)
                return
        raise receipt_handle_is_invalid()

    queue_cls.delete_message = delete_message


def _patch_sqs_backend(sqs_models: Any) -> None:
    backend_cls = sqs_models.SQSBackend

    # moto serves each request on its own thread and its SQS backend has no lock, so concurrent consumers see
    # duplicate deliveries and lost deletes. Every operation on a queue's messages now holds that queue's
    # Condition (moto already creates one per queue, over an RLock, and notifies it when a message is added).
    def locked(name: str, *, sending: bool = False, notify: bool = False) -> None:
        original = getattr(backend_cls, name)

        def wrapper(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            queue = self.get_queue(queue_name)
            with queue._messages_lock:
                was_sending = getattr(queue, "_sqsq_sending", False)
                queue._sqsq_sending = sending or was_sending
                try:
                    return original(self, queue_name, *args, **kwargs)
                finally:
                    queue._sqsq_sending = was_sending
                    if notify:
                        # a visibility change may make a message visible now: wake waiting long polls
                        queue._messages_lock.notify_all()

        wrapper.__name__ = name
        wrapper.__doc__ = original.__doc__
        setattr(backend_cls, name, wrapper)

    for name in ("send_message", "send_message_batch"):
        locked(name, sending=True)
    for name in ("delete_message", "delete_message_batch", "purge_queue", "get_queue_attributes",
                 "set_queue_attributes"):
        locked(name)
    for name in ("change_message_visibility", "change_message_visibility_batch"):
        locked(name, notify=True)
    for name in ("delete_message_batch", "change_message_visibility_batch"):
        _refuse_oversized_batches(backend_cls, name, sqs_models)
    backend_cls.receive_message = _receive_message


def _refuse_oversized_batches(backend_cls: Any, name: str, sqs_models: Any) -> None:
    # SQS takes at most 10 entries per batch call and refuses more with TooManyEntriesInBatchRequest (the
    # DeleteMessageBatch and ChangeMessageVisibilityBatch API references); moto 5.2.5 checks SendMessageBatch only.
    original = getattr(backend_cls, name)

    def wrapper(self: Any, queue_name: str, entries: Any, *args: Any, **kwargs: Any) -> Any:
        if len(entries) > SQS_MAX_BATCH_ENTRIES:
            raise sqs_models.TooManyEntriesInBatchRequest(len(entries))
        return original(self, queue_name, entries, *args, **kwargs)

    wrapper.__name__ = name
    wrapper.__doc__ = original.__doc__
    setattr(backend_cls, name, wrapper)


def _receive_message(
    self: Any,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list[Any]:
    """Replacement for ``SQSBackend.receive_message``: moto's rules, locked, and without the depth penalty.

    Differences from moto, each on purpose: the scan holds the queue's lock and stops once it has ``count``
    messages; a long poll releases the lock while waiting (moto slept in 1 s steps); messages past their
    retention period are skipped instead of ending the scan; the DLQ is written after the source queue's
    lock is released, so two queues that redrive into each other cannot deadlock.
    """
    from moto.sqs.models import _filter_message_attributes

    attribute_names = message_attribute_names or []
    queue = self.get_queue(queue_name)
    condition = queue._messages_lock
    deadline = time.monotonic() + wait_seconds_timeout
    while True:
        with condition:
            result, to_dlq, next_change_ms = _scan_queue(queue, count, visibility_timeout)
            remaining_seconds = deadline - time.monotonic()
            if not result and not to_dlq and remaining_seconds > 0:
                wait_seconds = min(remaining_seconds, _LONG_POLL_RECHECK_SECONDS)
                if next_change_ms is not None:
                    wait_seconds = min(wait_seconds, max(0.0, next_change_ms / 1000.0 - time.time()) + 0.001)
                # Condition.wait releases the (reentrant) lock entirely while it waits; add_message notifies.
                condition.wait(timeout=wait_seconds)
        for message in to_dlq:
            queue.dead_letter_queue.add_message(message)
        if result or time.monotonic() >= deadline:
            copies = []
            for message in result:
                # moto deep-copies; a shallow copy suffices because only message_attributes is replaced on it
                message_copy = copy.copy(message)
                _filter_message_attributes(message_copy, attribute_names)
                copies.append(message_copy)
            return copies


def _scan_queue(queue: Any, count: int, visibility_timeout: int) -> tuple[list[Any], list[Any], float | None]:
    """Take up to ``count`` visible messages (marking them received) and the ones due for the DLQ.

    Caller holds the queue's lock. Returns (received, moved off the queue for the DLQ, the earliest future time
    in ms at which an invisible or delayed message becomes receivable, or None).
    """
    now_ms = time.time() * 1000.0
    offset_ms = clock.offset_seconds() * 1000.0
    clock_ms = now_ms + offset_ms  # delays run on the controllable clock (sqsq.local.services.clock)
    received: list[Any] = []
    to_dlq: list[Any] = []
    next_change_ms: float | None = None
    pending = queue.pending_messages
    if queue.fifo_queue:
        # Forget every lapsed in-flight message before looking at groups: otherwise a group's head (visible again)
        # is skipped because a later message of its group, also lapsed, is still counted in flight until the scan
        # reaches it, and that later message is then delivered first (out of order; SQS never does that).
        for message in [m for m in pending if now_ms > m.visible_at]:
            pending.discard(message)
    pending_groups: set[str] = set(queue.pending_message_groups) if queue.fifo_queue else set()
    max_receive_count = (
        queue.redrive_policy["maxReceiveCount"]
        if queue.dead_letter_queue is not None and queue.redrive_policy
        else None
    )
    retention_ms = int(queue.message_retention_period) * 1000.0
    expired: list[Any] = []
    for message in queue._messages:
        # moto's Message.visible / .delayed, with one clock read per scan
        if not (now_ms > message.visible_at) or clock_ms < message.delayed_until:
            due_ms = max(message.visible_at, message.delayed_until - offset_ms)  # in real time
            if next_change_ms is None or due_ms < next_change_ms:
                next_change_ms = due_ms
            continue
        if message in pending:
            # visible again while pending: its consumer timed out
            pending.discard(message)
            if queue.fifo_queue:
                pending_groups = set(queue.pending_message_groups)
        if queue.fifo_queue and message.group_id and message.group_id in pending_groups:
            continue  # another consumer holds this message group
        if max_receive_count is not None and message.approximate_receive_count >= max_receive_count:
            # moto's redrive rule: moved on the receive after the maxReceiveCount-th
            to_dlq.append(message)
            continue
        if message.sent_timestamp is not None and message.sent_timestamp + retention_ms <= now_ms:
            expired.append(message)  # SQS drops messages past MessageRetentionPeriod
            continue
        pending.add(message)
        message.mark_received(visibility_timeout=visibility_timeout)
        received.append(message)
        if len(received) >= count:
            break
    for message in to_dlq + expired:
        queue._messages.remove(message)
        pending.discard(message)
    return received, to_dlq, next_change_ms
