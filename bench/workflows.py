"""Workflow figures (issue 13): ``python bench/workflows.py [--members 10000] [--steps 100]``. Prints; not a test.

* A chord of N members (``flows.square``) and a callback (``flows.total``) drained by one ``sqsq worker`` process
  on the local AWS: wall time (send -> callback's value), that the callback ran exactly once, and SQS requests and
  DynamoDB writes per member, from the local server's request counter (``/_sqsq/requests``; the harness's own
  polling of the result is reads only, and counted apart).
* A chain of S steps (``flows.add``, each adding 1 to the previous result) vs the same S tasks run one after
  another by a client (send, wait for the result, send the next): per-step time of each, and requests per step.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqsq  # noqa: E402
from sqsq.local.server import LocalAwsServer  # noqa: E402
from sqsq.testing import local_aws  # noqa: E402
from tests.apps import flows  # noqa: E402

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def _worker(env: dict[str, str], log: Path, concurrency: int) -> subprocess.Popen[bytes]:
    out = open(log, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sqsq.cli", "--log-level", "WARNING", "worker", "tests.apps.flows:app",
         "--concurrency", str(concurrency), "--wait-time-seconds", "1"],
        cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, stdout=out, stderr=out, start_new_session=True,
    )
    out.close()
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _split(counts: dict[str, int]) -> tuple[Counter[str], Counter[str]]:
    sqs: Counter[str] = Counter()
    ddb: Counter[str] = Counter()
    for key, n in counts.items():
        service, action = key.split(":", 1)
        (sqs if service == "sqs" else ddb if service == "dynamodb" else Counter())[action] += n
    return sqs, ddb


def _per(counter: Counter[str], n: int, only: tuple[str, ...] | None = None) -> str:
    items = [(a, c) for a, c in sorted(counter.items()) if only is None or a in only]
    total = sum(c for _, c in items) / n
    return f"{total:.3f} ({', '.join(f'{a} {c / n:.3f}' for a, c in items)})"


def chord_figures(server: LocalAwsServer, members: int, concurrency: int, tmp: Path, prefill: bool) -> None:
    with local_aws(flows.app, server) as env:
        sink = tmp / f"sink-{prefill}.txt"
        worker_env = {**env.client_environment(), "FLOW_TEST_SINK": str(sink)}
        worker = None if prefill else _worker(worker_env, tmp / "chord-worker.log", concurrency)
        try:
            time.sleep(3)  # the worker's start-up (imports, queue lookups) is not the chord's
            server.reset_request_counts()
            started = time.monotonic()
            handle = sqsq.chord([flows.square.s(n) for n in range(members)], flows.total.s()).delay()
            sent = time.monotonic()
            if worker is None:  # prefilled: the worker starts once every member is queued
                worker = _worker(worker_env, tmp / "chord-worker-prefilled.log", concurrency)
            value = handle.get(timeout_seconds=1800, poll_interval_seconds=1.0)
            done = time.monotonic()
            counts = server.request_counts()
        finally:
            if worker is not None:
                _stop(worker)
        runs = sink.read_text().splitlines().count(f"total {members}") if sink.exists() else 0
        sqs, ddb = _split(counts)
        how = "worker started after the send (queue prefilled)" if prefill else "worker running during the send"
        print(f"chord of {members} members (flows.square) + callback, one `sqsq worker -c {concurrency}`, {how}:")
        print(f"  value correct: {value == sum(n * n for n in range(members))}; callback runs: {runs}")
        print(f"  wall time send -> callback value: {done - started:.1f} s (send {sent - started:.1f} s; "
              f"{members / (done - sent):.0f} members/s after the send)")
        print(f"  SQS requests per member: {_per(sqs, members)}")
        print(f"  DynamoDB writes per member: {_per(ddb, members, WRITES)}")
        reads = Counter({a: c for a, c in ddb.items() if a not in WRITES})
        print(f"  DynamoDB reads per member (incl. the harness's result polling): {_per(reads, members)}")


def chain_figures(server: LocalAwsServer, steps: int, tmp: Path) -> None:
    with local_aws(flows.app, server) as env:
        worker = _worker(env.client_environment(), tmp / "chain-worker.log", 4)
        try:
            time.sleep(3)
            server.reset_request_counts()
            started = time.monotonic()
            handle = sqsq.chain(flows.add.s(0, 1), *[flows.add.s(y=1) for _ in range(steps - 1)]).delay()
            value = handle.get(timeout_seconds=900, poll_interval_seconds=0.05)
            chain_wall = time.monotonic() - started
            chain_sqs, chain_ddb = _split(server.request_counts())
            server.reset_request_counts()
            started = time.monotonic()
            x = 0
            for _ in range(steps):
                x = flows.add.delay(x, 1).get(timeout_seconds=60, poll_interval_seconds=0.05)
            plain_wall = time.monotonic() - started
            plain_sqs, plain_ddb = _split(server.request_counts())
        finally:
            _stop(worker)
        print(f"chain of {steps} steps (flows.add) vs {steps} plain tasks sent one after another by the client:")
        print(f"  chain value correct: {value == steps}; plain value correct: {x == steps}")
        print(f"  per step: chain {1000 * chain_wall / steps:.1f} ms, plain {1000 * plain_wall / steps:.1f} ms "
              f"(overhead {1000 * (chain_wall - plain_wall) / steps:+.1f} ms per step)")
        print(f"  SQS requests per step: chain {_per(chain_sqs, steps)}; plain {_per(plain_sqs, steps)}")
        print(f"  DynamoDB writes per step: chain {_per(chain_ddb, steps, WRITES)}; plain {_per(plain_ddb, steps, WRITES)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--skip-chain", action="store_true")
    parser.add_argument("--prefill", choices=["no", "yes", "both"], default="both",
                        help="start the chord's worker before the send (no), after it (yes), or run both")
    args = parser.parse_args(argv)
    server = LocalAwsServer(port=None)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"sqsq workflows benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                  f"{os.cpu_count()} CPU(s), local AWS (moto server) at {server.endpoint_url}")
            if not args.skip_chain:
                chain_figures(server, args.steps, Path(tmp))
            for prefill in {"no": [False], "yes": [True], "both": [False, True]}[args.prefill]:
                chord_figures(server, args.members, args.concurrency, Path(tmp), prefill)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
