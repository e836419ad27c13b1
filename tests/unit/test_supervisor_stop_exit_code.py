"""The supervisor's exit code and lines when it stops: a failed child waiting for its restart, a second child that
failed the same way."""

from __future__ import annotations

import logging
import sys
import threading
import time

import pytest

from sqsq.retry import Backoff
from sqsq.supervisor import Supervisor

SLOW_RESTART = Backoff(base_seconds=600.0, factor=1.0, max_seconds=600.0, jitter=False)  # never reached: stopped first
WAIT_LIMIT_SECONDS = 60.0


def test_a_failure_whose_restart_a_stop_cancelled_is_the_supervisors_exit_code() -> None:
    # The module's promise: non-zero when "a child's last exit (one not followed by a restart) was a failure".
    supervisor = Supervisor([sys.executable, "-c", "raise SystemExit(5)"], 1, backoff=SLOW_RESTART)

    def stop_once_the_restart_is_pending() -> None:
        deadline = time.monotonic() + WAIT_LIMIT_SECONDS
        while supervisor.children[0].restart_at is None and time.monotonic() < deadline:
            time.sleep(0.01)
        supervisor.stop()

    stopper = threading.Thread(target=stop_once_the_restart_is_pending, daemon=True)
    stopper.start()
    code = supervisor.run()
    stopper.join()
    assert code == 5


def test_children_that_all_fail_with_a_configuration_error_are_not_said_to_fail_while_stopping(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Both children fail at once; the second exit is usually seen after the first made the supervisor stop.
    caplog.set_level(logging.INFO, "sqsq.supervisor")
    assert Supervisor([sys.executable, "-c", "raise SystemExit(3)"], 2).run() == 3
    assert "failed while stopping" not in caplog.text
