"""A supervisor reads its children's exit codes even when the app's import set SIGCHLD to be ignored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SUPERVISE = """
import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # as an app's import may (the kernel then reaps children itself)
from sqsq.prefork import ForkedChild
from sqsq.supervisor import Supervisor
supervisor = Supervisor(None if sys.argv[1] == "fork" else [sys.executable, "-c", "raise SystemExit(3)"], 1)
supervisor.install_signal_handlers()
try:
    print("exit", supervisor.run())
except ForkedChild:
    os._exit(3)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGCHLD"), reason="POSIX only")
@pytest.mark.parametrize("start", ["fork", "exec"])
def test_an_app_that_ignores_sigchld_does_not_hide_a_childs_exit_code_from_the_supervisor(start: str) -> None:
    done = subprocess.run([sys.executable, "-c", SUPERVISE, start], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "exit 3", done.stdout + done.stderr  # a configuration error, not restarted
    assert "Traceback" not in done.stderr, done.stderr
