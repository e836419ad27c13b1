"""The heartbeat: keeps every held message invisible while it waits or runs, within its bounds.

Every :data:`HEARTBEAT_TICK_SECONDS` it extends, in batches of 10 (ChangeMessageVisibilityBatch), the held
messages whose visibility is running out (:func:`heartbeat_extension_seconds`), bounded by the task's
``time_limit_seconds`` (counted from the start of the run; not once the run ended and its outcome is being
written) and SQS's 12 hours from the receive. So a message is
not run by two workers because its visibility lapsed while it was held. A failed extension is tried again on the
next tick; should the visibility lapse anyway, the receiver absorbs the redelivery (:mod:`sqsq.worker.receiver`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqsq import limits
from sqsq.app import App
from sqsq.errors import AwsError
from sqsq.executor import LogThrottle
from sqsq.transport import BatchFailure
from sqsq.worker.slots import Held, Slots

log = logging.getLogger("sqsq.worker")

HEARTBEAT_FRACTION = 0.5
"""Extend a held message's visibility once this fraction of its visibility timeout has passed."""
HEARTBEAT_MIN_LEAD_SECONDS = 1.5
"""...or once less than this is left (for short visibility timeouts), whichever comes first."""
HEARTBEAT_TICK_SECONDS = 0.5
"""How often the heartbeat looks at the held messages."""
TIME_LIMIT_GRACE_SECONDS = 5.0
"""The heartbeat keeps a running message hidden this long past its task's time limit, so the worker can record
TimeLimitExceeded and act on the message before another consumer could receive it."""


def heartbeat_extension_seconds(
    *,
    now: float,
    received_at: float,
    visible_until: float,
    visibility_timeout_seconds: int,
    started_at: float | None = None,
    time_limit_seconds: float | None = None,
) -> int | None:
    """The visibility (seconds from now) the heartbeat should set on a held message, or None to leave it.

    A message is extended to one visibility timeout from now once half of it has passed (or less than
    :data:`HEARTBEAT_MIN_LEAD_SECONDS` is left), but never past ``started_at + time_limit_seconds`` +
    :data:`TIME_LIMIT_GRACE_SECONDS` (the worker records TimeLimitExceeded at the limit and acts on the message
    within the grace) nor past SQS's 12 hours from the receive.

    Args:
        now: monotonic seconds now.
        received_at: monotonic seconds of the receive.
        visible_until: monotonic seconds when the message becomes visible again if nothing is done.
        visibility_timeout_seconds: the queue's VisibilityTimeout.
        started_at: monotonic seconds the task started, ``None`` while waiting to start (no time limit applies).
        time_limit_seconds: the task's time limit, ``None`` = none (bounded by the 12 hours only).

    Returns:
        Whole seconds (1..43,200) to pass to ChangeMessageVisibility, or None when no change is due or allowed.
    """
    vt = max(1, visibility_timeout_seconds)
    remaining = visible_until - now
    if remaining > min(vt, max(vt * (1 - HEARTBEAT_FRACTION), HEARTBEAT_MIN_LEAD_SECONDS)):
        return None
    cap = limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS - (now - received_at) - 1
    if time_limit_seconds is not None and started_at is not None:
        cap = min(cap, started_at + time_limit_seconds + TIME_LIMIT_GRACE_SECONDS - now)
    extend = int(min(vt, cap))
    if extend < 1 or extend <= remaining:
        return None
    return extend


class Heartbeat:
    """The heartbeat thread's work: each tick, run ``on_tick`` (the time-limit watchdog), then extend what is due.

    Args:
        app: for its transport.
        slots: the held messages.
        closed: set when the worker has finished; the loop then ends.
        on_tick: called first on every tick (the pool's time-limit watchdog).
        throttle: where recurring failures are logged.
    """

    def __init__(
        self, app: App, slots: Slots, closed: threading.Event, on_tick: Callable[[], None], throttle: LogThrottle
    ):
        self._app = app
        self._slots = slots
        self._closed = closed
        self._on_tick = on_tick
        self._throttle = throttle

    def run(self) -> None:
        """Tick until the worker is closed (the thread's target)."""
        while not self._closed.is_set():
            self._closed.wait(HEARTBEAT_TICK_SECONDS)
            try:
                self._on_tick()
                self.beat()
            except Exception:  # never lose the heartbeat
                log.exception("unexpected error in the visibility heartbeat")

    def beat(self) -> None:
        """Extend the visibility of every held message that is due (one batch call per 10 of a queue)."""
        for queue_name, entries in self._due().items():
            for i in range(0, len(entries), limits.SQS_MAX_BATCH_ENTRIES):
                self._extend(queue_name, entries[i : i + limits.SQS_MAX_BATCH_ENTRIES])

    def _due(self) -> dict[str, list[tuple[Held, int, float]]]:
        """``(held, seconds, visible_until before)`` by queue, with ``visible_until`` already moved on."""
        now = time.monotonic()
        due: dict[str, list[tuple[Held, int, float]]] = {}
        with self._slots.cond:
            for h in self._slots.held.values():
                if h.finished or h.released:
                    continue
                extend = heartbeat_extension_seconds(
                    now=now,
                    received_at=h.received_at,
                    visible_until=h.visible_until,
                    visibility_timeout_seconds=h.info.visibility_timeout_seconds,
                    started_at=h.started_at,
                    # Once its outcome is being recorded (maybe a slow write in the writer pool) the watchdog keeps
                    # off, so the time limit no longer bounds it: a lapse now would let another consumer run it again.
                    time_limit_seconds=None if h.finishing else h.time_limit_seconds,
                )
                if extend is None:
                    continue
                due.setdefault(h.message.queue_name, []).append((h, extend, h.visible_until))
                h.visible_until = now + extend
        return due

    def _extend(self, queue_name: str, chunk: list[tuple[Held, int, float]]) -> None:
        try:
            failures = self._app.transport.change_visibility_batch(
                queue_name, [(h.receipt_handle, s) for h, s, _ in chunk]
            )
        except AwsError as exc:
            failures = [BatchFailure(str(j), exc.code or "", str(exc), False) for j in range(len(chunk))]
        for f in failures:
            h, _, before = chunk[int(f.id)]
            with self._slots.cond:
                h.visible_until = min(h.visible_until, before)  # try again on the next tick
            self._throttle.log(
                logging.WARNING, f"heartbeat:{queue_name}",
                "heartbeat on %s could not extend message %s: %s %s",
                queue_name, h.message.message_id, f.code, f.message,
            )
