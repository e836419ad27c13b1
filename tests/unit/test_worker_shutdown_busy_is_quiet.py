"""A worker stopped while a task runs says nothing about waiting for its long poll (it waits for the task)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from sqsq.worker.shutdown import shut_down


class _BusySlots:
    """One task running until ``done`` is set; nothing received but not started."""

    def __init__(self, done: threading.Event) -> None:
        self.done = done

    def take_unstarted(self) -> list[Any]:
        return []

    def any_running(self) -> bool:
        return not self.done.is_set()

    def take_running(self) -> list[Any]:
        return []


class _Acks:
    def release(self, held: list[Any]) -> None:
        raise AssertionError(f"nothing is to be released here: {held}")


def test_a_worker_stopping_with_a_task_running_says_nothing_about_its_long_poll(
    caplog: pytest.LogCaptureFixture,
) -> None:
    poll_done, task_done = threading.Event(), threading.Event()
    receiver = threading.Thread(target=poll_done.wait, args=(30.0,), daemon=True)  # the long poll in flight
    receiver.start()

    def poll_returns_then_the_task_ends() -> None:
        poll_done.set()
        receiver.join()
        task_done.set()

    threading.Timer(0.3, poll_returns_then_the_task_ends).start()
    with caplog.at_level(logging.INFO, logger="sqsq.worker"):
        shut_down(_BusySlots(task_done), _Acks(), [receiver], grace_seconds=30.0)  # type: ignore[arg-type]
    assert task_done.is_set()  # it waited for the task
    assert not [r for r in caplog.records if "waiting for the long poll" in r.getMessage()]
