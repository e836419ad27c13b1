"""The supervisor's exit code when it is stopped while a failed child waits for its restart."""

from __future__ import annotations

import sys
import threading
import time

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
