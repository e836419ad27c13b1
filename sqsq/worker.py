"""The long-running poller: receive, run on a pool, record, then acknowledge in batches.

Threads:
- one *receiver* per queue long-polls (WaitTimeSeconds 20, up to 10 messages) while there is room: at most
  ``concurrency + prefetch`` messages are held at once (received, not yet finished);
- a thread *pool* of ``concurrency`` runs :meth:`sqsq.executor.Executor.execute` on each message;
- the *acknowledger* turns outcomes into SQS calls in batches of 10 (DeleteMessageBatch,
  ChangeMessageVisibilityBatch, and DLQ moves: send the copy first, delete the original second);
- the *heartbeat* extends the visibility of every held message before it runs out, bounded by the task's
  time limit and SQS's 12 hours, so no message is run by two workers because its visibility lapsed.

Shutdown (SIGTERM/SIGINT): stop receiving, release (visibility 0) what was received but not started, let
running tasks finish for ``shutdown_grace_seconds``, release what is still running, flush, exit 0. A second
signal exits at once; messages then come back after their visibility timeout.
"""

from __future__ import annotations

import logging
import os
import queue as queue_mod
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType

from sqsq import limits
from sqsq.app import App
from sqsq.errors import AwsError, SqsqError
from sqsq.executor import Ack, DeadLetter, Executor, Outcome, Release, RetryAfter, attempts_allowed
from sqsq.retry import clamp_visibility_seconds
from sqsq.transport import OutgoingMessage, QueueInfo, ReceivedMessage

log = logging.getLogger("sqsq.worker")

HEARTBEAT_FRACTION = 0.5
"""Extend a held message's visibility once this fraction of its visibility timeout has passed."""
ACK_FLUSH_SECONDS = 0.2
"""Longest a finished message waits for its batch of 10 to fill before the batch is sent anyway."""
AWS_ERROR_BACKOFF_MAX_SECONDS = 30.0


@dataclass(eq=False)
class _Held:
    message: ReceivedMessage
    info: QueueInfo
    received_at: float
    visible_until: float
    started_at: float | None = None
    time_limit_seconds: float | None = None
    finished: bool = False


@dataclass
class WorkerStats:
    """Counters since start (for logs, the demo and tests)."""

    received: int = 0
    succeeded: int = 0
    duplicates: int = 0
    retried: int = 0
    dead_lettered: int = 0
    released: int = 0
    deletes_failed: int = 0
    by_task: dict[str, int] = field(default_factory=dict)


class Worker:
    """Polls queues and runs their tasks.

    Args:
        app: the app (its registry, transport and results store).
        queues: logical queue names; default: every queue the app's tasks use.
        concurrency: tasks run at once (thread pool size), >= 1.
        prefetch: messages held beyond ``concurrency`` (received ahead while tasks run), 0-100.
        wait_time_seconds: ReceiveMessage WaitTimeSeconds (long poll), 0-20; default from settings (20).
        burst: exit once every queue is empty (nothing visible, in flight or delayed) and nothing is held.
        shutdown_grace_seconds: how long running tasks may finish after SIGTERM before their messages are released.

    Raises:
        ValueError: an argument out of range.
    """

    def __init__(
        self,
        app: App,
        queues: Sequence[str] | None = None,
        *,
        concurrency: int = 4,
        prefetch: int = 10,
        wait_time_seconds: int | None = None,
        burst: bool = False,
        shutdown_grace_seconds: float = 30.0,
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if not 0 <= prefetch <= 100:
            raise ValueError("prefetch must be within 0..100")
        self.app = app
        self.logical_queues = list(queues or app.logical_queues())
        self.concurrency = concurrency
        self.prefetch = prefetch
        wait = app.settings.wait_time_seconds if wait_time_seconds is None else wait_time_seconds
        self.wait_time_seconds = max(0, min(limits.SQS_MAX_WAIT_TIME_SECONDS, wait))
        self.burst = burst
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.executor = Executor(app)
        self.stats = WorkerStats()
        self._slots = concurrency + prefetch
        self._held: dict[str, _Held] = {}
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._acks: queue_mod.Queue[tuple[_Held, Outcome] | None] = queue_mod.Queue()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sqsq-task")
        self._idle_queues: set[str] = set()
        self._signals = 0

    # -- lifecycle ------------------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: first one stops gracefully, second exits at once (main thread only)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self._signals += 1
            if self._signals > 1:
                log.warning("second signal: exiting now; unfinished messages return after their visibility timeout")
                os._exit(1)
            log.info("signal %d: stopping (grace %.0f s); send it again to exit at once", signum, self.shutdown_grace_seconds)
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def stop(self) -> None:
        """Ask the worker to stop gracefully (thread-safe)."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()

    def run(self) -> int:
        """Run until stopped (or, with ``burst``, until the queues are empty). Returns the exit code (0).

        Raises:
            QueueNotFound, ResultsTableNotFound, EndpointUnreachable: at start-up, with what to run.
        """
        infos = {name: self.app.transport.queue_info(self.app.queue_name(name)) for name in self.logical_queues}
        self._startup_report(infos)
        receivers = [
            threading.Thread(target=self._receive_loop, args=(name, info), name=f"sqsq-recv-{name}", daemon=True)
            for name, info in infos.items()
        ]
        acker = threading.Thread(target=self._ack_loop, name="sqsq-ack", daemon=True)
        heart = threading.Thread(target=self._heartbeat_loop, name="sqsq-heartbeat", daemon=True)
        acker.start()
        heart.start()
        for r in receivers:
            r.start()
        while not self._stopping.is_set():
            self._stopping.wait(0.5)
            if self.burst and len(self._idle_queues) == len(infos):
                with self._cond:
                    if not self._held:
                        break
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._shutdown(receivers)
        self._acks.put(None)
        acker.join(timeout=30)
        log.info(
            "worker stopped: %d received, %d succeeded, %d duplicates acknowledged, %d retried, "
            "%d dead-lettered, %d released",
            self.stats.received, self.stats.succeeded, self.stats.duplicates, self.stats.retried,
            self.stats.dead_lettered, self.stats.released,
        )
        return 0

    def _startup_report(self, infos: dict[str, QueueInfo]) -> None:
        log.info(
            "worker: queues %s, concurrency %d, prefetch %d, long poll WaitTimeSeconds=%d, MaxNumberOfMessages=10",
            ", ".join(self.app.queue_name(q) for q in infos), self.concurrency, self.prefetch, self.wait_time_seconds,
        )
        for name, info in infos.items():
            if info.max_receive_count is None:
                log.warning(
                    "queue %s has no redrive policy: tasks out of retries are recorded as FAILURE and deleted; "
                    "provision it with a DLQ (`sqsq provision APP`)", self.app.queue_name(name),
                )
            for task in self.app.tasks.values():
                if (task.queue or self.app.settings.default_queue) != name:
                    continue
                if task.max_retries is not None and info.max_receive_count is not None:
                    if task.max_retries + 1 > info.max_receive_count:
                        log.warning(
                            "task %s asks for %d retries but queue %s has maxReceiveCount=%d: it gets %d attempts",
                            task.name, task.max_retries, self.app.queue_name(name), info.max_receive_count,
                            attempts_allowed(task.max_retries, info.max_receive_count),
                        )

    def _shutdown(self, receivers: list[threading.Thread]) -> None:
        deadline = time.monotonic() + self.shutdown_grace_seconds
        # Release everything received but not started: other workers can take it at once.
        with self._cond:
            unstarted = [h for h in self._held.values() if h.started_at is None]
        self._release(unstarted)
        # Wait for running tasks and for long polls in flight (their messages are released on return).
        while time.monotonic() < deadline:
            with self._cond:
                running = [h for h in self._held.values() if not h.finished]
            if not running and not any(r.is_alive() for r in receivers):
                break
            time.sleep(0.05)
        with self._cond:
            still = [h for h in self._held.values() if not h.finished]
        if still:
            log.warning("%d task(s) still running after the grace period: releasing their messages", len(still))
            self._release(still)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- receiving ------------------------------------------------------------------------------------------

    def _receive_loop(self, logical: str, info: QueueInfo) -> None:
        queue_name = self.app.queue_name(logical)
        failures = 0
        while not self._stopping.is_set():
            with self._cond:
                # Receive only when a whole batch (or all free slots) fits, to keep requests per task low.
                want = min(limits.SQS_MAX_RECEIVE_MESSAGES, self._slots)
                while self._slots - len(self._held) < want and not self._stopping.is_set():
                    self._cond.wait(0.5)
                room = self._slots - len(self._held)
            if self._stopping.is_set():
                return
            try:
                messages = self.app.transport.receive(queue_name, min(room, 10), self.wait_time_seconds)
                failures = 0
                # Burst mode asks for the queue's counts only after an empty receive, not per request.
                if not messages and self.burst and self._queue_drained(queue_name):
                    self._idle_queues.add(logical)
                    continue
            except AwsError as exc:
                failures += 1
                backoff = min(AWS_ERROR_BACKOFF_MAX_SECONDS, 0.5 * 2**failures)
                hint = " (clock skew? check the host's time)" if exc.code == "SignatureDoesNotMatch" else ""
                log.error("receive from %s failed: %s%s; retrying in %.1f s", queue_name, exc, hint, backoff)
                self._stopping.wait(backoff)
                continue
            self._idle_queues.discard(logical)
            now = time.monotonic()
            held = [
                _Held(m, info, received_at=now, visible_until=now + info.visibility_timeout_seconds) for m in messages
            ]
            if self._stopping.is_set():
                self._release(held, already_held=False)
                return
            with self._cond:
                for h in held:
                    self._held[h.message.receipt_handle] = h
            self.stats.received += len(held)
            for h in held:
                self._pool.submit(self._run_one, h)

    def _queue_drained(self, queue_name: str) -> bool:
        with self._cond:
            if any(h.message.queue_name == queue_name for h in self._held.values()):
                return False
        depth = self.app.transport.depth(queue_name)
        return depth.visible == 0 and depth.in_flight == 0 and depth.delayed == 0

    # -- running --------------------------------------------------------------------------------------------

    def _run_one(self, held: _Held) -> None:
        with self._cond:
            # Checked under the lock _shutdown uses to pick unstarted messages, so a message is either
            # released or run, never both.
            if self._stopping.is_set():
                return
            held.started_at = time.monotonic()
        try:
            outcome = self.executor.execute(held.message, held.info.max_receive_count)
        except Exception as exc:  # the executor never raises for task errors; this is a bug or a store outage
            log.exception("executor error on message %s: %s", held.message.message_id, exc)
            outcome = Release(10, f"{type(exc).__name__}: {exc}")
        with self._cond:
            held.finished = True
        self._acks.put((held, outcome))

    # -- acknowledging --------------------------------------------------------------------------------------

    def _ack_loop(self) -> None:
        deletes: dict[str, list[_Held]] = {}
        visibility: dict[str, list[tuple[_Held, int]]] = {}
        oldest: float | None = None
        done = False
        while not done:
            timeout = ACK_FLUSH_SECONDS if oldest is None else max(0.0, oldest + ACK_FLUSH_SECONDS - time.monotonic())
            try:
                item = self._acks.get(timeout=timeout)
            except queue_mod.Empty:
                item = ()  # type: ignore[assignment]
            if item is None:
                done = True
            elif item:
                held, outcome = item
                oldest = oldest or time.monotonic()
                self._route(held, outcome, deletes, visibility)
            flush_all = done or (oldest is not None and time.monotonic() - oldest >= ACK_FLUSH_SECONDS)
            for queue_name in list(deletes):
                if flush_all or len(deletes[queue_name]) >= limits.SQS_MAX_BATCH_ENTRIES:
                    self._flush_deletes(queue_name, deletes.pop(queue_name))
            for queue_name in list(visibility):
                if flush_all or len(visibility[queue_name]) >= limits.SQS_MAX_BATCH_ENTRIES:
                    self._flush_visibility(queue_name, visibility.pop(queue_name))
            if flush_all or (not deletes and not visibility):
                oldest = None

    def _route(
        self,
        held: _Held,
        outcome: Outcome,
        deletes: dict[str, list[_Held]],
        visibility: dict[str, list[tuple[_Held, int]]],
    ) -> None:
        queue_name = held.message.queue_name
        if isinstance(outcome, Ack):
            self.stats.succeeded += 0 if outcome.duplicate else 1
            self.stats.duplicates += 1 if outcome.duplicate else 0
            deletes.setdefault(queue_name, []).append(held)
        elif isinstance(outcome, RetryAfter):
            self.stats.retried += 1
            if outcome.delay_seconds is None:
                self._forget(held)  # visible again when its visibility timeout runs out
            else:
                visibility.setdefault(queue_name, []).append((held, clamp_visibility_seconds(outcome.delay_seconds)))
        elif isinstance(outcome, Release):
            self.stats.released += 1
            visibility.setdefault(queue_name, []).append((held, clamp_visibility_seconds(outcome.delay_seconds)))
        elif isinstance(outcome, DeadLetter):
            self.stats.dead_lettered += 1
            if self._move_to_dlq(held):
                deletes.setdefault(queue_name, []).append(held)
            else:
                self._forget(held)

    def _move_to_dlq(self, held: _Held) -> bool:
        """Send a copy to the DLQ (first), so the delete (second) cannot lose it. False: leave the message."""
        arn = held.info.dead_letter_target_arn
        if arn is None:
            log.warning(
                "message %s failed for good and its queue has no DLQ: deleting it (FAILURE is recorded)",
                held.message.message_id,
            )
            return True
        dlq_name = arn.rsplit(":", 1)[1]
        copy = OutgoingMessage(
            id="0", body=held.message.body, message_attributes=dict(held.message.message_attributes)
        )
        try:
            failed = self.app.transport.send_batch(dlq_name, [copy])
        except AwsError as exc:
            log.error("moving message %s to %s failed (%s); it stays in its queue", held.message.message_id, dlq_name, exc)
            return False
        if failed:
            log.error("moving message %s to %s rejected: %s", held.message.message_id, dlq_name, failed[0].message)
            return False
        return True

    def _flush_deletes(self, queue_name: str, items: list[_Held]) -> None:
        handles = [h.message.receipt_handle for h in items]
        try:
            failed = self.app.transport.delete_batch(queue_name, handles)
            if failed:
                # Retry the failed entries once; a message whose delete still fails comes back and is then
                # acknowledged as a duplicate (its SUCCESS is recorded), never run twice.
                retry = [handles[int(f.id)] for f in failed]
                failed = self.app.transport.delete_batch(queue_name, retry)
                for f in failed:
                    self.stats.deletes_failed += 1
                    log.warning("delete failed for a message of %s: %s %s", queue_name, f.code, f.message)
        except AwsError as exc:
            self.stats.deletes_failed += len(items)
            log.error("DeleteMessageBatch on %s failed (%s); %d messages will be redelivered", queue_name, exc, len(items))
        for h in items:
            self._forget(h)

    def _flush_visibility(self, queue_name: str, items: list[tuple[_Held, int]]) -> None:
        try:
            failed = self.app.transport.change_visibility_batch(
                queue_name, [(h.message.receipt_handle, s) for h, s in items]
            )
            for f in failed:
                log.warning("visibility change failed on %s: %s %s", queue_name, f.code, f.message)
        except AwsError as exc:
            log.error("ChangeMessageVisibilityBatch on %s failed (%s); messages return after their timeout", queue_name, exc)
        for h, _ in items:
            self._forget(h)

    def _forget(self, held: _Held) -> None:
        with self._cond:
            self._held.pop(held.message.receipt_handle, None)
            self._cond.notify_all()

    def _release(self, items: Sequence[_Held], already_held: bool = True) -> None:
        """Visibility 0 for messages we will not run, so others receive them at once."""
        by_queue: dict[str, list[_Held]] = {}
        for h in items:
            by_queue.setdefault(h.message.queue_name, []).append(h)
        for queue_name, hs in by_queue.items():
            for i in range(0, len(hs), limits.SQS_MAX_BATCH_ENTRIES):
                chunk = hs[i : i + limits.SQS_MAX_BATCH_ENTRIES]
                self.stats.released += len(chunk)
                self._flush_visibility(queue_name, [(h, 0) for h in chunk])

    # -- heartbeat ------------------------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        while not self._stopping.is_set() or self._held:
            time.sleep(0.5)
            now = time.monotonic()
            due: dict[str, list[tuple[_Held, int]]] = {}
            with self._cond:
                for h in self._held.values():
                    if h.finished:
                        continue
                    vt = h.info.visibility_timeout_seconds
                    remaining = h.visible_until - now
                    if remaining > vt * (1 - HEARTBEAT_FRACTION) and remaining > 2:
                        continue
                    # Never past SQS's 12 hours from the receive, nor past the task's time limit.
                    cap = limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS - (now - h.received_at) - 1
                    if h.time_limit_seconds is not None and h.started_at is not None:
                        cap = min(cap, h.time_limit_seconds - (now - h.started_at) + vt)
                    extend = int(min(max(vt, 1), cap))
                    if extend <= 0:
                        continue
                    h.visible_until = now + extend
                    due.setdefault(h.message.queue_name, []).append((h, extend))
            for queue_name, items in due.items():
                for i in range(0, len(items), limits.SQS_MAX_BATCH_ENTRIES):
                    chunk = items[i : i + limits.SQS_MAX_BATCH_ENTRIES]
                    try:
                        self.app.transport.change_visibility_batch(
                            queue_name, [(h.message.receipt_handle, s) for h, s in chunk]
                        )
                    except AwsError as exc:
                        log.error("heartbeat on %s failed: %s", queue_name, exc)
            if self._stopping.is_set() and not self._held:
                return


def run_worker(app: App, queues: Sequence[str] | None = None, **options: object) -> int:
    """Build a :class:`Worker`, install signal handlers, run it. Returns the exit code.

    Raises:
        SqsqError: start-up failures (missing queue or table, unreachable endpoint).
    """
    worker = Worker(app, queues, **options)  # type: ignore[arg-type]
    worker.install_signal_handlers()
    try:
        return worker.run()
    except SqsqError:
        raise
