"""``sqsq worker --reload``: run the worker in a child process and restart it when a .py file changes.

Development only. Uses watchfiles' public :func:`watchfiles.run_process` (the ``reload`` extra): the child is
``python -m sqsq.cli`` with this process's arguments less ``--reload``, plus ``--processes 1`` (one worker process,
no supervisor: reload is development only); it watches the .py files under the current
directory (watchfiles' :class:`~watchfiles.PythonFilter`: not .venv, .git, __pycache__...). On a change the child
gets SIGINT (a graceful stop: the first signal lets running tasks finish) and SIGKILL after
:data:`STOP_TIMEOUT_SECONDS`; messages it held come back after their visibility timeout. SIGTERM or Ctrl-C stops
this process and its child.

Ctrl-C sends SIGINT to the whole process group: the child gets it directly and a second copy from watchfiles. The
child therefore runs as a supervised child does (``SQSQ_SUPERVISOR_PID`` is this process's pid, see
:func:`sqsq.supervisor.install_child_handlers`): every SIGINT/SIGTERM is the graceful stop, never "second signal:
exit now", and it also stops if this process dies.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from pathlib import Path

from sqsq.errors import ConfigError
from sqsq.extras import require
from sqsq.supervisor import SUPERVISOR_PID_VARIABLE

STOP_TIMEOUT_SECONDS = 5
"""How long a child has to stop after SIGINT on a change before it is killed."""

log = logging.getLogger("sqsq.reload")


def child_command(argv: list[str]) -> list[str]:
    """The command that runs the worker itself: ``python -m sqsq.cli`` with ``argv`` less ``--reload``, as one
    process (``--processes 1`` last, so it wins over an earlier ``--processes N`` or ``SQSQ_PROCESSES``).

    Raises:
        ConfigError: ``--reload`` is not among ``argv`` (the command was not run from a command line).
    """
    if "--reload" not in argv:
        raise ConfigError("--reload works from a command line (`sqsq worker APP --reload`) only")
    return [sys.executable, "-m", "sqsq.cli", *(a for a in argv if a != "--reload"), "--processes", "1"]


def run_with_reload(argv: list[str], root: Path) -> int:
    """Run the worker in a child and restart it whenever a .py file under ``root`` changes; until SIGTERM/Ctrl-C.

    Args:
        argv: this process's arguments (``sys.argv[1:]``), with ``--reload``.
        root: the folder to watch (recursively).

    Returns:
        0 once stopped.

    Raises:
        MissingExtra: watchfiles is not installed (``pip install "sqsq[reload]"``).
        ConfigError: see :func:`child_command`.
    """
    require("sqsq worker --reload", "watchfiles")
    from watchfiles import Change, PythonFilter, run_process

    command = shlex.join(child_command(argv))

    def changed(changes: set[tuple[Change, str]]) -> None:
        log.warning("reload: %s changed; restarting the worker", ", ".join(sorted(p for _, p in changes))[:500])

    log.warning("reload: watching the .py files under %s (development only)", root)
    # The child takes every signal as a graceful stop and watches this pid (see the module docstring).
    os.environ[SUPERVISOR_PID_VARIABLE] = str(os.getpid())
    try:
        reloads = run_process(root, target=command, target_type="command", callback=changed,
                              watch_filter=PythonFilter(), sigint_timeout=STOP_TIMEOUT_SECONDS)
    except KeyboardInterrupt:  # watchfiles turns SIGTERM into KeyboardInterrupt; the child is stopped already
        return 0
    log.info("reload: stopped after %d restart(s)", reloads)
    return 0
