"""The ``--processes`` scaling figure of ``bench/run.py``: the same drain at 1..N worker processes.

Two workloads: W1-style no-op tasks with results off (workload (a)) and ~20 ms of pure-Python work per task
(workload (d), which holds the GIL), each drained by ``sqsq worker --processes P`` for P = 1 .. the CPU count.
Kept apart from ``run.py`` (which is run as a script) so the measurement is passed in, not imported back.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Scaling:
    """Drain and steady rates (tasks/s) by (workload key, processes), one entry per repetition."""

    titles: dict[str, str] = field(default_factory=dict)
    drain: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    steady: dict[tuple[str, int], list[float]] = field(default_factory=dict)

    def add(self, key: str, title: str, processes: int, drain_per_second: float, steady_per_second: float) -> None:
        """Record one run."""
        self.titles[key] = title
        self.drain.setdefault((key, processes), []).append(drain_per_second)
        self.steady.setdefault((key, processes), []).append(steady_per_second)


def process_counts() -> list[int]:
    """1 .. the CPU count (at least 1, 2)."""
    return list(range(1, max(2, os.cpu_count() or 1) + 1))


def measure(run: Callable[[Any, int], Any], wls: Sequence[Any], reps: int,
            step: Callable[[str, Callable[[], Any]], Any]) -> Scaling:
    """Drain each workload at every process count, ``reps`` times (process counts alternated within a repetition).

    Args:
        run: ``run(workload, processes)`` -> a RunResult (``drain_per_second``, ``steady_per_second``).
        wls: the workloads (objects with ``key`` and ``title``).
        reps: repetitions.
        step: ``run.py``'s progress printer.
    """
    out = Scaling()
    for rep in range(reps):
        for wl in wls:
            for p in process_counts():
                def once(wl: Any = wl, p: int = p) -> Any:
                    return run(wl, p)

                r = step(f"scaling rep {rep + 1}/{reps} {wl.title}: --processes {p}", once)
                out.add(wl.key, wl.title, p, r.drain_per_second, r.steady_per_second)
    return out


def _fmt(values: list[float]) -> str:
    mid = statistics.median(values)
    return f"{mid:.0f}" if len(values) == 1 else f"{mid:.0f} [{min(values):.0f}-{max(values):.0f}]"


def markdown(s: Scaling) -> list[str]:
    """The scaling section of the report."""
    lines = [
        "## Every core: `sqsq worker --processes P`",
        "",
        f"The same drain at P = 1 .. {max(process_counts())} worker processes under one supervisor (each child "
        "`sqsq worker -c 4 --processes 1`). **On this "
        f"{os.cpu_count()}-core machine the local AWS server (one moto process) and the harness share the cores with "
        "the worker processes**, so the no-op drain is bound by the server, not by sqsq; the CPU-bound one shows "
        "what another process buys when task bodies hold the GIL. Drain includes the start-up (the supervisor, then "
        "its children); steady = (n-1) / (last start - first start).",
        "",
        "| workload | processes | drain tasks/s | vs 1 process | steady tasks/s | vs 1 process |",
        "|---|---|---|---|---|---|",
    ]
    for key, title in s.titles.items():
        base_d = statistics.median(s.drain[(key, 1)])
        base_s = statistics.median(s.steady[(key, 1)])
        for p in process_counts():
            d, st = s.drain.get((key, p)), s.steady.get((key, p))
            if not d or not st:
                continue
            lines.append(f"| {title} | {p} | {_fmt(d)} | {statistics.median(d) / base_d:.2f}x | {_fmt(st)} | "
                         f"{statistics.median(st) / base_s:.2f}x |")
    return [*lines, ""]
