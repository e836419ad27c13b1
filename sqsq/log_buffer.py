"""A log handler that writes INFO and DEBUG lines in batches, off the threads that log them.

The worker logs one INFO line per finished task (:func:`sqsq.logs.log_task_finished`). Written by a plain
:class:`logging.StreamHandler`, each line is one ``write`` system call made under the handler's lock: the task
thread gives up the GIL for the call, the other task threads queue on the lock, and a no-op task pays about two
thread switches for its log line (measured: 3.98 against 1.37 voluntary context switches per task, in-process).

:class:`BatchedStreamHandler` formats each record on the thread that logs it (so the running task's contextvars are
read where they are set) and keeps the text; a flusher thread writes what is kept at most
:data:`LOG_FLUSH_SECONDS` after the first line of a batch, in one write. Nothing is dropped and the order is kept:

- a WARNING or worse is written at once, after the lines kept before it;
- :meth:`BatchedStreamHandler.flush` (``logging.shutdown`` at exit, the worker command's end, the second-signal
  exit) writes everything kept;
- more than :data:`LOG_BATCH_MAX_LINES` kept lines are written at once by the thread that logs the next one.

What a SIGKILL cuts off is the INFO/DEBUG lines of the last :data:`LOG_FLUSH_SECONDS` at most.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import IO

LOG_FLUSH_SECONDS = 0.1
"""Longest an INFO/DEBUG line waits before it is written."""
LOG_BATCH_MAX_LINES = 1000
"""Kept lines past which the logging thread writes them itself (bounds the memory of a burst)."""


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A :class:`logging.StreamHandler` whose INFO/DEBUG lines are written in batches (see the module docstring).

    Args:
        stream: where to write (a text stream, e.g. ``sys.stderr``).
        flush_seconds: longest a kept line waits, in seconds (> 0).
    """

    def __init__(self, stream: IO[str], flush_seconds: float = LOG_FLUSH_SECONDS):
        super().__init__(stream)
        self.flush_seconds = flush_seconds
        self._kept: list[str] = []
        self._wake = threading.Event()
        self._closed = False
        self._flusher: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Format ``record`` here; keep it (INFO and below) or write it and what is kept (WARNING and above).

        Called by :meth:`logging.Handler.handle` with the handler's lock held.
        """
        try:
            text = self.format(record) + self.terminator
        except Exception:  # as logging.StreamHandler.emit does: report, never raise into the caller
            self.handleError(record)
            return
        self._kept.append(text)
        if record.levelno >= logging.WARNING or self._closed or len(self._kept) > LOG_BATCH_MAX_LINES:
            self._write_kept(record)
            return
        if len(self._kept) == 1:
            self._start_flusher()
            self._wake.set()

    def flush(self) -> None:
        """Write every kept line now, then flush the stream."""
        with self.lock:  # type: ignore[union-attr]
            self._write_kept(None)

    def close(self) -> None:
        """Write what is kept, stop the flusher, close as a StreamHandler does (the stream itself stays open)."""
        with self.lock:  # type: ignore[union-attr]
            self._closed = True
            self._write_kept(None)
        self._wake.set()
        super().close()

    def _write_kept(self, record: logging.LogRecord | None) -> None:
        """Write the kept lines in one call and flush the stream (caller holds the handler's lock)."""
        kept, self._kept = self._kept, []  # one step: a signal handler logging here (re-entering) finds none
        if not kept:
            return
        text = "".join(kept)
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:
            if record is not None:
                self.handleError(record)
            # else: as logging.StreamHandler.flush does, a stream that cannot be written to is left as it is

    def _start_flusher(self) -> None:
        if self._flusher is not None and self._flusher.is_alive():
            return
        self._flusher = threading.Thread(target=self._flush_loop, name="sqsq-log-flush", daemon=True)
        self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._closed:
            self._wake.wait()
            if self._closed:
                return
            time.sleep(self.flush_seconds)  # let the batch fill; lines logged meanwhile join it
            with self.lock:  # type: ignore[union-attr]
                self._wake.clear()
                self._write_kept(None)
