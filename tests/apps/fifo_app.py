"""The app the FIFO and fair-queue tests run (``tests.apps.fifo_app:app``): one FIFO queue, one standard queue.

Task names are explicit so the app can be loaded under any module name. What the tasks did is kept in
:data:`SUCCESSES` (in this process: the tests run workers and the local ESM in-process).
"""

from __future__ import annotations

import random
import threading

import sqsq

app = sqsq.App("fifo")
app.declare_queue("orders", fifo=True, consumer="worker")

SUCCESSES: list[tuple[str, int]] = []
"""(group, seq) of every successful run, in the order they finished."""
ATTEMPTS: dict[tuple[str, int], int] = {}
FAILURE_RATE = 0.3
_lock = threading.Lock()


def reset() -> None:
    """Forget what ran (call at the start of a test)."""
    with _lock:
        SUCCESSES.clear()
        ATTEMPTS.clear()


@app.task(name="fifo.step", queue="orders", group_key=lambda args: args.customer)
def step(customer: str, seq: int) -> int:
    """Fails its first attempt for about 30 % of the messages (seeded by customer and seq), then succeeds."""
    key = (customer, seq)
    with _lock:
        ATTEMPTS[key] = attempt = ATTEMPTS.get(key, 0) + 1
    if attempt == 1 and random.Random(f"{customer}/{seq}").random() < FAILURE_RATE:
        raise sqsq.Retry(0, f"first attempt of {customer}/{seq} fails")
    with _lock:
        SUCCESSES.append(key)
    return seq


@app.task(name="fifo.broken", queue="orders")
def broken(customer: str) -> None:
    """Fails for good at once (ValueError is not retried): the worker moves it to the FIFO DLQ."""
    raise ValueError(f"broken order of {customer}")


@app.task(name="fifo.note")
def note(text: str) -> str:
    """A task on the standard (default) queue, for the fair-queue tests."""
    return text
