"""The worker's log handler: INFO lines are written in batches, never dropped, never out of order."""

from __future__ import annotations

import io
import logging
import time

from sqsq.log_buffer import BatchedStreamHandler
from sqsq.logs import configure_logging


class CountingStream(io.StringIO):
    """A text stream that counts its write calls."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.batched.{id(handler)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    return logger


def test_info_lines_are_kept_and_written_in_one_call_on_flush() -> None:
    stream = CountingStream()
    handler = BatchedStreamHandler(stream, flush_seconds=60)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = _logger(handler)
    for i in range(5):
        logger.info("task %d finished", i)
    assert stream.writes == 0  # a plain StreamHandler has made 5 writes by now
    handler.flush()
    assert stream.writes == 1
    assert stream.getvalue() == "".join(f"task {i} finished\n" for i in range(5))
    handler.close()


def test_a_warning_is_written_at_once_after_the_lines_kept_before_it() -> None:
    stream = CountingStream()
    handler = BatchedStreamHandler(stream, flush_seconds=60)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = _logger(handler)
    logger.info("one")
    logger.warning("two")
    assert stream.getvalue() == "INFO one\nWARNING two\n"
    handler.close()


def test_kept_lines_are_written_by_the_flusher_without_a_flush_call() -> None:
    stream = CountingStream()
    handler = BatchedStreamHandler(stream, flush_seconds=0.01)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = _logger(handler)
    logger.info("a")
    logger.info("b")
    deadline = time.monotonic() + 10
    while stream.getvalue() != "a\nb\n" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == "a\nb\n"
    handler.close()


def test_close_writes_what_is_kept_and_later_lines_go_straight_out() -> None:
    stream = CountingStream()
    handler = BatchedStreamHandler(stream, flush_seconds=60)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = _logger(handler)
    logger.info("kept")
    handler.close()
    assert stream.getvalue() == "kept\n"
    logger.info("late")
    assert stream.getvalue() == "kept\nlate\n"


def test_configure_logging_batched_installs_the_batched_handler_and_replacing_it_flushes() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers[:] = []
    try:
        stream = io.StringIO()
        configure_logging("INFO", "text", stream=stream, batched=True)
        assert isinstance(root.handlers[0], BatchedStreamHandler)
        logging.getLogger("sqsq.task").info("kept line")
        configure_logging("INFO", "text", stream=io.StringIO())  # replacing it writes what it kept
        assert "kept line" in stream.getvalue()
    finally:
        for h in root.handlers:
            h.close()
        root.handlers[:] = saved
        root.setLevel(level)
