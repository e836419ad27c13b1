"""An app whose tasks log (``tests.apps.chatty:app``): for the worker's log format tests."""

from __future__ import annotations

import logging
import time

import sqsq

app = sqsq.App("chatty")
log = logging.getLogger("tests.chatty")


@app.task(name="chatty.greet")
def greet(name: str) -> str:
    log.info("greeting %s", name)
    return f"hello {name}"


@app.task(name="chatty.refuse", max_retries=0)
def refuse(name: str) -> None:
    log.warning("refusing %s", name)
    raise ValueError(f"no greeting for {name}")


@app.task(name="chatty.nap")
def nap(seconds: float) -> str:
    log.info("napping %.1f s", seconds)
    time.sleep(seconds)
    return "rested"
