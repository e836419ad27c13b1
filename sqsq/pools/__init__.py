"""Where a worker runs task bodies besides its own threads: child processes and one long-lived event loop.

- :class:`ProcessPool` (``sqsq worker --pool process``): synchronous task bodies run in child processes
  (``pebble.ProcessPool``, *spawn* start method; a child that dies is replaced alone). Each child imports the app by its
  ``module:attribute`` spec, so it has the task registry; only a task's *name* and its envelope's JSON arguments go
  to a child, and only JSON text (the encoded result) or the task's exception comes back. Nothing named by a message
  is ever pickled. Receiving, the visibility heartbeat, the results store and acknowledgements stay in the worker
  process (see :mod:`sqsq.worker`), so a child needs no AWS client and a dying child cannot lose a message.
- :class:`EventLoopThread`: ``async def`` tasks are awaited on one event loop in a dedicated thread per worker, so
  many can be in flight at once without a thread each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqsq.pools.common import ChildProcessDied, app_spec_of

if TYPE_CHECKING:
    from sqsq.pools.aio import EventLoopThread
    from sqsq.pools.process import ChildEnded, ProcessPool


def __getattr__(name: str) -> Any:
    # Lazy: a worker that runs neither ``--pool process`` nor async tasks never imports pebble/multiprocessing or
    # asyncio (start-up time and memory).
    if name == "EventLoopThread":
        from sqsq.pools.aio import EventLoopThread

        return EventLoopThread
    if name in ("ChildEnded", "ProcessPool"):
        from sqsq.pools import process

        return getattr(process, name)
    raise AttributeError(f"module 'sqsq.pools' has no attribute {name!r}")


__all__ = ["ChildEnded", "ChildProcessDied", "EventLoopThread", "ProcessPool", "app_spec_of"]
