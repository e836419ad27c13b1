"""The pools: where a held message's task runs, and how its outcome reaches the acknowledger.

- ``def`` tasks run on ``concurrency`` daemon threads (a task still running after the shutdown grace must not keep
  the process alive), or with ``pool="process"`` (``sqsq worker --pool process``, CPU-bound tasks) their bodies
  run in ``concurrency`` child processes (:class:`sqsq.pools.ProcessPool`). The results store is written and every
  SQS call is made from this process either way, so a child holds no AWS client and a dying child loses nothing:
  its message is released and that child alone is replaced;
- ``async def`` tasks are awaited on one long-lived event loop (:class:`sqsq.pools.EventLoopThread`), up to
  ``concurrency`` at once, none holding a thread while it awaits.

A thread-pool run hands its outcome's write to the writer pool (:mod:`sqsq.worker.writers`, which says what stays
ordered) and takes the next message; the hand-off frees its slot, so receiving goes on while writes are in flight.

Thread-pool runs past their task's ``time_limit_seconds`` are recorded as TimeLimitExceeded by a watchdog
(:meth:`Dispatcher.enforce_time_limits`, on the heartbeat's tick): a thread cannot be stopped, so it runs on and
its late outcome is discarded. The process pool and the event loop stop their runs themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from sqsq.app import App
from sqsq.context import task_context
from sqsq.errors import TimeLimitExceeded
from sqsq.executor import Executor, Outcome, Prepared, Release
from sqsq.logs import TaskLog, task_log_context
from sqsq.pools import ChildProcessDied
from sqsq.rescue import is_last_receive
from sqsq.worker.acknowledger import Acknowledger
from sqsq.worker.slots import Held, Slots
from sqsq.worker.stats import WorkerStats
from sqsq.worker.work import WorkQueue
from sqsq.worker.writers import WriterPool

if TYPE_CHECKING:
    import asyncio

    from sqsq.pools.aio import EventLoopThread
    from sqsq.pools.process import ProcessPool

log = logging.getLogger("sqsq.worker")

CHILD_DIED_RELEASE_SECONDS = 1
"""Visibility given back to a message whose pool process died under it (``--pool process``): it comes back soon."""
EXECUTOR_BUG_RELEASE_SECONDS = 10
"""Visibility given back to a message when handling it raised unexpectedly (a bug, logged with its traceback)."""


@dataclass(frozen=True)
class _Write:
    """A finished thread-pool run whose outcome is still to be recorded: ``record()`` writes, returns the outcome."""

    record: Callable[[], Outcome]


def _hands_off(prepared: Prepared) -> bool:
    """Whether a thread-pool run's write goes to the writer pool: not for claimed runs (``claim=True`` tasks, workflow
    steps, redriven copies), whose lease would stay live while the write waits, deferring their duplicates."""
    envelope = prepared.envelope
    return not (prepared.task.claim or envelope.flow is not None or envelope.generation > 0)


class Dispatcher:
    """Runs held messages on the pool threads, a process pool or the event loop; hands outcomes on.

    Args:
        app: the app (its tasks; for ``pool="process"``, children import it by ``app_spec``).
        executor: prepares and records each message.
        slots: the held messages (who may start).
        acks: where outcomes go.
        stats: counters to update.
        concurrency: threads (or processes) for ``def`` tasks, and ``async def`` tasks awaited at once.
        pool: ``"thread"`` or ``"process"``.
        app_spec: the app's ``module:attribute`` (``pool="process"`` only).
        after_done: called with each message and its outcome once handed on (the FIFO group gate,
            :class:`sqsq.worker.groups.GroupGate`), or None.
        writers: result writes of thread-pool runs in flight at most (:class:`sqsq.worker.writers.WriterPool`);
            default ``concurrency`` (the worker passes ``concurrency + prefetch``).
    """

    def __init__(
        self,
        app: App,
        executor: Executor,
        slots: Slots,
        acks: Acknowledger,
        stats: WorkerStats,
        *,
        concurrency: int,
        pool: Literal["thread", "process"],
        app_spec: str | None,
        after_done: Callable[[Held, Outcome], None] | None = None,
        writers: int | None = None,
    ):
        self._after_done = after_done
        self._app = app
        self._executor = executor
        self._slots = slots
        self._acks = acks
        self._stats = stats
        self._concurrency = concurrency
        self._pool = pool
        self._app_spec = app_spec
        self.work: WorkQueue[Held | None] = WorkQueue()  # what the pool threads run (see WorkQueue.gathered)
        self._threads: list[threading.Thread] = []
        self._writers = WriterPool(concurrency if writers is None else writers)
        self._async_slots: asyncio.Semaphore | None = None  # made with the event loop: asyncio loads only then
        self.procs: ProcessPool | None = None
        self.loop: EventLoopThread | None = None

    def start(self) -> None:
        """Start the process pool (``pool="process"``), the event loop (when a task is async) and the threads.

        Raises:
            ConfigError: a pool process could not import the app.
        """
        if self._pool == "process":
            assert self._app_spec is not None
            from sqsq.pools.process import ProcessPool

            self.procs = ProcessPool(self._app_spec, self._concurrency)
            self.procs.start()
        if any(t.is_async for t in self._app.tasks.values()):
            import asyncio

            from sqsq.pools.aio import EventLoopThread

            self._async_slots = asyncio.Semaphore(self._concurrency)

            self.loop = EventLoopThread(io_threads=max(4, min(32, self._concurrency)))
            self.loop.start()
        if self._pool == "thread":
            self._writers.start()
        self._threads = [
            threading.Thread(target=self._pool_loop, name=f"sqsq-task-{i}", daemon=True) for i in range(self._concurrency)
        ]
        for t in self._threads:
            t.start()

    def submit(self, held: Held) -> None:
        """Queue ``held`` to run (never blocks)."""
        task = None if held.envelope is None else self._app.tasks.get(held.envelope.task)
        if task is not None and task.is_async and self.loop is not None:
            self.loop.submit(self._run_async(held))
        else:
            self.work.put(held)

    def close(self) -> None:
        """End idle threads (one still running a task ends with it); stop the pool processes and the event loop."""
        for _ in self._threads:
            self.work.put(None)
        self._writers.close()
        if self.procs is not None:
            self.procs.close(kill=self._slots.any_busy())  # kills any still running a released task
        if self.loop is not None:
            self.loop.stop()

    def _pool_loop(self) -> None:
        while True:
            held = self.work.get()
            if held is None:
                return
            try:
                self._run_one(held)
            except BaseException:  # never lose a pool thread (a task's SystemExit is recorded by the executor)
                log.exception("unexpected error handling message %s", held.message.message_id)

    def _run_one(self, held: Held) -> None:
        if not self._slots.start(held, exclusive=is_last_receive(held.message.receive_count, held.info.max_receive_count)):
            return
        outcome: Outcome | None
        try:
            outcome = self._execute(held)
        except ChildProcessDied as exc:
            self._stats.child_deaths += 1
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
            self.done(held, outcome)

    def done(self, held: Held, outcome: Outcome) -> None:
        """Hand ``outcome`` to the acknowledger, then mark ``held`` finished (so shutdown waits for the hand-over)."""
        held.outcome = outcome
        self._acks.put(held, outcome)
        self._slots.finish(held)
        if self._after_done is not None:
            self._after_done(held, outcome)

    def _prepare(self, held: Held) -> Prepared | Outcome:
        return self._executor.prepare(
            held.message, held.info.max_receive_count, envelope=held.envelope, behind_same_task=held.behind_same_task
        )

    def _execute(self, held: Held) -> Outcome | None:
        """Run one message here (thread pool) or its task body in a pool process; record; return the outcome
        (None: the time-limit watchdog already recorded and returned it, or the write went to the writer pool,
        which calls :meth:`done`).

        Raises:
            ChildProcessDied: the pool process running it died.
        """
        prepared = self._prepare(held)
        if not isinstance(prepared, Prepared):
            return prepared
        with task_log_context(prepared.task.name, prepared.task_id) as task_log, task_context(prepared.context):
            ended = self._run_prepared(held, prepared)
            if isinstance(ended, _Write):  # made on a writer thread, which calls done(); this thread goes on
                self._writers.submit(partial(self._write, held, task_log, ended), lambda: self._slots.hand_off(held))
                return None
            return task_log.finished(ended)  # the one INFO line per finished task

    def _write(self, held: Held, task_log: TaskLog, write: _Write) -> None:
        """On a writer thread: record a thread-pool run's outcome as its task thread would have, then :meth:`done`."""
        try:
            with task_log_context(task_log.task_name, task_log.task_id):
                outcome = task_log.finished(write.record())
        except Exception as exc:  # as in _run_one: the executor never raises for task errors; this is a bug
            log.exception("executor error on message %s: %s", held.message.message_id, exc)
            outcome = Release(EXECUTOR_BUG_RELEASE_SECONDS, f"{type(exc).__name__}: {exc}")
        self.done(held, outcome)

    def _run_prepared(self, held: Held, prepared: Prepared) -> Outcome | _Write | None:
        if self.procs is None:
            return self._run_on_thread(held, prepared)
        started = time.monotonic()
        if prepared.task.is_async:  # an async task not routed to the event loop: run it on this thread
            try:
                value = prepared.task.run(prepared.model)
            except BaseException as exc:  # SystemExit, KeyboardInterrupt... raised by a task are its failure
                return self._executor.finish(prepared, error=exc)
            return self._finish_value(prepared, value, time.monotonic() - started)
        try:
            ended = self.procs.run(prepared.task.name, prepared.args, prepared.task.time_limit_seconds)
        except TimeLimitExceeded as exc:  # the pool stopped the child at the limit
            log.warning("task %s %s: %s", prepared.task_id, prepared.task.name, exc)
            return self._executor.finish(prepared, error=exc)
        except ChildProcessDied as exc:
            # The attempt is lost, not failed: retried whatever retry_on says; the last one records FAILURE.
            self._stats.child_deaths += 1
            held.child_died = True
            log.warning("message %s: %s", held.message.message_id, exc)
            return self._executor.finish(prepared, error=exc)
        return self._executor.finish(
            prepared, result_json=ended.result_json, error=ended.error, encode_error=ended.encode_error,
            duration_seconds=time.monotonic() - started,
        )

    def _run_on_thread(self, held: Held, prepared: Prepared) -> Outcome | _Write | None:
        """Run the task body on this pool thread; None when the time-limit watchdog finished it meanwhile.

        The outcome when recording it makes no request; else the write to make (:class:`_Write`, the value already
        encoded here) for the writer pool. ``held.finishing`` is set first either way.
        """
        if held.time_limit_seconds is not None:
            with self._slots.cond:
                held.prepared = prepared
        started = time.monotonic()
        error: BaseException | None = None
        value: Any = None
        try:
            value = prepared.task.run(prepared.model)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt... raised by a task are its failure
            error = exc
        if held.time_limit_seconds is not None:
            with self._slots.cond:
                if held.timed_out:
                    log.warning("task %s %s finished %.1f s after its time limit; its outcome was already recorded "
                                "(TimeLimitExceeded) and is discarded", prepared.task_id, prepared.task.name,
                                time.monotonic() - started - (prepared.task.time_limit_seconds or 0))
                    return None
                held.finishing = True
        duration_seconds = time.monotonic() - started
        # A claimed run finishes here: its lease must not outlive the run. So does a last-receive run: it runs alone
        # (Slots.start) until its outcome is recorded, or a task started beside it could kill the process mid-write
        # and leave it dead-lettered as ConsumerDied for a death it did not cause.
        if not _hands_off(prepared) or is_last_receive(held.message.receive_count, held.info.max_receive_count):
            if error is not None:
                return self._executor.finish(prepared, error=error, duration_seconds=duration_seconds)
            return self._finish_value(prepared, value, duration_seconds)
        if error is not None:
            return _Write(partial(self._executor.finish, prepared, error=error, duration_seconds=duration_seconds))
        if not self._executor.writes_on_success(prepared):
            return self._finish_value(prepared, value, duration_seconds)  # no request: no hand-off
        result_json, encode_error = self._executor.encode_value(prepared, value)
        if encode_error is not None:
            return _Write(partial(self._executor.finish, prepared, encode_error=encode_error))
        return _Write(partial(self._executor.finish, prepared, result_json=result_json,
                              duration_seconds=duration_seconds))

    def enforce_time_limits(self) -> None:
        """Record TimeLimitExceeded for thread-pool runs past their task's limit and act on their messages."""
        now = time.monotonic()
        overdue: list[tuple[Held, Prepared]] = []
        with self._slots.cond:
            for h in self._slots.held.values():
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
                        p.task_id, p.task.name, p.task.time_limit_seconds)
            self.done(h, self._executor.finish(p, error=exc))

    def _finish_value(self, prepared: Prepared, value: Any, duration_seconds: float) -> Outcome:
        """Encode what a task returned (unless its result is discarded) and record the outcome."""
        return self._executor.finish_value(prepared, value, duration_seconds)

    async def _run_async(self, held: Held) -> None:
        """Await one async task on the loop: up to ``concurrency`` at once; store I/O on the loop's threads."""
        assert self._async_slots is not None, "async tasks run only once start() made the event loop"
        async with self._async_slots:
            if not self._slots.start(held, exclusive=False, isolate=False):  # never block the loop waiting to isolate
                return
            try:
                outcome = await self._execute_async(held)
            except Exception as exc:  # a bug: log it, keep the message
                log.exception("error running async message %s: %s", held.message.message_id, exc)
                outcome = Release(EXECUTOR_BUG_RELEASE_SECONDS, f"{type(exc).__name__}: {exc}")
            self.done(held, outcome)

    async def _execute_async(self, held: Held) -> Outcome:
        import asyncio

        prepared = await asyncio.get_running_loop().run_in_executor(None, self._prepare, held)
        if not isinstance(prepared, Prepared):
            return prepared
        with task_log_context(prepared.task.name, prepared.task_id) as task_log, task_context(prepared.context):
            return task_log.finished(await self._await_prepared(prepared))

    async def _await_prepared(self, prepared: Prepared) -> Outcome:
        import asyncio

        loop = asyncio.get_running_loop()
        started = time.monotonic()
        limit = prepared.task.time_limit_seconds
        try:
            value = prepared.task.call(prepared.model)
            if asyncio.iscoroutine(value):
                value = await asyncio.wait_for(value, timeout=limit)  # cancels the coroutine at the limit
        except TimeoutError:
            late = TimeLimitExceeded(f"task {prepared.task.name} ran past its time_limit_seconds={limit}; cancelled")
            return await loop.run_in_executor(None, lambda: self._executor.finish(prepared, error=late))
        except asyncio.CancelledError:
            raise  # the loop is shutting down: the message is released, not failed
        except BaseException as exc:  # SystemExit, KeyboardInterrupt... raised by a task are its failure
            error = exc
            return await loop.run_in_executor(None, lambda: self._executor.finish(prepared, error=error))
        return await loop.run_in_executor(None, self._finish_value, prepared, value, time.monotonic() - started)
