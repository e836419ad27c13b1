"""The app the Lambda tests run (``tests.apps.lambda_app:app``, handler ``tests/apps/lambda_app.handler``).

Task names are explicit so the app can be loaded under any module name.
"""

from __future__ import annotations

import time

import sqsq
from sqsq.retry import Backoff

app = sqsq.App("lam")


class Crash(BaseException):
    """Escapes sqsq's executor and the handler, as a runtime crash would: the whole invocation fails."""


@app.task(name="lam.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="lam.flaky", backoff=Backoff(base_seconds=7, jitter=False), max_retries=3)
def flaky(key: str) -> str:
    """Always raises: retried with a 7 s backoff (per-message visibility) until its 4 attempts are used."""
    raise RuntimeError(f"flaky {key}")


@app.task(name="lam.poison", backoff=Backoff(base_seconds=0, jitter=False))
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
    raise Crash(key)


handler = sqsq.lambda_handler(app, safety_margin_seconds=0.2, emit_metrics=False)
