"""One long-lived asyncio event loop in a dedicated thread (a worker awaits its ``async def`` tasks there)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("sqsq.pools")

T = TypeVar("T")

LOOP_STOP_GRACE_SECONDS = 1.0
"""At stop, coroutines still running are cancelled and given this long to unwind."""


class EventLoopThread:
    """An event loop running forever in a daemon thread until :meth:`stop`.

    Blocking calls the coroutines make through ``loop.run_in_executor(None, ...)`` (the worker's results-store
    reads and writes) run on a bounded thread pool of ``io_threads``.

    Args:
        name: the thread's name.
        io_threads: threads of the loop's default executor, >= 1.

    Example:
        >>> loop = EventLoopThread()
        >>> loop.start()
        >>> loop.submit(asyncio.sleep(0.1, result=3)).result()
        3
        >>> loop.stop()
    """

    def __init__(self, name: str = "sqsq-loop", io_threads: int = 4):
        if io_threads < 1:
            raise ValueError("io_threads must be >= 1")
        self.name = name
        self._io = concurrent.futures.ThreadPoolExecutor(max_workers=io_threads, thread_name_prefix=f"{name}-io")
        self._loop = asyncio.new_event_loop()
        self._loop.set_default_executor(self._io)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (use only thread-safe calls on it from other threads)."""
        return self._loop

    def start(self) -> None:
        """Start the loop's thread."""
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop from any thread. Returns a future for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def stop(self, timeout_seconds: float = 5.0) -> None:
        """Stop the loop: cancel what still runs (bounded by :data:`LOOP_STOP_GRACE_SECONDS`), close, join.

        Args:
            timeout_seconds: how long to wait for the thread to end.
        """
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=timeout_seconds)
        self._io.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.wait(pending, timeout=LOOP_STOP_GRACE_SECONDS))
            try:
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            finally:
                self._loop.close()
