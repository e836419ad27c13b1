"""The app of the workflow tests (issue 13, ``tests.apps.flows:app``). Tasks that run append ``<task> <arg>`` to
``FLOW_TEST_SINK`` when it is set (to count runs across processes)."""

from __future__ import annotations

import os
import time
from typing import Any

import sqsq

app = sqsq.App("flows")


def _sink(line: str) -> None:
    path = os.environ.get("FLOW_TEST_SINK")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{line}\n")


@app.task(name="flows.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="flows.double")
def double(x: int) -> int:
    return 2 * x


@app.task(name="flows.square")
def square(n: int) -> int:
    return n * n


@app.task(name="flows.slow_square")
def slow_square(n: int) -> int:
    """A member that takes a little while (so workers are killed mid-chord)."""
    time.sleep(0.03)
    return n * n


@app.task(name="flows.total")
def total(values: list[int]) -> int:
    _sink(f"total {len(values)}")
    return sum(values)


@app.task(name="flows.concat")
def concat(values: list[int], sep: str = ",") -> str:
    _sink(f"concat {len(values)}")
    return sep.join(str(v) for v in values)


@app.task(name="flows.fail", max_retries=0)
def fail(x: int) -> int:
    if os.environ.get("FLOW_FAIL_FIXED"):
        return x
    raise ValueError(f"no good: {x}")


@app.task(name="flows.fail_member", max_retries=0)
def fail_member(n: int) -> int:
    if n == 3 and not os.environ.get("FLOW_FAIL_FIXED"):
        raise ValueError("member 3 fails")
    return n


@app.task(name="flows.on_error")
def on_error(failure: dict[str, Any]) -> str:
    _sink(f"on_error {failure['task_id']}")
    return str(failure["error_type"])


@app.task(name="flows.quiet", ignore_result=True)
def quiet(x: int) -> int:
    return x + 100


@app.task(name="flows.tag")
def tag(x: int, label: str) -> int:
    return x + len(label)


ATTEMPTS: dict[int, int] = {}


@app.task(name="flows.flaky", retry_on=(RuntimeError,), max_retries=2)
def flaky(x: int) -> int:
    """Fails its first attempt for each x (in this process), then succeeds."""
    ATTEMPTS[x] = ATTEMPTS.get(x, 0) + 1
    if ATTEMPTS[x] == 1:
        raise RuntimeError("first attempt fails")
    return x
