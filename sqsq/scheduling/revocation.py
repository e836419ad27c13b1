"""How a consumer learns that a task in its queue was revoked, without a request per task.

:class:`RevocationCheck` reads the app's revocation marker (:mod:`sqsq.results.revocations`, one GetItem) at
most once per ``revocation_check_seconds`` (default 5 s) while messages arrive, and answers from memory in
between; an idle consumer reads nothing. The cost: one GetItem per interval per consumer process (a Lambda
execution environment keeps its check between invocations, so a batch costs at most one read), whatever the
number of tasks. With the setting at 0 it never reads and nothing is skipped: a revoked task then still runs, and
only its REVOKED record is kept (its result write is refused).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqsq.errors import AwsError
from sqsq.results import ResultStore
from sqsq.results.revocations import RevocationStore, marker_key

log = logging.getLogger("sqsq.scheduling")


class RevocationCheck:
    """Answers "was this task id revoked?" from a marker read at most every ``interval_seconds``.

    Args:
        store: returns the results store (checks are off while it keeps no marker); called at each read, never
            when checks are off, so an app configured after its consumer was built (a Lambda handler made at
            import) reads its current store.
        app_name: names the marker.
        interval_seconds: the longest a read answer is used; 0 = off.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        store: Callable[[], ResultStore],
        app_name: str,
        interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._store = store if interval_seconds > 0 else None  # the store is not built when checks are off
        self._key = marker_key(app_name)
        self._interval = interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._ids: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self.reads = 0

    @property
    def enabled(self) -> bool:
        """True when revocations are checked (an interval above 0 and a store that keeps the marker)."""
        return self._store is not None and isinstance(self._store(), RevocationStore)

    def is_revoked(self, task_id: str) -> bool:
        """True when ``task_id`` is in the marker as last read (read again if older than the interval).

        A failed read keeps the previous answer (logged): a revocation is then noticed at a later read.
        """
        if self._store is None:
            return False
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._interval:
                results = self._store()
                if not isinstance(results, RevocationStore):
                    return False
                self._read_at = now
                try:
                    self._ids = results.revocations(self._key)
                    self.reads += 1
                except AwsError as exc:
                    log.warning("could not read the revocation marker (%s); using the last one read", exc)
            return task_id in self._ids
