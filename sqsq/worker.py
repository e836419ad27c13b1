"""The long-running poller: receive, run on a pool, record, then acknowledge in batches.

Threads:
- one *receiver* per queue long-polls (WaitTimeSeconds 20, up to 10 messages) while there is room: at most
  ``concurrency + prefetch`` messages are held at once (received, not yet finished);
- a pool of ``concurrency`` daemon threads runs :meth:`sqsq.executor.Executor.execute` on each message, or with
  ``pool="process"`` (``sqsq worker --pool process``, for CPU-bound tasks) prepares it here and runs the task body
  in one of ``concurrency`` child processes (:class:`sqsq.pools.ProcessPool`); the results store is written and
  every SQS call is made from this process either way, so a child holds no AWS client and a dying child loses
  nothing: its message is released and that child alone is replaced;
- ``async def`` tasks are awaited on one long-lived event loop in its own thread (:class:`sqsq.pools.EventLoopThread`),
  up to ``concurrency`` at once, none holding a thread while it awaits;
- the *acknowledger* turns outcomes into SQS calls in batches of 10 (DeleteMessageBatch,
  ChangeMessageVisibilityBatch, and DLQ moves: send the copy first, delete the original second);
- the *heartbeat* extends the visibility of every held message (running or waiting to start) before it runs
  out, bounded by the task's ``time_limit_seconds`` (counted from the start of the run) and SQS's 12 hours
  from the receive. So a message is not run by two workers because its visibility lapsed while it was held.
  Should it lapse anyway (the heartbeat's call failed) and come back to this worker, the worker takes the new
  receipt handle and does not run it a second time.

Shutdown (SIGTERM/SIGINT): stop receiving (a long poll in flight is waited for and its messages released),
release (visibility 0) what was received but not started, let running tasks finish for
``shutdown_grace_seconds``, release what is still running, flush acknowledgements, exit 0. A second signal
exits at once; messages then come back after their visibility timeout. Nothing unfinished is deleted and
nothing is re-sent as a copy.

AWS failures: botocore's standard retry mode retries throttling, 5xx and dropped connections on every call
(:mod:`sqsq.transport.aws`). What still fails leaves the message in the queue: a failed receive backs off
(growing delay, capped); a failed delete is retried, then logged with the message ids (the redelivery is
acknowledged as a duplicate, its SUCCESS being recorded); a failed visibility change leaves the message to
come back after its visibility timeout; when the results store cannot be written the worker pauses
receiving with a growing delay. Recurring failures are logged once per interval, not once per message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue as queue_mod
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Literal

from sqsq import limits
from sqsq.app import App
from sqsq.errors import AwsError, TimeLimitExceeded
from sqsq.executor import (
    CLAIM_LEASE_DEFAULT_SECONDS,
    Ack,
    DeadLetter,
    Executor,
    LogThrottle,
    Outcome,
    Prepared,
    Release,
    RetryAfter,
    attempts_allowed,
    encode_result,
)
from sqsq.logs import task_log_context
from sqsq.pools import ChildProcessDied, EventLoopThread, ProcessPool, app_spec_of
from sqsq.rescue import is_last_receive, send_rescue
from sqsq.retry import clamp_visibility_seconds
from sqsq.sweep import sweep_dead_letters
from sqsq.task import Task
from sqsq.transport import BatchFailure, OutgoingMessage, QueueInfo, ReceivedMessage

log = logging.getLogger("sqsq.worker")

HEARTBEAT_FRACTION = 0.5
"""Extend a held message's visibility once this fraction of its visibility timeout has passed."""
HEARTBEAT_MIN_LEAD_SECONDS = 1.5
"""...or once less than this is left (for short visibility timeouts), whichever comes first."""
HEARTBEAT_TICK_SECONDS = 0.5
"""How often the heartbeat looks at the held messages."""
ACK_FLUSH_SECONDS = 0.2
"""Longest a finished message waits for its batch of 10 to fill before the batch is sent anyway."""
AWS_ERROR_BACKOFF_BASE_SECONDS = 1.0
"""First pause after a failed receive, doubled on each further failure."""
AWS_ERROR_BACKOFF_MAX_SECONDS = 30.0
"""Longest pause between receives that keep failing (and after results-store failures)."""
ACK_ENTRY_ATTEMPTS = 3
"""Tries of a DeleteMessageBatch / ChangeMessageVisibilityBatch entry sqsq makes (on top of botocore's)."""
ACK_ENTRY_RETRY_SECONDS = 0.2
"""Pause before trying failed entries again (doubled each time)."""
MAIN_LOOP_TICK_SECONDS = 0.1
"""How often the main thread checks for a stop request or (burst mode) empty queues."""
"""At shutdown, a long poll in flight is waited for this long past its WaitTimeSeconds."""
TIME_LIMIT_GRACE_SECONDS = 5.0
"""The heartbeat keeps a running message hidden this long past its task's time limit, so the worker can record
TimeLimitExceeded and act on the message before another consumer could receive it."""
DLQ_SWEEP_INTERVAL_SECONDS = 60.0
"""How often a worker sweeps its queues' DLQs (:mod:`sqsq.sweep`): one GetQueueAttributes per DLQ while empty."""
CHILD_DIED_RELEASE_SECONDS = 1
"""Visibility given back to a message whose pool process died under it (``--pool process``): it comes back soon."""
EXECUTOR_BUG_RELEASE_SECONDS = 10
"""Visibility given back to a message when handling it raised unexpectedly (a bug, logged with its traceback)."""
_CLOCK_SKEW_CODES = {"SignatureDoesNotMatch", "InvalidSignatureException", "RequestExpired", "RequestTimeTooSkewed"}


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


@dataclass(eq=False)
class _Held:
    message: ReceivedMessage
    info: QueueInfo
    receipt_handle: str
    received_at: float
    visible_until: float
    time_limit_seconds: float | None = None
    started_at: float | None = None
    finished: bool = False
    released: bool = False
    outcome: Outcome | None = None
    child_died: bool = False
    prepared: Prepared | None = None
    """Set while its task body runs on a pool thread (the time-limit watchdog finishes it from there)."""
    finishing: bool = False
    """Its thread is recording the outcome: the watchdog keeps off."""
    timed_out: bool = False
    """The watchdog recorded TimeLimitExceeded: the thread's late outcome is discarded."""
    counted: bool = False
    """Counted among the pool runs in progress (for running last-receive messages alone)."""

    @property
    def running(self) -> bool:
        return self.started_at is not None and not self.finished and not self.released

    @property
    def absorbs_redelivery(self) -> bool:
        """True while a new receive of this message is a lapse to absorb, not a delivery to run.

        That is while it waits, runs, or waits for its delete. Once its outcome put it back in the queue (a retry
        or release by visibility change), a new receive is the next attempt and must run.
        """
        return not self.released and (self.outcome is None or isinstance(self.outcome, Ack | DeadLetter))


@dataclass
class WorkerStats:
    """Counters since start (for logs, the demo and tests)."""

    received: int = 0
    succeeded: int = 0
    duplicates: int = 0
    retried: int = 0
    dead_lettered: int = 0
    released: int = 0
    deferred: int = 0
    deletes_failed: int = 0
    visibility_changes_failed: int = 0
    redelivered_while_held: int = 0
    receive_failures: int = 0
    child_deaths: int = 0
    rescued: int = 0
    dlq_rescued: int = 0
    dlq_recorded: int = 0


class Worker:
    """Polls queues and runs their tasks.

    Args:
        app: the app (its registry, transport and results store).
        queues: logical queue names; default: every queue the app's tasks use.
        concurrency: tasks run at once, >= 1: threads (or child processes with ``pool="process"``) for ``def``
            tasks, and as many ``async def`` tasks on the event loop.
        prefetch: messages held beyond ``concurrency`` (received ahead while tasks run), 0-100.
        wait_time_seconds: ReceiveMessage WaitTimeSeconds (long poll), 0-20; default from settings (20).
        burst: exit once every queue is empty (nothing visible, in flight or delayed) and nothing is held.
        shutdown_grace_seconds: how long running tasks may finish after SIGTERM before their messages are released.
        pool: ``"thread"`` (default) runs ``def`` tasks on threads; ``"process"`` runs them in child processes
            (CPU-bound tasks: no GIL contention), which import the app by ``app_spec``.
        app_spec: the app's ``module:attribute`` for ``pool="process"``; default: found from the tasks' modules.

    Raises:
        ValueError: an argument out of range, or ``pool="process"`` without an importable app spec.

    Example:
        >>> Worker(app, concurrency=8).run()  # until SIGTERM (after install_signal_handlers) or stop()
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
        pool: Literal["thread", "process"] = "thread",
        app_spec: str | None = None,
        dlq_sweep_interval_seconds: float = DLQ_SWEEP_INTERVAL_SECONDS,
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if not 0 <= prefetch <= 100:
            raise ValueError("prefetch must be within 0..100")
        if shutdown_grace_seconds < 0:
            raise ValueError("shutdown_grace_seconds must be >= 0")
        if not dlq_sweep_interval_seconds >= 0:  # also refuses NaN
            raise ValueError("dlq_sweep_interval_seconds must be >= 0 (0 turns the sweep off)")
        if pool not in ("thread", "process"):
            raise ValueError(f"pool must be 'thread' or 'process', got {pool!r}")
        if pool == "process":
            app_spec = app_spec or app_spec_of(app)
            if app_spec is None:
                raise ValueError(
                    "pool='process' needs the app as module:attribute (app_spec=...): child processes import it"
                )
        self.pool = pool
        self.app_spec = app_spec
        self.app = app
        self.logical_queues = list(queues or app.logical_queues())
        self.concurrency = concurrency
        self.prefetch = prefetch
        wait = app.settings.wait_time_seconds if wait_time_seconds is None else wait_time_seconds
        self.wait_time_seconds = max(0, min(limits.SQS_MAX_WAIT_TIME_SECONDS, wait))
        self.burst = burst
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.dlq_sweep_interval_seconds = dlq_sweep_interval_seconds
        self.executor = Executor(app)
        self.stats = WorkerStats()
        self._slots = concurrency + prefetch
        self._held: dict[str, _Held] = {}  # by SQS message id
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._closed = threading.Event()
        self._acks: queue_mod.Queue[tuple[_Held, Outcome] | None] = queue_mod.Queue()
        self._work: queue_mod.Queue[_Held | None] = queue_mod.Queue()
        self._idle_queues: set[str] = set()
        self._signals = 0
        self._store_failures = 0
        self._paused_until = 0.0
        self._throttle = LogThrottle(log)
        self._procs: ProcessPool | None = None
        self._loop: EventLoopThread | None = None
        self._running = 0  # pool runs in progress (guarded by _cond)
        self._exclusive_waiting = 0  # last-receive messages waiting to run alone
        self._exclusive_running = False
        self._async_slots = asyncio.Semaphore(concurrency)

    # -- lifecycle ------------------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: first one stops gracefully, second exits at once (main thread only)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self._signals += 1
            if self._signals > 1:
                log.warning("second signal: exiting now; unfinished messages return after their visibility timeout")
                logging.shutdown()
                os._exit(1)
            log.info(
                "signal %d: stopping (grace %.0f s); send it again to exit at once", signum, self.shutdown_grace_seconds
            )
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def stop(self) -> None:
        """Ask the worker to stop gracefully (thread-safe; returns at once, :meth:`run` then returns)."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()

    def run(self) -> int:
        """Run until stopped (or, with ``burst``, until the queues are empty). Returns the exit code (0).

        Raises:
            QueueNotFound, ResultsTableNotFound, EndpointUnreachable: at start-up, with what to run.
        """
        infos = {name: self.app.transport.queue_info(self.app.queue_name(name)) for name in self.logical_queues}
        if self.pool == "process":
            assert self.app_spec is not None
            self._procs = ProcessPool(self.app_spec, self.concurrency)
            self._procs.start()  # raises ConfigError when a child cannot import the app
        if any(t.is_async for t in self.app.tasks.values()):
            self._loop = EventLoopThread(io_threads=max(4, min(32, self.concurrency)))
            self._loop.start()
        self._startup_report(infos)
        receivers = [
            threading.Thread(target=self._receive_loop, args=(name, info), name=f"sqsq-recv-{name}", daemon=True)
            for name, info in infos.items()
        ]
        acker = threading.Thread(target=self._ack_loop, name="sqsq-ack", daemon=True)
        heart = threading.Thread(target=self._heartbeat_loop, name="sqsq-heartbeat", daemon=True)
        # Daemon threads: a task still running after the grace period must not keep the process alive.
        pool = [
            threading.Thread(target=self._pool_loop, name=f"sqsq-task-{i}", daemon=True) for i in range(self.concurrency)
        ]
        sweeper = threading.Thread(target=self._sweep_loop, args=(infos,), name="sqsq-dlq-sweep", daemon=True)
        for t in [acker, heart, *pool, *receivers, *([sweeper] if self.dlq_sweep_interval_seconds else [])]:
            t.start()
        while not self._stopping.is_set():
            self._stopping.wait(MAIN_LOOP_TICK_SECONDS)
            if self.burst and len(self._idle_queues) == len(infos):
                with self._cond:
                    if not self._held:
                        break
        self.stop()
        self._shutdown(receivers)
        self._acks.put(None)
        acker.join(timeout=60)
        self._closed.set()
        for _ in pool:
            self._work.put(None)  # idle pool threads end; one still running a task ends with it
        self._close_pools()
        s = self.stats
        log.info(
            "worker stopped: %d received, %d succeeded, %d duplicates acknowledged, %d retried, %d dead-lettered, "
            "%d released, %d deferred, %d rescued, %d deletes failed, %d pool process deaths, %d came back while held "
            "(not rerun)",
            s.received, s.succeeded, s.duplicates, s.retried, s.dead_lettered, s.released, s.deferred, s.rescued,
            s.deletes_failed, s.child_deaths, s.redelivered_while_held,
        )
        return 0

    def _sweep_loop(self, infos: dict[str, QueueInfo]) -> None:
        """Every ``dlq_sweep_interval_seconds``, sweep the DLQs that hold messages (:mod:`sqsq.sweep`)."""
        while not self._closed.wait(self.dlq_sweep_interval_seconds):
            for logical, info in infos.items():
                if info.dead_letter_target_arn is None or self._stopping.is_set():
                    continue
                try:
                    report = sweep_dead_letters(self.app, logical)
                except Exception as exc:  # never lose the sweeper; the next round tries again
                    self._throttle.log(logging.WARNING, f"sweep:{logical}", "sweeping %s's DLQ failed: %s", logical, exc)
                    continue
                self.stats.dlq_rescued += len(report.rescued)
                self.stats.dlq_recorded += len(report.recorded)

    def _close_pools(self) -> None:
        """Stop the pool processes (killing any still running a released task) and the event loop."""
        if self._procs is not None:
            with self._cond:
                busy = any(h.started_at is not None and not h.finished for h in self._held.values())
            self._procs.close(kill=busy)
        if self._loop is not None:
            self._loop.stop()

    def _startup_report(self, infos: dict[str, QueueInfo]) -> None:
        log.info(
            "worker: queues %s, concurrency %d, prefetch %d, long poll WaitTimeSeconds=%d, MaxNumberOfMessages=10, "
            "visibility heartbeat on, shutdown grace %.0f s, pool %s%s",
            ", ".join(self.app.queue_name(q) for q in infos), self.concurrency, self.prefetch, self.wait_time_seconds,
            self.shutdown_grace_seconds, self.pool,
            f" ({self.concurrency} processes running {self.app_spec})" if self.pool == "process" else "",
        )
        if self._loop is not None:
            log.info("async tasks: awaited on one event loop, up to %d at once", self.concurrency)
        for name, info in infos.items():
            queue_name = self.app.queue_name(name)
            if info.max_receive_count is None:
                log.warning(
                    "queue %s has no redrive policy: tasks out of retries are recorded as FAILURE and deleted; "
                    "provision it with a DLQ (`sqsq provision APP`)", queue_name,
                )
            for task in self.app.tasks.values():
                if (task.queue or self.app.settings.default_queue) != name:
                    continue
                if task.max_retries is not None and info.max_receive_count is not None:
                    if task.max_retries + 1 > info.max_receive_count:
                        log.warning(
                            "task %s asks for %d retries but queue %s has maxReceiveCount=%d: it gets %d attempts",
                            task.name, task.max_retries, queue_name, info.max_receive_count,
                            attempts_allowed(task.max_retries, info.max_receive_count),
                        )
                limit = task.time_limit_seconds
                if limit is not None and limit > limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS:
                    log.warning(
                        "task %s has time_limit_seconds=%.0f but SQS keeps a message invisible for at most %d s "
                        "after its receive: a run that long comes back to the queue and may run twice",
                        task.name, limit, limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS,
                    )
                elif limit is not None and limit > info.visibility_timeout_seconds:
                    log.info(
                        "task %s: time_limit_seconds=%.0f exceeds queue %s's VisibilityTimeout=%d s; the visibility "
                        "heartbeat keeps its message invisible while it runs (up to the time limit)",
                        task.name, limit, queue_name, info.visibility_timeout_seconds,
                    )
                if task.claim and limit is None:
                    log.info(
                        "task %s claims its runs with a lease of %.0f s (no time_limit_seconds): a run longer than "
                        "that may be taken over by a redelivery", task.name, CLAIM_LEASE_DEFAULT_SECONDS,
                    )

    def _shutdown(self, receivers: list[threading.Thread]) -> None:
        deadline = time.monotonic() + self.shutdown_grace_seconds
        # Nothing starts once stopping is set (see _run_one), so every unstarted message can be released now, and
        # again as long polls in flight return more. A long poll in flight is waited for (at most WaitTimeSeconds,
        # within the grace period): what it returns is released at once. Abandoning it would strand a message sent
        # meanwhile for a whole visibility timeout and spend one of its receives.
        while True:
            self._release_unstarted()
            with self._cond:
                running = any(h.running for h in self._held.values())
            polling = any(r.is_alive() for r in receivers)
            if not running and not polling:
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        with self._cond:
            still = [h for h in self._held.values() if h.running]
            for h in still:
                h.released = True
        if still:
            log.warning("%d task(s) still running after the grace period: releasing their messages", len(still))
            self._release(still)
        self._release_unstarted()
        if any(r.is_alive() for r in receivers):
            log.warning(
                "a long poll was still in flight after the %.0f s grace period: any message it returns comes back "
                "after its visibility timeout", self.shutdown_grace_seconds,
            )

    def _release_unstarted(self) -> None:
        with self._cond:
            unstarted = [h for h in self._held.values() if h.started_at is None and not h.released]
            for h in unstarted:
                h.released = True
        if unstarted:
            self._release(unstarted)

    # -- receiving ------------------------------------------------------------------------------------------

    def _receive_loop(self, logical: str, info: QueueInfo) -> None:
        queue_name = self.app.queue_name(logical)
        failures = 0
        last_empty = last_partial = True
        while not self._stopping.is_set():
            with self._cond:
                # Receive only when a whole batch (or all free slots) fits, to keep requests per task low.
                want = min(limits.SQS_MAX_RECEIVE_MESSAGES, self._slots)
                while self._slots - self._unfinished() < want and not self._stopping.is_set():
                    self._cond.wait(0.5)
                room = self._slots - self._unfinished()
            pause = self._paused_until - time.monotonic()
            if pause > 0:
                self._stopping.wait(pause)
                continue
            if self._stopping.is_set():
                return
            try:
                # Burst mode asks for the queue's counts before the first receive and after an empty one (never per
                # full receive), so an empty queue ends the run at once instead of after a 20 s long poll.
                drained = self.burst and last_empty and self._queue_drained(queue_name)
                # After a receive that got fewer messages than it asked for, the queue is nearly empty: in burst
                # mode the next poll is short, so the run ends soon after the last message instead of 20 s later.
                wait = min(1, self.wait_time_seconds) if self.burst and last_partial else self.wait_time_seconds
                asked = min(room, limits.SQS_MAX_RECEIVE_MESSAGES)
                messages = [] if drained else self.app.transport.receive(queue_name, asked, wait)
                last_empty = not messages
                last_partial = len(messages) < asked
            except Exception as exc:  # AwsError, or anything unexpected: the loop must survive
                failures += 1
                self.stats.receive_failures += 1
                delay = min(AWS_ERROR_BACKOFF_MAX_SECONDS, AWS_ERROR_BACKOFF_BASE_SECONDS * 2 ** (failures - 1))
                code = exc.code if isinstance(exc, AwsError) else None
                hint = (
                    "; the request signature was refused: is the host's clock right (clock skew)?"
                    if code in _CLOCK_SKEW_CODES else ""
                )
                self._throttle.log(
                    logging.ERROR, f"receive:{queue_name}",
                    "receive from %s failed %d time(s) in a row: %s%s; retrying in %.1f s",
                    queue_name, failures, exc, hint, delay,
                )
                self._stopping.wait(delay)
                continue
            if failures:
                log.info("receive from %s works again after %d failure(s)", queue_name, failures)
                failures = 0
            if drained:
                # Burst mode: this queue is done; another long poll would only delay the exit.
                self._idle_queues.add(logical)
                return
            self._idle_queues.discard(logical)
            if messages:
                self._take(messages, info)

    def _unfinished(self) -> int:
        """Held messages that still take a slot: waiting or running. Caller holds ``self._cond``.

        A finished message waiting for its batched delete no longer takes a slot, so receiving goes on while
        deletes are batched (a finished message's outcome is already durable).
        """
        return sum(1 for h in self._held.values() if not h.finished and not h.released)

    def _take(self, messages: list[ReceivedMessage], info: QueueInfo) -> None:
        now = time.monotonic()
        release: list[_Held] = []
        with self._cond:
            for m in messages:
                current = self._held.get(m.message_id)
                if current is not None and current.absorbs_redelivery:
                    # Its visibility lapsed while held here (a heartbeat failed) and SQS handed it out again:
                    # keep running the one copy, with the newest receipt handle (the one SQS honours).
                    current.receipt_handle = m.receipt_handle
                    current.visible_until = now + info.visibility_timeout_seconds
                    self.stats.redelivered_while_held += 1
                    log.debug("message %s came back while held; not run a second time", m.message_id)
                    continue
                task = self._peek_task(m.body)
                held = _Held(
                    m, info, m.receipt_handle, received_at=now, visible_until=now + info.visibility_timeout_seconds,
                    time_limit_seconds=None if task is None else task.time_limit_seconds,
                )
                self.stats.received += 1
                if self._stopping.is_set():
                    held.released = True
                    release.append(held)
                    continue
                self._held[m.message_id] = held
                if task is not None and task.is_async and self._loop is not None:
                    self._loop.submit(self._run_async(held))
                else:
                    self._work.put(held)
        if release:
            self._release(release)

    def _peek_task(self, body: str) -> Task[Any, Any] | None:
        """The task a message names (peeked from the envelope), or None (the executor then records why)."""
        try:
            name = json.loads(body).get("task")
        except (ValueError, TypeError, AttributeError, RecursionError):  # the executor records why
            return None
        return self.app.tasks.get(name) if isinstance(name, str) else None

    def _queue_drained(self, queue_name: str) -> bool:
        with self._cond:
            if any(h.message.queue_name == queue_name for h in self._held.values()):
                return False
        depth = self.app.transport.depth(queue_name)
        return depth.visible == 0 and depth.in_flight == 0 and depth.delayed == 0

    # -- running --------------------------------------------------------------------------------------------

    def _pool_loop(self) -> None:
        while True:
            held = self._work.get()
            if held is None:
                return
            try:
                self._run_one(held)
            except BaseException:  # never lose a pool thread (a task's SystemExit is recorded by the executor)
                log.exception("unexpected error handling message %s", held.message.message_id)

    def _start(self, held: _Held, *, isolate: bool = True) -> bool:
        """Mark ``held`` started unless stopping or released. False: do not run it.

        A message on its last receive runs alone (``isolate``; pool runs, not the event loop's): it waits until
        nothing else runs here, and nothing else starts until it is done. So if this worker dies during that run,
        the ConsumerDied marker it left (:mod:`sqsq.executor`) blames the one task that was running, not innocent
        neighbours that happened to share the process with a poison task.
        """
        exclusive = isolate and self._last_receive(held)
        with self._cond:
            if exclusive:
                self._exclusive_waiting += 1
            try:
                while True:
                    # Checked under the lock _shutdown uses to pick unstarted messages, so a message is either
                    # released or run, never both.
                    if self._stopping.is_set() or held.released:
                        return False
                    if exclusive and self._running == 0:
                        break
                    if not exclusive and not (isolate and (self._exclusive_waiting or self._exclusive_running)):
                        break
                    self._cond.wait(MAIN_LOOP_TICK_SECONDS)
            finally:
                if exclusive:
                    self._exclusive_waiting -= 1
            held.started_at = time.monotonic()
            if isolate:
                held.counted = True
                self._running += 1
                self._exclusive_running = self._exclusive_running or exclusive
            return True

    def _last_receive(self, held: _Held) -> bool:
        return is_last_receive(held.message.receive_count, held.info.max_receive_count)

    def _run_one(self, held: _Held) -> None:
        if not self._start(held):
            return
        outcome: Outcome | None
        try:
            outcome = self._execute(held)
        except ChildProcessDied as exc:
            self.stats.child_deaths += 1
            held.child_died = True
            log.warning(
                "message %s: %s; nothing was recorded, it comes back in %d s", held.message.message_id, exc,
                CHILD_DIED_RELEASE_SECONDS,
            )
            outcome = Release(CHILD_DIED_RELEASE_SECONDS, str(exc))
        except Exception as exc:  # the executor never raises for task errors; this is a bug
            log.exception("executor error on message %s: %s", held.message.message_id, exc)
            outcome = Release(EXECUTOR_BUG_RELEASE_SECONDS, f"{type(exc).__name__}: {exc}")
        if outcome is not None:
            self._done(held, outcome)

    def _done(self, held: _Held, outcome: Outcome) -> None:
        held.outcome = outcome
        # Hand the outcome over before marking it finished, so shutdown waits until the acknowledger has it.
        self._acks.put((held, outcome))
        with self._cond:
            held.finished = True
            if held.counted:
                held.counted = False
                self._running -= 1
                if self._running == 0:
                    self._exclusive_running = False
            self._cond.notify_all()

    def _execute(self, held: _Held) -> Outcome | None:
        """Run one message here (thread pool) or its task body in a pool process; record; return the outcome
        (None: the time-limit watchdog already recorded and returned it).

        Raises:
            ChildProcessDied: the pool process running it died.
        """
        prepared = self.executor.prepare(held.message, held.info.max_receive_count)
        if not isinstance(prepared, Prepared):
            return prepared
        with task_log_context(prepared.task.name, prepared.base.task_id) as task_log:  # sqsq.logs: task on each line
            return task_log.finished(self._run_prepared(held, prepared))  # the one INFO line per finished task

    def _run_prepared(self, held: _Held, prepared: Prepared) -> Outcome | None:
        if self._procs is None:
            return self._run_on_thread(held, prepared)
        started = time.monotonic()
        if prepared.task.is_async:  # an async task not routed to the event loop: run it on this thread
            try:
                value = prepared.task.run(prepared.model)
            except BaseException as exc:  # SystemExit, KeyboardInterrupt... raised by a task are its failure
                return self.executor.finish(prepared, error=exc)
            return self._finish_value(prepared, value, time.monotonic() - started)
        try:
            ended = self._procs.run(prepared.task.name, prepared.args, prepared.task.time_limit_seconds)
        except TimeLimitExceeded as exc:  # the pool stopped the child at the limit
            log.warning("task %s %s: %s", prepared.base.task_id, prepared.task.name, exc)
            return self.executor.finish(prepared, error=exc)
        except ChildProcessDied as exc:
            # The attempt is lost, not failed: retried whatever retry_on says; the last one records FAILURE.
            self.stats.child_deaths += 1
            held.child_died = True
            log.warning("message %s: %s", held.message.message_id, exc)
            return self.executor.finish(prepared, error=exc)
        return self.executor.finish(
            prepared, result_json=ended.result_json, error=ended.error, encode_error=ended.encode_error,
            duration_seconds=time.monotonic() - started,
        )

    def _run_on_thread(self, held: _Held, prepared: Prepared) -> Outcome | None:
        """Run the task body on this pool thread; None when the time-limit watchdog finished it meanwhile."""
        with self._cond:
            held.prepared = prepared
        started = time.monotonic()
        error: BaseException | None = None
        value: Any = None
        try:
            value = prepared.task.run(prepared.model)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt... raised by a task are its failure
            error = exc
        with self._cond:
            if held.timed_out:
                log.warning("task %s %s finished %.1f s after its time limit; its outcome was already recorded "
                            "(TimeLimitExceeded) and is discarded", prepared.base.task_id, prepared.task.name,
                            time.monotonic() - started - (prepared.task.time_limit_seconds or 0))
                return None
            held.finishing = True
        if error is not None:
            return self.executor.finish(prepared, error=error)
        return self._finish_value(prepared, value, time.monotonic() - started)

    def _enforce_time_limits(self) -> None:
        """Record TimeLimitExceeded for thread-pool runs past their task's limit and act on their messages.

        A thread cannot be stopped: it runs on, and its late outcome is discarded (:meth:`_run_on_thread`). The
        process pool and the event loop stop their runs themselves.
        """
        now = time.monotonic()
        overdue: list[tuple[_Held, Prepared]] = []
        with self._cond:
            for h in self._held.values():
                p, limit = h.prepared, h.time_limit_seconds
                if p is None or limit is None or h.started_at is None or h.finishing or h.timed_out or h.finished:
                    continue
                if now - h.started_at > limit:
                    h.timed_out = True
                    overdue.append((h, p))
        for h, p in overdue:
            exc = TimeLimitExceeded(
                f"task {p.task.name} ran past its time_limit_seconds={p.task.time_limit_seconds}; on the thread pool "
                "it cannot be stopped (use --pool process, or an async task, to stop it at the limit)"
            )
            log.warning("task %s %s exceeded its time limit of %s s: recorded; the thread runs on",
                        p.base.task_id, p.task.name, p.task.time_limit_seconds)
            self._done(h, self.executor.finish(p, error=exc))

    def _finish_value(self, prepared: Prepared, value: Any, duration_seconds: float) -> Outcome:
        """Encode what a task returned and record the outcome."""
        try:
            result_json = encode_result(prepared.task, value)
        except Exception as exc:
            return self.executor.finish(prepared, encode_error=exc)
        return self.executor.finish(prepared, result_json=result_json, duration_seconds=duration_seconds)

    # -- async tasks (on the event loop) --------------------------------------------------------------------

    async def _run_async(self, held: _Held) -> None:
        """Await one async task on the loop: up to ``concurrency`` at once; store I/O on the loop's threads."""
        async with self._async_slots:
            if not self._start(held, isolate=False):  # never block the event loop waiting for isolation
                return
            try:
                outcome = await self._execute_async(held)
            except Exception as exc:  # a bug: log it, keep the message
                log.exception("error running async message %s: %s", held.message.message_id, exc)
                outcome = Release(EXECUTOR_BUG_RELEASE_SECONDS, f"{type(exc).__name__}: {exc}")
            self._done(held, outcome)

    async def _execute_async(self, held: _Held) -> Outcome:
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(None, self.executor.prepare, held.message, held.info.max_receive_count)
        if not isinstance(prepared, Prepared):
            return prepared
        started = time.monotonic()
        limit = prepared.task.time_limit_seconds
        try:
            value = prepared.task.call(prepared.model)
            if asyncio.iscoroutine(value):
                value = await asyncio.wait_for(value, timeout=limit)  # cancels the coroutine at the limit
        except TimeoutError:
            late = TimeLimitExceeded(f"task {prepared.task.name} ran past its time_limit_seconds={limit}; cancelled")
            return await loop.run_in_executor(None, lambda: self.executor.finish(prepared, error=late))
        except asyncio.CancelledError:
            raise  # the loop is shutting down: the message is released, not failed
        except BaseException as exc:  # SystemExit, KeyboardInterrupt... raised by a task are its failure
            error = exc
            return await loop.run_in_executor(None, lambda: self.executor.finish(prepared, error=error))
        return await loop.run_in_executor(None, self._finish_value, prepared, value, time.monotonic() - started)

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
            try:
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
            except Exception:  # never lose the acknowledger; what it did not delete comes back and is deduplicated
                log.exception("unexpected error acknowledging messages")

    def _route(
        self,
        held: _Held,
        outcome: Outcome,
        deletes: dict[str, list[_Held]],
        visibility: dict[str, list[tuple[_Held, int]]],
    ) -> None:
        if held.released:
            # Released after the grace period while it ran: another worker may hold it now. Its outcome is
            # recorded (when it succeeded), so the redelivery is acknowledged as a duplicate.
            return
        queue_name = held.message.queue_name
        if isinstance(outcome, Release) and not outcome.deferred and not held.child_died:
            self._store_failed()
        else:
            self._store_failures = 0
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
            if outcome.deferred:
                self.stats.deferred += 1
            else:
                self.stats.released += 1
            if self._rescued(held):
                deletes.setdefault(queue_name, []).append(held)
            else:
                visibility.setdefault(queue_name, []).append((held, clamp_visibility_seconds(outcome.delay_seconds)))
        elif isinstance(outcome, DeadLetter):
            self.stats.dead_lettered += 1
            if self._move_to_dlq(held):
                deletes.setdefault(queue_name, []).append(held)
            else:
                self._forget(held)

    def _store_failed(self) -> None:
        """The results store could not be written: pause receiving (growing, capped) so messages wait in SQS."""
        self._store_failures += 1
        pause = min(AWS_ERROR_BACKOFF_MAX_SECONDS, AWS_ERROR_BACKOFF_BASE_SECONDS * 2 ** (self._store_failures - 1))
        self._paused_until = max(self._paused_until, time.monotonic() + pause)
        self._throttle.log(
            logging.WARNING, "store",
            "results store unavailable (%d failure(s) in a row): receiving paused for %.1f s; messages stay in SQS",
            self._store_failures, pause,
        )

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
            self._throttle.log(
                logging.ERROR, "dlq",
                "moving message %s to %s failed (%s); it stays in its queue and comes back",
                held.message.message_id, dlq_name, exc,
            )
            return False
        if failed:
            self._throttle.log(
                logging.ERROR, "dlq", "moving message %s to %s rejected: %s %s; it stays in its queue",
                held.message.message_id, dlq_name, failed[0].code, failed[0].message,
            )
            return False
        return True

    def _batch_with_retries(
        self, queue_name: str, items: list[_Held], call: Callable[[list[_Held]], list[BatchFailure]]
    ) -> list[tuple[_Held, str]]:
        """Run a batch call, trying failed entries again (not those SQS says can never succeed).

        Returns:
            ``(held, "Code: message")`` for each entry that failed for good.
        """
        pending = list(items)
        final: list[tuple[_Held, str]] = []
        for attempt in range(ACK_ENTRY_ATTEMPTS):
            try:
                failed = [(pending[int(f.id)], f"{f.code}: {f.message}", f.sender_fault) for f in call(pending)]
            except AwsError as exc:
                failed = [(h, f"{exc.code or type(exc).__name__}: {exc}", False) for h in pending]
            final += [(h, why) for h, why, sender_fault in failed if sender_fault]
            transient = [(h, why) for h, why, sender_fault in failed if not sender_fault]
            if not transient or attempt == ACK_ENTRY_ATTEMPTS - 1:
                return final + transient
            pending = [h for h, _ in transient]
            time.sleep(ACK_ENTRY_RETRY_SECONDS * 2**attempt)
        return final

    def _flush_deletes(self, queue_name: str, items: list[_Held]) -> None:
        def call(hs: list[_Held]) -> list[BatchFailure]:
            return self.app.transport.delete_batch(queue_name, [h.receipt_handle for h in hs])

        failed = self._batch_with_retries(queue_name, items, call)
        if failed:
            self.stats.deletes_failed += len(failed)
            self._throttle.log(
                logging.WARNING, f"delete:{queue_name}",
                "delete on %s failed for message(s) %s (%s); their results are recorded, so a redelivery is "
                "acknowledged as a duplicate without running", queue_name,
                ", ".join(h.message.message_id for h, _ in failed), failed[0][1],
            )
        for h in items:
            self._forget(h)

    def _flush_visibility(self, queue_name: str, items: list[tuple[_Held, int]]) -> None:
        seconds = {id(h): s for h, s in items}

        def call(hs: list[_Held]) -> list[BatchFailure]:
            return self.app.transport.change_visibility_batch(queue_name, [(h.receipt_handle, seconds[id(h)]) for h in hs])

        failed = self._batch_with_retries(queue_name, [h for h, _ in items], call)
        if failed:
            self.stats.visibility_changes_failed += len(failed)
            self._throttle.log(
                logging.WARNING, f"visibility:{queue_name}",
                "visibility change on %s failed for message(s) %s (%s); they are not deleted and come back after "
                "their visibility timeout", queue_name, ", ".join(h.message.message_id for h, _ in failed), failed[0][1],
            )
        for h, _ in items:
            self._forget(h)

    def _forget(self, held: _Held) -> None:
        with self._cond:
            if self._held.get(held.message.message_id) is held:
                del self._held[held.message.message_id]
            self._cond.notify_all()

    def _rescued(self, held: _Held) -> bool:
        """On the message's last receive, send its rescued copy (:mod:`sqsq.rescue`); True: delete the original."""
        if not self._last_receive(held):
            return False
        if send_rescue(self.app, held.message.queue_name, held.message):
            self.stats.rescued += 1
            log.info("message %s: last receive (%d of %d) given back without an outcome; rescued as a fresh copy",
                     held.message.message_id, held.message.receive_count, held.info.max_receive_count)
            return True
        return False

    def _release(self, items: Sequence[_Held]) -> None:
        """Visibility 0 for messages we will not run (or finish), so others receive them at once; on their last
        receive, a rescued copy instead (the original deleted), so giving them back cannot dead-letter them."""
        by_queue: dict[str, list[_Held]] = {}
        rescued: dict[str, list[_Held]] = {}
        for h in items:
            target = rescued if self._rescued(h) else by_queue
            target.setdefault(h.message.queue_name, []).append(h)
        for queue_name, hs in rescued.items():
            for i in range(0, len(hs), limits.SQS_MAX_BATCH_ENTRIES):
                self._flush_deletes(queue_name, hs[i : i + limits.SQS_MAX_BATCH_ENTRIES])
        for queue_name, hs in by_queue.items():
            for i in range(0, len(hs), limits.SQS_MAX_BATCH_ENTRIES):
                chunk = hs[i : i + limits.SQS_MAX_BATCH_ENTRIES]
                self.stats.released += len(chunk)
                self._flush_visibility(queue_name, [(h, 0) for h in chunk])

    # -- heartbeat ------------------------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        while not self._closed.is_set():
            self._closed.wait(HEARTBEAT_TICK_SECONDS)
            try:
                self._enforce_time_limits()
                self._heartbeat_once()
            except Exception:  # never lose the heartbeat
                log.exception("unexpected error in the visibility heartbeat")

    def _heartbeat_once(self) -> None:
        now = time.monotonic()
        due: dict[str, list[tuple[_Held, int, float]]] = {}
        with self._cond:
            for h in self._held.values():
                if h.finished or h.released:
                    continue
                extend = heartbeat_extension_seconds(
                    now=now,
                    received_at=h.received_at,
                    visible_until=h.visible_until,
                    visibility_timeout_seconds=h.info.visibility_timeout_seconds,
                    started_at=h.started_at,
                    time_limit_seconds=h.time_limit_seconds,
                )
                if extend is None:
                    continue
                due.setdefault(h.message.queue_name, []).append((h, extend, h.visible_until))
                h.visible_until = now + extend
        for queue_name, entries in due.items():
            for i in range(0, len(entries), limits.SQS_MAX_BATCH_ENTRIES):
                chunk = entries[i : i + limits.SQS_MAX_BATCH_ENTRIES]
                try:
                    failures = self.app.transport.change_visibility_batch(
                        queue_name, [(h.receipt_handle, s) for h, s, _ in chunk]
                    )
                except AwsError as exc:
                    failures = [BatchFailure(str(j), exc.code or "", str(exc), False) for j in range(len(chunk))]
                for f in failures:
                    h, _, before = chunk[int(f.id)]
                    with self._cond:
                        h.visible_until = min(h.visible_until, before)  # try again on the next tick
                    self._throttle.log(
                        logging.WARNING, f"heartbeat:{queue_name}",
                        "heartbeat on %s could not extend message %s: %s %s",
                        queue_name, h.message.message_id, f.code, f.message,
                    )
