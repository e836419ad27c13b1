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


@app.task()
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


@app.task()
def needs_marker(marker: str) -> str:
    """Fails while the file ``marker`` is absent (a cause that can be fixed), succeeds once it exists."""
    if not os.path.exists(marker):
        raise FileNotFoundError(f"marker {marker} is missing")
    _sink(f"needs_marker ok {marker}")
    return "fixed"
