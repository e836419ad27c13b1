"""Logging a recurring problem once per interval (a store that is down, a receive that keeps failing)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

LOG_INTERVAL_SECONDS = 30.0
"""A recurring failure (store down, receive failing) is logged at most once per this interval."""


class LogThrottle:
    """Logs a recurring problem once per interval per key, counting the repeats it held back.

    Args:
        logger: where to log.
        interval_seconds: at most one line per key per this many seconds.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval_seconds: float = LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._logger = logger
        self._interval = interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held_back: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` unless ``key`` was logged within the interval. Returns True when it logged."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._held_back[key] = self._held_back.get(key, 0) + 1
                return False
            self._last[key] = now
            repeats = self._held_back.pop(key, 0)
        if repeats:
            msg += f" ({repeats} more like this in the last {self._interval:.0f} s)"
        self._logger.log(level, msg, *args, stacklevel=2)
        return True
