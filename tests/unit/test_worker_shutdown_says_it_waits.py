"""An idle worker told to stop waits for its long poll in flight, and says so once (else it looks stuck)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from sqsq.worker.shutdown import shut_down


class _IdleSlots:
    """Nothing received, nothing running."""

    def take_unstarted(self) -> list[Any]:
        return []

    def any_running(self) -> bool:
        return False

    def take_running(self) -> list[Any]:
        return []


class _Acks:
    def __init__(self) -> None:
        self.released: list[Any] = []

    def release(self, held: list[Any]) -> None:
        self.released.extend(held)


def test_an_idle_worker_stopping_during_a_long_poll_says_once_that_it_waits_for_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    poll_done = threading.Event()
    receiver = threading.Thread(target=poll_done.wait, args=(5.0,), daemon=True)  # the long poll in flight
    receiver.start()
    threading.Timer(0.3, poll_done.set).start()
    with caplog.at_level(logging.INFO, logger="sqsq.worker"):
        shut_down(_IdleSlots(), _Acks(), [receiver], grace_seconds=10.0)  # type: ignore[arg-type]
    said = [r.getMessage() for r in caplog.records if "waiting for the long poll" in r.getMessage()]
    assert len(said) == 1 and "--wait-time-seconds" in said[0]
    assert not receiver.is_alive()


def test_a_stop_with_no_poll_in_flight_says_nothing_about_waiting(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="sqsq.worker"):
        shut_down(_IdleSlots(), _Acks(), [], grace_seconds=10.0)  # type: ignore[arg-type]
    assert not [r for r in caplog.records if "waiting for the long poll" in r.getMessage()]
