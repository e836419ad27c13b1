"""Start-up without cyclic garbage-collection passes over what start-up builds to keep.

A worker's or a Lambda function's start-up imports pydantic, botocore and the app, builds the app's models and
reads botocore's service models: several hundred thousand objects that live as long as the process. CPython's
cyclic collector scans them again and again while they are made (a full pass over the young and old generations
costs ~10-15 ms on a 2-core machine at this size, and frees nothing). So the start-up runs with the collector
paused, then moves everything it built into the permanent generation with :func:`gc.freeze` (the pattern the
Python docs give for pre-fork servers: https://docs.python.org/3/library/gc.html#gc.freeze), so later passes,
while tasks run, skip those objects too; the collector is then enabled again as it was.

Reference counting frees everything as usual meanwhile; only cycles made during start-up wait for the collector,
and those that are still garbage when start-up ends stay until the process exits (start-up makes few).

Used by ``sqsq worker`` (from the command's start to its first receive) and by the generic Lambda entry point
:mod:`sqsq.lambda_entry` (its init phase). Nothing here runs at import time.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_paused = False


def pause() -> None:
    """Pause the cyclic collector for the start-up of this process; :func:`finish` ends it (idempotent).

    Does nothing when the collector is already disabled (whoever disabled it keeps control).
    """
    global _paused
    with _lock:
        if _paused or not gc.isenabled():
            return
        gc.disable()
        _paused = True


def finish() -> None:
    """End the start-up :func:`pause` began: freeze what exists now (:func:`gc.freeze`), enable the collector.

    Does nothing unless :func:`pause` paused the collector, so library code may call it unconditionally.
    """
    global _paused
    with _lock:
        if not _paused:
            return
        _paused = False
        gc.freeze()
        gc.enable()


def paused() -> bool:
    """True between :func:`pause` and :func:`finish`."""
    return _paused
