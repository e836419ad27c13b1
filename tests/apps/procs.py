"""The app of the ``--processes`` tests (``tests.apps.procs:app``): tasks that say which process ran them.

Each task appends ``<event> <tag> <pid>`` to the file named by ``SHOP_TEST_SINK`` and returns its pid. Each import
of this module appends its process id to ``SHOP_TEST_SINK`` + ``.imports``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import sqsq

app = sqsq.App("procs")

if "SHOP_TEST_SINK" in os.environ:  # a worker's import (the test process imports it without one)
    with open(os.environ["SHOP_TEST_SINK"] + ".imports", "a", encoding="utf-8") as _imports:
        _imports.write(f"{os.getpid()}\n")
if os.environ.get("PROCS_THREAD_AT_IMPORT"):  # an app whose import starts a thread: its worker must not fork
    threading.Thread(target=time.sleep, args=(3600,), name="procs-import-thread", daemon=True).start()

WAIT_LIMIT_SECONDS = 90.0
"""How long a task waits for what the test arranges before it fails (a bound, not a timing)."""


def _sink(event: str, tag: str) -> Path:
    path = Path(os.environ["SHOP_TEST_SINK"])
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{event} {tag} {os.getpid()}\n")
    return path


def _wait_until(predicate: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(0.05)


@app.task()
def whoami(tag: str) -> int:
    _sink("ran", tag)
    return os.getpid()


@app.task()
def meet(tag: str, processes: int) -> int:
    """Runs until tasks have started in ``processes`` distinct processes (so it needs that many consumers)."""
    path = _sink("start", tag)

    def met() -> bool:
        lines = [line.split() for line in path.read_text().splitlines()]
        return len({pid for event, _, pid in lines if event == "start"}) >= processes

    _wait_until(met, f"{processes} processes")
    return os.getpid()


@app.task()
def hold(tag: str, release_path: str) -> int:
    """Runs until the file ``release_path`` exists."""
    _sink("start", tag)
    _wait_until(lambda: os.path.exists(release_path), release_path)
    _sink("done", tag)
    return os.getpid()
