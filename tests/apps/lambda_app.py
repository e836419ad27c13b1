"""The app the Lambda tests run (``tests.apps.lambda_app:app``, handler ``tests/apps/lambda_app.handler``).

Task names are explicit so the app can be loaded under any module name.
"""

from __future__ import annotations

import time
from typing import Any

import sqsq
from sqsq.retry import Backoff

app = sqsq.App("lam")


class Crash(BaseException):
    """Raised by :func:`handler` after sqsq's handler returned, as a runtime crash would: the invocation fails."""


@app.task(name="lam.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="lam.flaky", backoff=Backoff(base_seconds=7, jitter=False), max_retries=3, retry_on=(RuntimeError,))
def flaky(key: str) -> str:
    """Always raises: retried with a 7 s backoff (per-message visibility) until its 4 attempts are used."""
    raise RuntimeError(f"flaky {key}")


@app.task(name="lam.poison", retry_on=(ValueError,), backoff=Backoff(base_seconds=0, jitter=False))
def poison(key: str) -> None:
    """Always raises; retried at once (visibility 0) until the queue's maxReceiveCount, then dead-lettered."""
    raise ValueError(f"poison {key}")


@app.task(name="lam.slow", time_limit_seconds=30)
def slow(seconds: float) -> float:
    """Declares a 30 s time limit, so the handler does not start it with less than that left."""
    time.sleep(seconds)
    return seconds


@app.task(name="lam.sleep")
def sleep(seconds: float) -> float:
    """No time limit: sleeps, for the timeout tests."""
    time.sleep(seconds)
    return seconds


@app.task(name="lam.crash")
def crash(key: str) -> None:
    """Runs fine; :func:`handler` then crashes the invocation it was part of."""


@app.task(name="lam.double")
def double(x: int) -> int:
    """A workflow step (issue 13)."""
    return 2 * x


@app.task(name="lam.total")
def total(values: list[int]) -> int:
    """A chord callback (issue 13)."""
    return sum(values)


_sqsq_handler = sqsq.lambda_handler(app, safety_margin_seconds=0.2, emit_metrics=False)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """sqsq's handler, then a crash of the whole invocation when the batch held a ``lam.crash`` task.

    The crash comes after the records ran (sqsq itself records what a task raises, even a BaseException), so
    it models the function dying before Lambda got its response: the whole batch must come back.
    """
    response = _sqsq_handler(event, context)
    if any('"lam.crash"' in str(r.get("body", "")) for r in event.get("Records", [])):
        raise Crash("the function crashed before returning its response")
    return response


handler.app = app  # type: ignore[attr-defined]  # the local event source mapping polls with the handler's app
