"""The receiver: one thread per queue long-polls while there is room, and hands what it gets to the pool.

It asks for a message only when a whole batch (or every free slot) fits, to keep requests per task low
(ReceiveMessage, MaxNumberOfMessages 10, WaitTimeSeconds up to 20:
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html). Each body is
decoded here, once (:meth:`sqsq.message.Envelope.from_body`): the task it names says where it runs (the event loop
for ``async def`` tasks) and its time limit; the executor gets the decoded envelope.

A message that comes back while held (its visibility lapsed: a heartbeat call failed) is not run a second time:
the held copy takes the new receipt handle. A failed receive backs off (growing delay, capped at
:data:`AWS_ERROR_BACKOFF_MAX_SECONDS`); a results-store outage pauses receiving (:attr:`Acknowledger.paused_until`).

Burst mode (``sqsq worker --burst``) ends a queue's loop once it is drained: nothing visible, in flight or delayed
and nothing of it held. Every receive in burst mode is a short poll (at most 1 s): a long poll returns at once
while messages are visible, so the short wait costs nothing then, and once the queue is empty the run ends within
about a second instead of after a 20 s poll. The queue's counts are asked for before the first receive and after
an empty one only (never per full receive).

The first receive is sent as soon as the queue's URL is known; what it returns waits at the worker's
:class:`~sqsq.worker.gate.StartGate` until the start-up has read the queue's attributes and started the pool.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqsq import limits
from sqsq.app import App
from sqsq.errors import AwsError, MessageDecodeError
from sqsq.executor import LogThrottle
from sqsq.executor.payload import read_envelope
from sqsq.message import Envelope
from sqsq.transport import QueueInfo, ReceivedMessage
from sqsq.worker.acknowledger import AWS_ERROR_BACKOFF_BASE_SECONDS, AWS_ERROR_BACKOFF_MAX_SECONDS, Acknowledger
from sqsq.worker.gate import StartGate
from sqsq.worker.slots import Held, Slots
from sqsq.worker.stats import WorkerStats

log = logging.getLogger("sqsq.worker")

BURST_WAIT_TIME_SECONDS = 1
"""WaitTimeSeconds of every receive in burst mode (see the module docstring)."""
_CLOCK_SKEW_CODES = {"SignatureDoesNotMatch", "InvalidSignatureException", "RequestExpired", "RequestTimeTooSkewed"}


class Receiver:
    """The receive loops of one worker (one thread per queue runs :meth:`run`).

    Args:
        app: for its transport and task registry.
        slots: where received messages are held.
        acks: the acknowledger (its pause; it releases what arrives while stopping).
        stats: counters to update.
        stopping: set when the worker stops.
        dispatch: hands held messages to the pool, in receive order, all at once (must not block).
        wait_time_seconds: ReceiveMessage WaitTimeSeconds, 0-20.
        burst: end a queue's loop once it is drained.
        throttle: where recurring failures are logged.
        gate: what received messages wait for before they are held (the worker's start-up).
    """

    def __init__(
        self,
        app: App,
        slots: Slots,
        acks: Acknowledger,
        stats: WorkerStats,
        stopping: threading.Event,
        dispatch: Callable[[list[Held]], None],
        *,
        wait_time_seconds: int,
        burst: bool,
        throttle: LogThrottle,
        gate: StartGate,
    ):
        self._app = app
        self._slots = slots
        self._acks = acks
        self._stats = stats
        self._stopping = stopping
        self._dispatch = dispatch
        self._wait_time_seconds = wait_time_seconds
        self._burst = burst
        self._throttle = throttle
        self._gate = gate
        self.drained: set[str] = set()
        """Logical queues found drained (burst mode)."""
        self.at_gate: set[str] = set()
        """Logical queues whose received messages wait at the start gate (or are being released after a failed start)."""

    def run(self, logical: str) -> None:
        """Receive from ``logical`` until stopping (or, in burst mode, until it is drained, or the start fails)."""
        queue_name = self._app.queue_name(logical)
        info: QueueInfo | None = None
        failures = 0
        last_empty = True
        while not self._stopping.is_set():
            room = self._slots.wait_for_room(min(limits.SQS_MAX_RECEIVE_MESSAGES, self._slots.size))
            pause = self._acks.paused_until - time.monotonic()
            if pause > 0:
                self._stopping.wait(pause)
                continue
            if self._stopping.is_set():
                return
            try:
                drained = self._burst and last_empty and self._queue_drained(queue_name)
                messages = [] if drained else self._receive(queue_name, room)
                last_empty = not messages
            except Exception as exc:  # AwsError, or anything unexpected: the loop must survive
                failures += 1
                self._receive_failed(queue_name, failures, exc)
                continue
            if failures:
                log.info("receive from %s works again after %d failure(s)", queue_name, failures)
                failures = 0
            if drained:
                self.drained.add(logical)  # burst mode: this queue is done
                return
            self.drained.discard(logical)
            if messages:
                received_at = time.monotonic()
                if info is None:
                    info = self._wait_at_gate(logical, queue_name, messages)
                    if info is None:  # the worker's start failed: none of these may run (released)
                        return
                    messages = self._not_lapsed(queue_name, messages, info, received_at)
                self.take(messages, info, received_at)

    def _receive(self, queue_name: str, room: int) -> list[ReceivedMessage]:
        wait = min(BURST_WAIT_TIME_SECONDS, self._wait_time_seconds) if self._burst else self._wait_time_seconds
        return self._app.transport.receive(queue_name, min(room, limits.SQS_MAX_RECEIVE_MESSAGES), wait)

    def _receive_failed(self, queue_name: str, failures: int, exc: Exception) -> None:
        self._stats.receive_failures += 1
        delay = min(AWS_ERROR_BACKOFF_MAX_SECONDS, AWS_ERROR_BACKOFF_BASE_SECONDS * 2 ** (failures - 1))
        code = exc.code if isinstance(exc, AwsError) else None
        hint = "; the request signature was refused: is the host's clock right (clock skew)?" if code in _CLOCK_SKEW_CODES else ""
        self._throttle.log(
            logging.ERROR, f"receive:{queue_name}", "receive from %s failed %d time(s) in a row: %s%s; retrying in %.1f s",
            queue_name, failures, exc, hint, delay,
        )
        self._stopping.wait(delay)

    def _wait_at_gate(self, logical: str, queue_name: str, messages: list[ReceivedMessage]) -> QueueInfo | None:
        """The queue's attributes once the start-up is done; None (``messages`` made visible again) if it failed."""
        self.at_gate.add(logical)
        try:
            info = self._gate.wait(logical)
            if info is None:
                self._app.transport.change_visibility_batch(queue_name, [(m.receipt_handle, 0) for m in messages])
            return info
        except Exception as exc:  # they come back after the queue's visibility timeout instead
            log.warning("could not release %d message(s) received before the worker failed to start: %s",
                        len(messages), exc)
            return None
        finally:
            self.at_gate.discard(logical)

    def _not_lapsed(
        self, queue_name: str, messages: list[ReceivedMessage], info: QueueInfo, received_at: float
    ) -> list[ReceivedMessage]:
        """Those of ``messages`` (held at the gate) still invisible: one whose VisibilityTimeout ran out during the
        start-up may be held and run by another consumer now, so it is not run here (it is received again)."""
        if time.monotonic() < received_at + info.visibility_timeout_seconds:
            return messages
        log.warning(
            "%d message(s) from %s became visible again while the worker started (VisibilityTimeout=%d s is shorter "
            "than the start-up): not run here, they are received again", len(messages), queue_name,
            info.visibility_timeout_seconds,
        )
        return []

    def take(self, messages: list[ReceivedMessage], info: QueueInfo, received_at: float | None = None) -> None:
        """Hold and dispatch received messages; absorb those already held; release them when stopping.

        ``received_at``: monotonic seconds when the receive returned (default: now); their visibility counts from it.
        """
        now = time.monotonic() if received_at is None else received_at
        fresh = [self._hold(m, info, now) for m in messages]  # decoded outside the lock the pool threads take
        release: list[Held] = []
        start: list[Held] = []
        with self._slots.cond:
            for held in fresh:
                m = held.message
                current = self._slots.held.get(m.message_id)
                if current is not None and current.absorbs_redelivery:
                    # Its visibility lapsed while held here (a heartbeat failed) and SQS handed it out again:
                    # keep running the one copy, with the newest receipt handle (the one SQS honours).
                    current.receipt_handle = m.receipt_handle
                    current.visible_until = now + info.visibility_timeout_seconds
                    self._stats.redelivered_while_held += 1
                    log.debug("message %s came back while held; not run a second time", m.message_id)
                    continue
                self._stats.received += 1
                if self._stopping.is_set():
                    held.released = True
                    release.append(held)
                    continue
                self._slots.held[m.message_id] = held
                start.append(held)
        # Dispatched once the lock is let go: a pool thread woken for the first message takes that lock at once
        # (Slots.start), and would wait for it while the rest were dispatched. Held already, so a shutdown that takes
        # them meanwhile releases them (Slots.start then refuses to run them), as it would after the dispatch.
        if start:
            self._dispatch(start)
        if release:
            self._acks.release(release)

    def _hold(self, m: ReceivedMessage, info: QueueInfo, now: float) -> Held:
        try:
            envelope: Envelope | None = read_envelope(self._app, m)  # fetched from S3 when the body is a pointer
        except (MessageDecodeError, AwsError):  # the executor decodes it again and records why
            envelope = None
        task = None if envelope is None else self._app.tasks.get(envelope.task)
        return Held(
            m, info, m.receipt_handle, received_at=now, visible_until=now + info.visibility_timeout_seconds,
            envelope=envelope, time_limit_seconds=None if task is None else task.time_limit_seconds,
        )

    def _queue_drained(self, queue_name: str) -> bool:
        if self._slots.holds_from(queue_name):
            return False
        depth = self._app.transport.depth(queue_name)
        return depth.visible == 0 and depth.in_flight == 0 and depth.delayed == 0
