"""Task bodies shared by the sqsq bench app and the plain boto3 loop (stdlib only, so neither side pays for the
other's imports).

Every task appends one line ``"<kind> <i> <sent_at> <started_at> <pid>"`` to the file named by ``BENCH_SINK``
(epoch seconds). The harness reads it to know when every task has started and to compute send-to-start latency.
"""

from __future__ import annotations

import os
import time

SINK_ENV = "BENCH_SINK"
"""Environment variable naming the sink file (not ``SQSQ_*``: sqsq rejects unknown ``SQSQ_*`` settings)."""

KINDS = ("noop", "sleep", "cpu")


def record_start(kind: str, i: int, sent_at: float) -> None:
    """Append this task's start line to the sink (one ``write`` on an ``O_APPEND`` descriptor: lines never mix)."""
    path = os.environ.get(SINK_ENV)
    if not path:
        return
    line = f"{kind} {i} {sent_at!r} {time.time()!r} {os.getpid()}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def cpu_work(loops: int) -> int:
    """Pure-Python work holding the GIL: ``loops`` iterations of integer arithmetic. Returns a checksum."""
    acc = 0
    for k in range(loops):
        acc = (acc * 31 + k) % 1_000_003
    return acc


def calibrate_cpu_loops(target_seconds: float, samples: int = 5) -> int:
    """Loop count for :func:`cpu_work` taking about ``target_seconds`` on this machine (best of ``samples``)."""
    probe = 100_000
    best = float("inf")
    for _ in range(samples):
        t0 = time.perf_counter()
        cpu_work(probe)
        best = min(best, time.perf_counter() - t0)
    return max(1, int(probe * target_seconds / best))


def run(kind: str, i: int, sent_at: float, param: float) -> int:
    """Run one task body: record its start, then ``noop``, ``sleep`` (``param`` seconds) or ``cpu`` (``param`` loops).

    Returns:
        ``i`` (noop, sleep) or the cpu checksum.

    Raises:
        ValueError: an unknown kind.
    """
    record_start(kind, i, sent_at)
    if kind == "noop":
        return i
    if kind == "sleep":
        time.sleep(param)
        return i
    if kind == "cpu":
        return cpu_work(int(param))
    raise ValueError(f"unknown workload kind {kind!r}; use one of {KINDS}")
