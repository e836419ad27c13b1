"""Start-up cost of the ``sqsq`` command: ``sqsq --help``, and worker spawn -> first ReceiveMessage vs plain boto3.

Usage: ``python bench/startup.py [--reps N] [--tree PATH ...]``. Each ``--tree`` is a source tree (this one by
default) put first on PYTHONPATH, so an older checkout (``git archive REV | tar -x -C DIR``) is measured by the
same interpreter and venv, interleaved with the others rep by rep (the machine's load hits them alike).

* help: ``from sqsq.cli import main; main()`` with ``--help`` (what the console script runs), wall time of the
  process; beside it ``python -c pass``.
* worker: spawn ``python -m sqsq.cli worker bench.bench_app:app`` on an empty, provisioned queue of the embedded
  local AWS; the time until the server has seen its first ReceiveMessage. The plain loop
  (``bench/plain_worker.py``: boto3 only, given the queue URL) is measured the same way.

Each tree's ``sqsq`` and ``bench`` packages are byte-compiled first (:func:`compile_tree`), as an installed sqsq
is: with ``PYTHONDONTWRITEBYTECODE=1`` in the environment every child would otherwise compile sqsq from source.

Prints medians (and min) in ms, of wall time and of the process's CPU time (user + system; for a worker, what it
had used when its first ReceiveMessage arrived). On a loaded machine the wall times stretch with the load; the
CPU times much less: compare the rows of one run.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HELP = "import sys; from sqsq.cli import main; sys.argv[0] = 'sqsq'; sys.exit(main())"
READY_TIMEOUT_SECONDS = 60.0


def compile_tree(tree: Path) -> None:
    """Byte-compile a source tree's ``sqsq`` and ``bench`` packages, as ``pip install`` does for an installed sqsq.

    Its dependencies in site-packages are compiled; a source tree run with ``PYTHONDONTWRITEBYTECODE=1`` (set on
    some machines) would otherwise be compiled from source in every child, tens of ms the plain loop does not pay.
    """
    for package in ("sqsq", "bench"):
        if (tree / package).is_dir():
            compileall.compile_dir(tree / package, quiet=1)


def wall_ms(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) time of one run of ``command`` to completion, in ms (CPU: user + system of the child)."""
    cpu_before = _children_cpu_seconds()
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = (time.perf_counter() - started) * 1000.0
    return wall, (_children_cpu_seconds() - cpu_before) * 1000.0


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_ms_of(pid: int) -> float:
    """User + system CPU of process ``pid`` so far (all its threads), from /proc/PID/stat, in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def first_receive_ms(command: list[str], env: dict[str, str], cwd: Path, server: object) -> tuple[float, float]:
    """Spawn ``command``; (wall ms until ``server`` counts one more sqs:ReceiveMessage, the process's CPU ms by
    then). The process is stopped by PID."""
    before = server.request_counts().get("sqs:ReceiveMessage", 0)  # type: ignore[attr-defined]
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while server.request_counts().get("sqs:ReceiveMessage", 0) == before:  # type: ignore[attr-defined]
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command} made no ReceiveMessage (exit {proc.returncode})")
            time.sleep(0.002)
        return (time.perf_counter() - started) * 1000.0, _cpu_ms_of(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def summary(values: list[tuple[float, float]]) -> str:
    wall, cpu = [v[0] for v in values], [v[1] for v in values]
    return (f"wall {statistics.median(wall):7.1f} ms (min {min(wall):6.1f})   "
            f"CPU {statistics.median(cpu):6.1f} ms (min {min(cpu):6.1f})")


def measure(server: Any, reps: int, trees: list[Path] | None = None) -> dict[str, list[tuple[float, float]]]:
    """Start-up rows measured on ``server`` (a running local AWS): ``--help`` and spawn -> first ReceiveMessage of
    sqsq's worker per tree, beside ``python -c pass`` and the plain boto3 loop; (wall ms, CPU ms) per repetition."""
    from sqsq.local.provision import provision

    trees = trees or [ROOT]
    for tree in trees:
        compile_tree(tree)
    os.environ.update(server.client_environment())  # this process provisions the queue
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")}
    prefix = f"s{uuid.uuid4().hex[:6]}-"
    from bench.bench_app import app

    with app.using(endpoint_url=server.endpoint_url, queue_prefix=prefix, results_table=f"{prefix}results"):
        provision(app)
        url = app.transport.queue_info(app.queue_name(None)).url
    worker_env = {**base_env, "SQSQ_QUEUE_PREFIX": prefix, "SQSQ_RESULTS_TABLE": f"{prefix}results"}
    rows: dict[str, list[tuple[float, float]]] = {PASS: []}
    plain = [sys.executable, str(ROOT / "bench" / "plain_worker.py"), "--queue-url", url, "--threads", "4"]
    rows[PLAIN_SPAWN] = []
    for _ in range(reps):
        rows[PASS].append(wall_ms([sys.executable, "-c", "pass"], base_env, ROOT))
        rows[PLAIN_SPAWN].append(first_receive_ms(plain, base_env, ROOT, server))
        for tree in trees:
            env = {**worker_env, "PYTHONPATH": f"{tree}{os.pathsep}{ROOT}"}
            rows.setdefault(help_label(tree), []).append(wall_ms([sys.executable, "-c", HELP, "--help"], env, tree))
            worker = [sys.executable, "-m", "sqsq.cli", "worker", "bench.bench_app:app", "-c", "4", "--processes", "1"]
            rows.setdefault(spawn_label(tree), []).append(first_receive_ms(worker, env, tree, server))
    return rows


PASS = "python -c pass"
PLAIN_SPAWN = "plain boto3 loop: spawn -> first ReceiveMessage"


def help_label(tree: Path) -> str:
    """Row label of ``sqsq --help`` for a source tree."""
    return f"[{tree.name}] sqsq --help"


def spawn_label(tree: Path) -> str:
    """Row label of the sqsq worker's spawn -> first ReceiveMessage for a source tree."""
    return f"[{tree.name}] sqsq worker: spawn -> first ReceiveMessage"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--tree", type=Path, action="append", default=None, help="source tree(s); default: this one")
    args = parser.parse_args()
    trees: list[Path] = [t.resolve() for t in (args.tree or [ROOT])]

    from sqsq.local.server import LocalAwsServer

    server = LocalAwsServer(port=None)
    server.start()
    try:
        rows = measure(server, args.reps, trees)
        width = max(len(k) for k in rows)
        print(f"{args.reps} reps, interleaved; python {sys.version.split()[0]}; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for label, values in rows.items():
            print(f"{label:<{width}}  {summary(values)}")
        plain = rows[PLAIN_SPAWN]
        for tree in trees:
            mine = rows[spawn_label(tree)]
            ratios = [statistics.median(v[k] for v in mine) / statistics.median(v[k] for v in plain) for k in (0, 1)]
            print(f"[{tree.name}] worker spawn / plain loop: wall {ratios[0]:.2f}x, CPU {ratios[1]:.2f}x")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
