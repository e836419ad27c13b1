"""The app of the fake ``sam build`` output in tests/integration/test_lambda_runtime.py.

This file is copied into the fake build as ``myapp/tasks.py`` (the function's task root), and imported by the test
as ``tests.apps.runtime_app`` to render the template and send; task names are explicit so both agree.
"""

from __future__ import annotations

import os
import sys
import time

import sqsq
from sqsq.retry import Backoff

app = sqsq.App("rt")


@app.task(name="rt.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="rt.poison", retry_on=(ValueError,), backoff=Backoff(base_seconds=0, jitter=False))
def poison(key: str) -> None:
    """Always raises; retried at once until the queue's maxReceiveCount, then dead-lettered."""
    raise ValueError(f"poison {key}")


@app.task(name="rt.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.task(name="rt.where")
def where() -> dict[str, object]:
    """Where this process imports from, and who it is."""
    import boto3
    import pydantic

    return {"sys_path": sys.path, "pydantic": pydantic.__file__, "boto3": boto3.__file__, "pid": os.getpid(),
            "task_root": os.environ.get("LAMBDA_TASK_ROOT"), "cwd": os.getcwd()}


@app.task(name="rt.allocate", backoff=Backoff(base_seconds=0, jitter=False), max_retries=0)
def allocate(mb: int) -> int:
    """Allocate and touch ``mb`` MB (fails with MemoryError past the function's MemorySize)."""
    block = bytearray(mb * 1024 * 1024)
    return len(block) // (1024 * 1024)


@app.task(name="rt.spawn")
def spawn(pid_file: str) -> int:
    """Start a long-running child process, note its pid, and return without waiting for it."""
    import subprocess

    child = subprocess.Popen(["sleep", "300"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(pid_file, "w") as f:
        f.write(str(child.pid))
    return child.pid
