"""Shutdown: stop receiving, give back what has not started, let running tasks finish within the grace period.

On SIGTERM/SIGINT (or :meth:`sqsq.worker.Worker.stop`): stop receiving (a long poll in flight is waited for and
its messages released), release (visibility 0) what was received but not started, let running tasks finish for
``shutdown_grace_seconds``, release what is still running, flush acknowledgements, exit 0. A second signal exits
at once; messages then come back after their visibility timeout. Nothing unfinished is deleted and nothing is
re-sent as a copy.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from sqsq.worker.acknowledger import Acknowledger
from sqsq.worker.slots import Slots

log = logging.getLogger("sqsq.worker")

SHUTDOWN_POLL_SECONDS = 0.05
"""How often shutdown looks whether running tasks and long polls in flight are done."""


def install_signal_handlers(stop: Callable[[], None], grace_seconds: float) -> None:
    """SIGTERM/SIGINT: the first calls ``stop`` (graceful), a second exits at once (main thread only)."""
    signals = [0]

    def handler(signum: int, frame: FrameType | None) -> None:
        signals[0] += 1
        if signals[0] > 1:
            log.warning("second signal: exiting now; unfinished messages return after their visibility timeout")
            logging.shutdown()
            os._exit(1)
        log.info("signal %d: stopping (grace %.0f s); send it again to exit at once", signum, grace_seconds)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def shut_down(slots: Slots, acks: Acknowledger, receivers: list[threading.Thread], grace_seconds: float) -> None:
    """Release what has not started, wait for running tasks and polls in flight (within the grace), then release
    what still runs. Nothing starts once stopping is set (:meth:`Slots.start`)."""
    deadline = time.monotonic() + grace_seconds
    said_polling = False
    # Every unstarted message can be released now, and again as long polls in flight return more. A long poll in
    # flight is waited for (at most WaitTimeSeconds, within the grace period): what it returns is released at once.
    # Abandoning it would strand a message sent meanwhile for a whole visibility timeout and spend one of its receives.
    while True:
        _release_unstarted(slots, acks)
        polling = any(r.is_alive() for r in receivers)
        if not slots.any_running() and not polling:
            break
        if time.monotonic() >= deadline:
            break
        if polling and not said_polling and not slots.any_running():
            # Said once: an idle worker would otherwise look stuck for up to WaitTimeSeconds (20 s by default).
            log.info("stopping: waiting for the long poll in flight to return (at most its WaitTimeSeconds; use "
                     "--wait-time-seconds 1 in development); send the signal again to exit at once")
            said_polling = True
        time.sleep(SHUTDOWN_POLL_SECONDS)
    still = slots.take_running()
    if still:
        log.warning("%d task(s) still running after the grace period: releasing their messages", len(still))
        acks.release(still)
    _release_unstarted(slots, acks)
    if any(r.is_alive() for r in receivers):
        log.warning(
            "a long poll was still in flight after the %.0f s grace period: any message it returns comes back "
            "after its visibility timeout", grace_seconds,
        )


def _release_unstarted(slots: Slots, acks: Acknowledger) -> None:
    unstarted = slots.take_unstarted()
    if unstarted:
        acks.release(unstarted)
