"""A supervisor whose standard streams are sockets (systemd's journal, a socketpair) still forks its children."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PROBE = "from sqsq.prefork import fork_unsafe_reason; print(fork_unsafe_reason({}))"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="sockets are counted from /proc")
def test_standard_streams_that_are_sockets_do_not_stop_the_supervisor_from_forking() -> None:
    # systemd's default StandardOutput=journal makes stdout and stderr a unix socket: children inherit them
    # either way (a re-executed child too), so they are no connection a fork would share by mistake.
    ours, theirs = socket.socketpair()
    with ours, theirs:
        done = subprocess.run([sys.executable, "-c", PROBE], stdin=subprocess.DEVNULL, stdout=theirs, stderr=theirs,
                              cwd=ROOT, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
        theirs.close()
        output = b"".join(iter(lambda: ours.recv(4096), b"")).decode()
    assert done.returncode == 0, output
    assert output.strip() == "None", output
