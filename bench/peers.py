"""The peer harness's sqsq figures, run from ``bench/run.py`` so that one command prints every figure of issue 11.

The peer harness (``../shared/bench/peers`` beside this repository, not part of it) measures task queues side by
side through thin adapters against its own counting moto server. This module only *runs* it, as a subprocess, and
reads its JSON lines; nothing of it is copied here. It runs two sets, systems alternated within each repetition
(``--interleave``) so drift hits all alike:

- W1 2,000 no-op tasks, no added latency (server-bound on this machine): the raw boto3 loop, sqsq results off,
  sqsq results on;
- W1 500 tasks with 10 ms of simulated round trip per request (``--latency-ms 10``; real SQS and DynamoDB are
  10-30 ms away), the same three systems.

Beside each drain rate it prints what the harness's own server spent per task (:mod:`bench.server_cpu`), and
so the most any system could drain there.

Both sqsq adapters run ``sqsq worker`` with its defaults, so ``--processes`` is the number of CPUs. The harness
needs a venv with moto[server], boto3 and psutil (``venv``) and one with sqsq (``venv-sqsq``): this module points
both at the interpreter running the benchmark (``.venv``, which has all of them and this tree installed editable).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.server_cpu import ServerSampler

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT.parent / "shared" / "bench" / "peers"
"""Where the harness is on the development machines (``--peers`` overrides; absent: the section is skipped)."""

SYSTEMS = ("raw_boto3", "sqsq_off", "sqsq_on")
SETS = (
    # (label, task count, simulated RTT ms)
    ("W1 2,000 no-op, no added latency", 2000, 0.0),
    ("W1 500 no-op, 10 ms simulated RTT", 500, 10.0),
)
TIMEOUT_SECONDS = 1200


@dataclass
class PeerSet:
    """One set's runs: ``rates[system]`` = drain tasks/s per repetition (None: that run failed)."""

    label: str
    n: int
    latency_ms: float
    rates: dict[str, list[float | None]]
    rss_mib: dict[str, list[float]]
    server_ms: dict[str, list[float]]
    """The harness server's CPU ms per task in each run's drain window (:mod:`bench.server_cpu`)."""

    def ratios(self, system: str) -> list[float]:
        """``system``'s drain over the raw loop's, per repetition where both ran."""
        return [s / b for s, b in zip(self.rates.get(system, []), self.rates.get("raw_boto3", []), strict=False)
                if s is not None and b]


def _free_port() -> int:
    """A free port in 5200-5299 (the harness accepts only those)."""
    for port in range(5200, 5300):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 5200-5299 for the peer harness")


def _home(tmp: Path) -> Path:
    """A PEERBENCH_HOME whose two venvs are this interpreter's (see the module docstring)."""
    home = tmp / "peerbench"
    home.mkdir()
    for name in ("venv", "venv-sqsq"):
        (home / name).symlink_to(Path(sys.prefix), target_is_directory=True)
    return home


def _run_set(peers_dir: Path, home: Path, n: int, latency_ms: float, reps: int) -> list[dict[str, Any]]:
    out = home / f"w1-{n}-{latency_ms:g}ms.jsonl"
    env = {**os.environ, "PEERBENCH_HOME": str(home), "PEERBENCH_PORT": str(_free_port())}
    env.pop("AWS_ENDPOINT_URL", None)
    cmd = [str(home / "venv" / "bin" / "python"), "harness.py", "--systems", ",".join(SYSTEMS), "--workload", "w1",
           "--modes", "default", "--reps", str(reps), "--n", str(n), "--interleave", "--out", str(out)]
    if latency_ms:
        cmd += ["--latency-ms", f"{latency_ms:g}"]
    proc = subprocess.Popen(cmd, cwd=peers_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = ServerSampler(proc.pid)
    sampler.start()
    try:
        rc = proc.wait(timeout=TIMEOUT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sampler.stop()
    if rc != 0:
        raise subprocess.CalledProcessError(rc, cmd)
    runs = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    for run in runs:  # read now: the next set's runs reuse these run directories
        tag = f"{run['system']}-{run['workload']}-c{run['concurrency']}-r{run['rep']}"
        run["server_cpu_ms_per_task"] = sampler.ms_per_task(home / "runs" / tag / "sink.txt")
    return runs


def measure(peers_dir: Path, reps: int, step: Callable[[str, Callable[[], Any]], Any]) -> list[PeerSet]:
    """Run both sets (``reps`` repetitions each) and return their drain rates."""
    sets = []
    with tempfile.TemporaryDirectory(prefix="sqsq-peers-") as tmp:
        home = _home(Path(tmp))
        for label, n, latency_ms in SETS:
            runs = step(f"peer harness: {label}", lambda n=n, lat=latency_ms: _run_set(peers_dir, home, n, lat, reps))
            rates: dict[str, list[float | None]] = {s: [] for s in SYSTEMS}
            rss: dict[str, list[float]] = {s: [] for s in SYSTEMS}
            server: dict[str, list[float]] = {s: [] for s in SYSTEMS}
            for run in sorted(runs, key=lambda r: r["rep"]):
                ok = run.get("ok") and not run.get("missing")
                rates[run["system"]].append(run["drain_rate"] if ok else None)
                if run.get("rss_peak_mib"):
                    rss[run["system"]].append(run["rss_peak_mib"])
                if ok and run.get("server_cpu_ms_per_task"):
                    server[run["system"]].append(run["server_cpu_ms_per_task"])
            sets.append(PeerSet(label, n, latency_ms, rates, rss, server))
    return sets


def markdown(sets: list[PeerSet], peers_dir: Path) -> str:
    """The section for RESULTS.md."""
    lines = [
        "## The peer harness (issue 11's side-by-side figures)",
        "",
        f"`{peers_dir}` run by `bench/peers.py` (its `harness.py`, its own counting moto server, "
        "`--interleave`): drain tasks/s of the raw boto3 loop and of default `sqsq worker`s (one process per CPU), "
        "median [min-max] of the repetitions; ratios are per repetition against the raw loop of the same one. "
        "Server CPU: what the harness's one moto process (GIL-bound: at most one core) spent per task from the "
        "run's first to its last task (`bench/server_cpu.py`); at `c` ms per task no system drains faster than "
        "`1000 / c` tasks/s, the ceiling column.",
        "",
        "| set | system | drain tasks/s | vs raw loop | server CPU ms/task | ceiling tasks/s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in sets:
        for system in SYSTEMS:
            rates = [r for r in s.rates.get(system, []) if r is not None]
            failed = len(s.rates.get(system, [])) - len(rates)
            rate = f"{statistics.median(rates):.0f} [{min(rates):.0f}-{max(rates):.0f}]" if rates else "-"
            if failed:
                rate += f" ({failed} failed)"
            ratios = s.ratios(system)
            ratio = (f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"
                     if ratios and system != "raw_boto3" else "1.00x")
            rss = f"{max(s.rss_mib[system]):.0f}" if s.rss_mib.get(system) else "-"
            server_ms = s.server_ms.get(system) or []
            cpu = f"{statistics.median(server_ms):.2f} [{min(server_ms):.2f}-{max(server_ms):.2f}]" if server_ms else "-"
            ceiling = f"{1000 / statistics.median(server_ms):.0f}" if server_ms else "-"
            lines.append(f"| {s.label} | {system} | {rate} | {ratio} | {cpu} | {ceiling} | {rss} |")
    return "\n".join(lines) + "\n"


def target_rows(sets: list[PeerSet]) -> list[tuple[str, str, bool | None]]:
    """Issue 11's peer-harness targets against the measured ratios."""
    rows: list[tuple[str, str, bool | None]] = []
    wanted = {
        (0.0, "sqsq_off"): ("#11: peer harness W1 results off >= 1.0x raw (no added latency)", 1.0),
        (10.0, "sqsq_off"): ("#11: peer harness 10 ms RTT, results off >= 1.3x raw", 1.3),
        (10.0, "sqsq_on"): ("#11: peer harness 10 ms RTT, results on >= 1.0x raw", 1.0),
    }
    for s in sets:
        for system in ("sqsq_off", "sqsq_on"):
            target = wanted.get((s.latency_ms, system))
            ratios = s.ratios(system)
            if target and ratios:
                med = statistics.median(ratios)
                rows.append((target[0], f"{med:.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]", med >= target[1]))
    return rows
