"""The app the integration tests run in worker subprocesses (``tests.apps.shop:app``).

Tasks that need cross-process observation append a line to the file named by ``SHOP_TEST_SINK``.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from decimal import Decimal
from enum import Enum

from pydantic import BaseModel

import sqsq

app = sqsq.App("shop")


def _sink(line: str) -> None:
    path = os.environ.get("SHOP_TEST_SINK")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class Resize(BaseModel):
    key: str
    width: int = 256


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Order(BaseModel):
    when: dt.datetime
    order_id: uuid.UUID
    amount: Decimal
    tags: set[str]
    colour: Colour


@app.task(queue="images")
def resize(args: Resize) -> dict[str, object]:
    return {"key": args.key, "width": args.width}


@app.task(name="tests.add")
def add(x: int, y: int) -> int:
    _sink(f"add {x} {y}")
    return x + y


@app.task()
def echo_order(order: Order) -> Order:
    return order


@app.task()
def precise() -> dict[str, object]:
    return {"float": 0.1, "decimal": Decimal("0.10"), "big": 2**80}


@app.task(retry_on=(RuntimeError,))
def boom(message: str) -> None:
    _sink(f"boom {message}")
    raise RuntimeError(message)


@app.task()
def crash_once(marker: str) -> str:
    """Dies like SIGKILL/OOM on its first run (marker file absent), succeeds afterwards."""
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write("crashed")
        os._exit(137)
    return "recovered"


@app.task()
def sleepy(seconds: float, tag: str = "") -> str:
    _sink(f"start {tag} {time.time()}")
    time.sleep(seconds)
    _sink(f"end {tag} {time.time()}")
    return tag


@app.task(retry_on=(FileNotFoundError,))
def needs_marker(marker: str) -> str:
    """Fails while the file ``marker`` is absent (a cause that can be fixed), succeeds once it exists."""
    if not os.path.exists(marker):
        raise FileNotFoundError(f"marker {marker} is missing")
    _sink(f"needs_marker ok {marker}")
    return "fixed"


@app.task(max_retries=3, retry_on=(RuntimeError,), backoff=sqsq.Backoff(base_seconds=1, factor=2, max_seconds=10, jitter=False))
def always_fails(tag: str) -> None:
    """Fails on every run; its runs are 1 s, 2 s and 4 s apart (backoff without jitter), then it is dead-lettered."""
    _sink(f"always_fails {tag} {time.time()}")
    raise RuntimeError(f"always fails ({tag})")


@app.task(time_limit_seconds=30)
def long_running(seconds: float, tag: str) -> str:
    """Runs longer than the test queues' 2 s visibility timeout; the worker's heartbeat keeps it invisible."""
    _sink(f"start {tag} {os.getpid()} {time.time()}")
    time.sleep(seconds)
    _sink(f"end {tag} {os.getpid()} {time.time()}")
    return tag


@app.task(claim=True, time_limit_seconds=5)
def claimed(seconds: float, tag: str) -> str:
    """Claims its task id before running: two deliveries of one task id run it once."""
    _sink(f"claimed {tag} {os.getpid()}")
    time.sleep(seconds)
    return tag


@app.task()
def mark(tag: str, seconds: float = 0.0) -> str:
    """Writes ``mark TAG`` to the sink after ``seconds`` (counts executions per task across processes)."""
    if seconds:
        time.sleep(seconds)
    _sink(f"mark {tag}")
    return tag


@app.task()
def cpu_spin(loops: int) -> dict[str, int]:
    """Pure-Python arithmetic (holds the GIL); returns a checksum and the pid of the process that ran it."""
    acc = 0
    for k in range(loops):
        acc = (acc * 31 + k) % 1_000_003
    _sink(f"cpu_spin {loops} {os.getpid()}")
    return {"checksum": acc, "pid": os.getpid()}


@app.task()
async def async_nap(seconds: float, tag: str) -> str:
    """Awaits ``asyncio.sleep`` (on the worker's event loop)."""
    import asyncio

    _sink(f"nap-start {tag} {time.time()}")
    await asyncio.sleep(seconds)
    _sink(f"nap-end {tag} {time.time()}")
    return tag


@app.task(time_limit_seconds=5)
def tally(tag: str) -> str:
    """Writes ``tally TAG`` to the sink (counts runs); its 5 s time limit keeps a redriven copy's claim lease short."""
    _sink(f"tally {tag}")
    return tag
