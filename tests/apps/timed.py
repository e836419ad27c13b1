"""The app of issue 12's integration tests (``tests.apps.timed:app``): delayed sends, cancel, revocation, hops.

Tasks append a line to the file named by ``SHOP_TEST_SINK`` (when set) so a test in another process sees runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import sqsq

app = sqsq.App("timed")

HOP_DELAY_SECONDS = 1_200
"""Each hop of :func:`hop` sends the next one this far ahead (past SQS's 900 s: through the scheduler)."""

clock: Callable[[], float] = time.time
"""Where :func:`hop` reads the time its next hop is due from; tests point it at the local AWS's clock, which the
session moves ahead of real time."""


def _sink(line: str) -> None:
    path = os.environ.get("SHOP_TEST_SINK")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


@app.task(name="timed.mark")
def mark(tag: str) -> str:
    _sink(f"mark {tag}")
    return tag


@app.task(name="timed.hop")
def hop(n: int, last: int) -> int:
    """Hop ``n`` of a chain: sends hop ``n + 1`` :data:`HOP_DELAY_SECONDS` ahead until ``n == last``."""
    if n < last:
        hop.options(eta=datetime.fromtimestamp(clock() + HOP_DELAY_SECONDS, UTC)).delay(n=n + 1, last=last)
    _sink(f"hop {n}")  # after the send: a test that sees this line may move the clock past the next hop
    return n
