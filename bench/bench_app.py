"""The sqsq app the benchmark's worker runs (``bench.bench_app:app``): one task per workload.

Tasks carry ``sent_at`` (the producer's clock when it built the call, i.e. ``Envelope.sent_at`` to within
microseconds, since the envelope is built in the same ``send``) so the task can log send-to-start latency;
the task has no other way to see its envelope.
"""

from __future__ import annotations

import sqsq
from bench import workload

app = sqsq.App("bench")


@app.task(name="bench.noop", ignore_result=True)
def noop(i: int, sent_at: float) -> int:
    """No work; results off."""
    return workload.run("noop", i, sent_at, 0)


@app.task(name="bench.noop_result")
def noop_result(i: int, sent_at: float) -> int:
    """No work; its SUCCESS is stored in DynamoDB."""
    return workload.run("noop", i, sent_at, 0)


@app.task(name="bench.sleep", ignore_result=True)
def sleep(i: int, sent_at: float, seconds: float) -> int:
    """Sleeps ``seconds`` (I/O-like: releases the GIL); results off."""
    return workload.run("sleep", i, sent_at, seconds)


@app.task(name="bench.cpu", ignore_result=True)
def cpu(i: int, sent_at: float, loops: int) -> int:
    """``loops`` iterations of pure-Python arithmetic (holds the GIL); results off."""
    return workload.run("cpu", i, sent_at, loops)
