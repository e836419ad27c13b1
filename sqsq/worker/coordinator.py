"""The :class:`Worker`: builds the parts (:mod:`sqsq.worker`), starts their threads, and stops them in order."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from sqsq import limits
from sqsq.app import App
from sqsq.errors import ConfigError
from sqsq.executor import Executor, LogThrottle, Outcome
from sqsq.logs import flush_logs
from sqsq.pools import app_spec_of
from sqsq.transport import QueueInfo
from sqsq.worker.acknowledger import Acknowledger
from sqsq.worker.dispatch import Dispatcher
from sqsq.worker.duplicates import DuplicateGate
from sqsq.worker.emf import EmfEmitter, metrics_namespace
from sqsq.worker.gate import StartGate
from sqsq.worker.groups import GroupGate
from sqsq.worker.heartbeat import Heartbeat
from sqsq.worker.receiver import Receiver
from sqsq.worker.registry import REGISTRY_INTERVAL_SECONDS, Registry
from sqsq.worker.shutdown import install_signal_handlers, shut_down
from sqsq.worker.slots import Held, Slots
from sqsq.worker.startup import report_startup
from sqsq.worker.stats import WorkerStats
from sqsq.worker.sweeper import DLQ_SWEEP_INTERVAL_SECONDS, sweep_loop

if TYPE_CHECKING:
    from sqsq.pools.process import ProcessPool

log = logging.getLogger("sqsq.worker")

MAIN_LOOP_TICK_SECONDS = 0.1
"""How often the main thread checks for a stop request or (burst mode) drained queues."""
ACKNOWLEDGER_JOIN_SECONDS = 60.0
"""Longest the main thread waits at the end for the acknowledger to flush."""
GATE_RELEASE_JOIN_SECONDS = 10.0
"""After a failed start, longest the main thread waits (past a long poll's WaitTimeSeconds) for the receivers to make
what they got visible again."""


class Worker:
    """Polls queues and runs their tasks.

    Args:
        app: the app (its registry, transport and results store).
        queues: logical queue names; default: every queue the app's tasks use.
        concurrency: tasks run at once, >= 1: threads (or child processes with ``pool="process"``) for ``def``
            tasks, and as many ``async def`` tasks on the event loop.
        prefetch: messages held beyond ``concurrency`` (received ahead while tasks run), 0-100. Messages whose task
            ran and whose result write is in flight take no slot: up to ``concurrency + prefetch`` more of them are
            held until written and deleted (:mod:`sqsq.worker.writers`).
        wait_time_seconds: ReceiveMessage WaitTimeSeconds (long poll), 0-20; default from settings (20).
        burst: exit once every queue is empty (nothing visible, in flight or delayed) and nothing is held.
        shutdown_grace_seconds: how long running tasks may finish after SIGTERM before their messages are released.
        pool: ``"thread"`` (default) runs ``def`` tasks on threads; ``"process"`` runs them in child processes
            (CPU-bound tasks: no GIL contention), which import the app by ``app_spec``.
        app_spec: the app's ``module:attribute`` for ``pool="process"``; default: found from the tasks' modules.
        dlq_sweep_interval_seconds: how often the DLQs are swept (:mod:`sqsq.sweep`); 0 turns the sweep off.
        registry_interval_seconds: how often the worker reports itself to the results table
            (:mod:`sqsq.worker.registry`, one PutItem each); 0 turns the registry off.
        emf_metrics: print CloudWatch embedded-metric-format lines per task outcome (:mod:`sqsq.worker.emf`).

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
        registry_interval_seconds: float = REGISTRY_INTERVAL_SECONDS,
        emf_metrics: bool = False,
    ):
        app_spec = _check_arguments(app, concurrency, prefetch, shutdown_grace_seconds, dlq_sweep_interval_seconds,
                                    pool, app_spec)
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
        self._stopping = threading.Event()
        self._closed = threading.Event()
        self._throttle = LogThrottle(log)
        self._slots = Slots(concurrency + prefetch, self._stopping)
        self._acks = Acknowledger(app, self._slots, self.stats, self._throttle,
                                  after_move=lambda held, moved: self._groups.moved(held, moved))
        # One delivery per task id at a time (sqsq.worker.duplicates), behind the FIFO gate: one message per message
        # group at a time, in order (sqsq.worker.groups)
        self._same_task = DuplicateGate(submit=lambda held: self._dispatcher.submit(held), stats=self.stats,
                                        room_changed=self._slots.room_changed)
        self._groups = GroupGate(submit=self._same_task.dispatch, release=self._acks.release)
        self._dispatcher = Dispatcher(
            app, self.executor, self._slots, self._acks, self.stats, concurrency=concurrency, pool=pool,
            app_spec=app_spec, after_done=self._after_done, writers=concurrency + prefetch,
        )
        self._gate = StartGate()
        self._receiver = Receiver(
            app, self._slots, self._acks, self.stats, self._stopping, self._dispatch_received,
            wait_time_seconds=self.wait_time_seconds, burst=burst, throttle=self._throttle, gate=self._gate,
        )
        emf = EmfEmitter(metrics_namespace(), app.name, self.stats) if emf_metrics else None
        self._registry = Registry(
            app, [app.queue_name(q) for q in self.logical_queues], concurrency, self.stats,
            lambda: len(self._slots.held), registry_interval_seconds, self._throttle, emf,
        )
        self._heartbeat = Heartbeat(app, self._slots, self._closed, self._dispatcher.enforce_time_limits, self._throttle)

    def _dispatch_received(self, received: list[Held]) -> None:
        """Pass a receive's messages through the gates (FIFO group, then task id); the pool gets them at once."""
        with self._dispatcher.work.gathered():
            for held in received:
                self._groups.dispatch(held)

    def _after_done(self, held: Held, outcome: Outcome) -> None:
        """``held`` has its recorded outcome: the next delivery of its task id, then of its FIFO group, may start."""
        self._same_task.finished(held, outcome)
        self._groups.finished(held, outcome)

    @property
    def _procs(self) -> ProcessPool | None:
        """The process pool (``pool="process"``, while running), else None."""
        return self._dispatcher.procs

    @property
    def _paused_until(self) -> float:
        """Monotonic seconds until which receiving pauses because the results store failed."""
        return self._acks.paused_until

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: first one stops gracefully, second exits at once (main thread only)."""
        install_signal_handlers(self.stop, self.shutdown_grace_seconds)

    def stop(self) -> None:
        """Ask the worker to stop gracefully (thread-safe; returns at once, :meth:`run` then returns)."""
        self._stopping.set()
        with self._slots.cond:
            self._slots.cond.notify_all()

    def run(self) -> int:
        """Run until stopped (or, with ``burst``, until the queues are empty). Returns the exit code (0).

        Raises:
            QueueNotFound, ResultsTableNotFound, EndpointUnreachable: at start-up, with what to run.
            ConfigError: ``pool="process"`` and a pool process could not import the app.
        """
        for name in self.logical_queues:  # QueueNotFound here, before anything is received
            self.app.transport.queue_url(self.app.queue_name(name))
        # The first receive goes out now; what it returns waits at the gate until the rest has started
        # (sqsq.worker.gate): the queues' attributes, the pool, the acknowledger and the heartbeat.
        receivers = [
            threading.Thread(target=self._receiver.run, args=(name,), name=f"sqsq-recv-{name}", daemon=True)
            for name in self.logical_queues
        ]
        for t in receivers:
            t.start()
        try:
            infos, threads = self._start_the_rest()
        except ConfigError as exc:
            stopped = self._stopping.is_set()  # before _end_failed_start sets it
            self._end_failed_start(receivers)
            if stopped and self.pool == "process":
                # A stop sent to the worker's process group (a service manager, Ctrl-C) also reaches pool children
                # still starting, before they move to a group of their own: their deaths are that stop, not the app.
                log.info("stopped while the pool processes started (the stop signal reached them too)")
                log.debug("the pool's start ended with: %s", exc)
                return 0
            raise
        except BaseException:
            self._end_failed_start(receivers)
            raise
        self._gate.open(infos)
        while not self._stopping.is_set():
            self._stopping.wait(MAIN_LOOP_TICK_SECONDS)
            if self.burst and len(self._receiver.drained) == len(infos) and self._slots.empty():
                break
        self.stop()
        shut_down(self._slots, self._acks, receivers, self.shutdown_grace_seconds)
        self._acks.close()
        threads["acker"].join(timeout=ACKNOWLEDGER_JOIN_SECONDS)
        self._closed.set()
        self._dispatcher.close()
        threads["registry"].join(timeout=ACKNOWLEDGER_JOIN_SECONDS)
        log.info("worker stopped: %s", self.stats.summary())
        return 0

    def _end_failed_start(self, receivers: list[threading.Thread]) -> None:
        """Fail the gate and wait for every receiver: one at the gate makes its messages visible again, one whose
        long poll is in flight does so when the poll returns (abandoned, the poll would take a message sent
        meanwhile and strand it, invisible, for the queue's visibility timeout once this process exits)."""
        self.stop()
        self._gate.fail()
        if any(t.is_alive() and name not in self._receiver.at_gate
               for name, t in zip(self.logical_queues, receivers, strict=True)):
            log.info("start failed: waiting for the long poll in flight (at most %d s) to release what it returns",
                     self.wait_time_seconds)
        deadline = time.monotonic() + self.wait_time_seconds + GATE_RELEASE_JOIN_SECONDS
        for t in receivers:
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    def _start_the_rest(self) -> tuple[dict[str, QueueInfo], dict[str, threading.Thread]]:
        """Read the queues' attributes, start the pool and the other threads; (infos, threads by role)."""
        infos = {name: self.app.transport.queue_info(self.app.queue_name(name)) for name in self.logical_queues}
        self._dispatcher.start()
        async_concurrency = self.concurrency if self._dispatcher.loop is not None else None
        report_startup(self.app, infos, self._settings_line(infos), async_concurrency)
        # INFO lines are written in batches (sqsq.log_buffer): write the start-up's now, so a worker that a task
        # kills at once (os._exit, out of memory) still shows how it started, once per restart of a crash loop.
        flush_logs()
        # Daemon threads: a task still running after the grace period must not keep the process alive.
        threads = {
            "acker": threading.Thread(target=self._acks.run, name="sqsq-ack", daemon=True),
            "heart": threading.Thread(target=self._heartbeat.run, name="sqsq-heartbeat", daemon=True),
            "registry": threading.Thread(target=self._registry.run, args=(self._closed,), name="sqsq-registry",
                                         daemon=True),
        }
        if self.dlq_sweep_interval_seconds:
            threads["sweeper"] = threading.Thread(
                target=sweep_loop, name="sqsq-dlq-sweep", daemon=True,
                args=(self.app, infos, self.dlq_sweep_interval_seconds, self._closed, self._stopping, self.stats,
                      self._throttle),
            )
        for t in threads.values():
            t.start()
        return infos, threads

    def _settings_line(self, infos: dict[str, QueueInfo]) -> str:
        procs = f" ({self.concurrency} processes running {self.app_spec})" if self.pool == "process" else ""
        return (
            f"queues {', '.join(self.app.queue_name(q) for q in infos)}, concurrency {self.concurrency}, prefetch "
            f"{self.prefetch}, long poll WaitTimeSeconds={self.wait_time_seconds}, MaxNumberOfMessages=10, "
            f"visibility heartbeat on, shutdown grace {self.shutdown_grace_seconds:.0f} s, pool {self.pool}{procs}"
        )


def _check_arguments(
    app: App,
    concurrency: int,
    prefetch: int,
    shutdown_grace_seconds: float,
    dlq_sweep_interval_seconds: float,
    pool: str,
    app_spec: str | None,
) -> str | None:
    """Refuse arguments out of range; returns the app spec (found from the tasks' modules for ``pool="process"``)."""
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
            raise ValueError("pool='process' needs the app as module:attribute (app_spec=...): child processes import it")
    return app_spec
