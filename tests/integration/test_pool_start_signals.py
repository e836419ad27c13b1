"""``sqsq worker --pool process``: a stop signal sent to the worker's process group while its pool children are
still starting (before their initializer moved them to a group of their own) is a stop, not a failed start.

The window is widened, not timed: a ``sitecustomize`` on the children's path holds each spawned child at its
interpreter start-up until the test has sent the signal (a file says so).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.conftest import Deployed
from tests.integration.test_worker_processes import log_of, spawn_logged, wait_for

HOLD_CHILD = '''
import os, sys, time
gate = os.environ.get("TEST_POOL_CHILD_GATE")
if gate and "--multiprocessing-fork" in sys.argv:  # a spawned pool child, at its interpreter start-up
    open(os.path.join(gate, f"starting-{os.getpid()}"), "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(gate, "go")) and time.monotonic() < deadline:
        time.sleep(0.02)
'''


def test_a_group_sigterm_while_pool_children_start_stops_the_worker_with_exit_0(shop: Deployed) -> None:
    site, gate = shop.tmp / "site", shop.tmp / "gate"
    site.mkdir()
    gate.mkdir()
    (site / "sitecustomize.py").write_text(HOLD_CHILD)
    env = {"PYTHONPATH": f"{site}{os.pathsep}{shop.env['PYTHONPATH']}", "TEST_POOL_CHILD_GATE": str(gate)}
    proc = spawn_logged(shop, "worker", "tests.apps.shop:app", "--pool", "process", "-c", "1",
                        "--wait-time-seconds", "1", extra_env=env)
    wait_for(lambda: proc.poll() is not None or any(p.name.startswith("starting-") for p in gate.iterdir()),
             "pool child starting", proc)
    assert proc.poll() is None, log_of(proc)[-3000:]
    os.killpg(proc.pid, signal.SIGTERM)  # as a service manager stopping the unit, or Ctrl-C (SIGINT) in a terminal
    Path(gate / "go").touch()
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    assert "cannot start" not in log_of(proc)
