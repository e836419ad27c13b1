"""The CPU the peer harness's own moto server spends per task: the ceiling of any system it measures.

The harness (``../shared/bench/peers``) serves SQS and DynamoDB from one moto process (``motocount.py``, threaded,
so bound by one GIL: at most one core). With results on, each task costs that server a conditional PutItem on top
of the SQS calls: about 3.5 ms of server CPU per task with ``--latency-ms 10`` on the 2-core development machine,
against about 0.9 ms for the raw boto3 loop (measured, issue 11). A system whose tasks cost the server ``c`` ms
cannot drain faster than ``1000 / c`` tasks/s however it pipelines, so the benchmark prints ``c`` beside each
drain rate.

:class:`ServerSampler` samples the server's CPU seconds (user + system) every :data:`SAMPLE_SECONDS` while the
harness runs; :meth:`ServerSampler.ms_per_task` reads one run's drain window (its first to last task) from the
run's sink file and returns the server CPU spent in it per task.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.05
"""How often the server's CPU is read (a window's edges are off by at most this)."""
SERVER_SCRIPT = "motocount.py"
"""The harness's server, found by its command line among the harness's descendants."""


class ServerSampler:
    """Samples the CPU seconds of the harness's server process(es) on a thread, from :meth:`start` to :meth:`stop`.

    Args:
        harness_pid: the harness process; its descendants running :data:`SERVER_SCRIPT` are sampled (the harness
            starts one server per run).
    """

    def __init__(self, harness_pid: int):
        self._harness = psutil.Process(harness_pid)
        self._samples: list[tuple[float, dict[int, float]]] = []  # (epoch seconds, {server pid: CPU seconds})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="server-cpu", daemon=True)
        self._known: dict[int, psutil.Process] = {}

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (waits for the thread)."""
        self._stop.set()
        self._thread.join()

    def _servers(self) -> list[psutil.Process]:
        try:
            children = self._harness.children(recursive=True)
        except psutil.Error:
            return []
        for child in children:
            if child.pid not in self._known:
                try:
                    if any(SERVER_SCRIPT in part for part in child.cmdline()):
                        self._known[child.pid] = child
                except psutil.Error:
                    continue
        return list(self._known.values())

    def _loop(self) -> None:
        while not self._stop.is_set():
            cpu: dict[int, float] = {}
            for proc in self._servers():
                try:
                    times = proc.cpu_times()
                except psutil.Error:
                    continue
                cpu[proc.pid] = times.user + times.system
            self._samples.append((time.time(), cpu))
            self._stop.wait(SAMPLE_SECONDS)

    def cpu_seconds(self, start: float, end: float) -> float | None:
        """Server CPU seconds spent from ``start`` to ``end`` (epoch seconds), or None without samples around both
        edges of one server process."""
        before = [s for s in self._samples if s[0] <= start]
        after = [s for s in self._samples if s[0] >= end]
        if not before or not after:
            return None
        first, last = before[-1][1], after[0][1]
        spent = [last[pid] - first[pid] for pid in first if pid in last]
        return sum(spent) if spent else None

    def ms_per_task(self, sink: Path) -> float | None:
        """Server CPU milliseconds per task over the drain window of the run whose sink file is ``sink``.

        The sink has one line per task run, ``"<i> <epoch seconds> <pid>"`` (the harness's ``pbcommon.record``).
        None: no sink, no lines, or no samples around the window.
        """
        try:
            stamps = [float(line.split()[1]) for line in sink.read_text().splitlines() if line.strip()]
        except (OSError, IndexError, ValueError):
            return None
        if not stamps:
            return None
        spent = self.cpu_seconds(min(stamps), max(stamps))
        return None if spent is None else 1000.0 * spent / len(stamps)
