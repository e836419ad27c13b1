"""The app of the issue-9 chaos run (``tests.apps.chaos:app``): innocent tasks, poison that kills its process, and
tasks that hang past their time limit. Each run appends ``<kind> <tag> <pid>`` to ``SHOP_TEST_SINK``."""

from __future__ import annotations

import os
import time

import sqsq

app = sqsq.App("chaos")


def _sink(line: str) -> None:
    path = os.environ.get("SHOP_TEST_SINK")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{line} {os.getpid()}\n")


@app.task(name="chaos.mark")
def mark(tag: str) -> str:
    """Innocent: must end SUCCESS, whatever happens around it."""
    _sink(f"mark {tag}")
    return tag


@app.task(name="chaos.poison", max_retries=0)
def poison(tag: str) -> None:
    """Kills the process running it (the worker on the thread pool, the child on the process pool)."""
    _sink(f"poison {tag}")
    os._exit(13)


@app.task(name="chaos.hang", time_limit_seconds=2, max_retries=0)
def hang(tag: str) -> str:
    """Runs past its 2 s time limit: stopped (process pool) or recorded at the limit (thread pool)."""
    _sink(f"hang {tag}")
    time.sleep(6)
    return tag
