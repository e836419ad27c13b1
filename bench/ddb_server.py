"""Server-side cost per request of the local AWS: sqsq's patched moto server against moto's own ``moto_server``.

Usage: ``python bench/ddb_server.py [--requests N] [--reps N] [--tree PATH ...] [--no-moto]``.

Starts one server per system (sqsq's ``python -m sqsq.local.server`` for this tree and for each ``--tree``, plus
moto 5.2.5's unpatched ``moto_server``), creates the same results table on each (sqsq's shape: key ``task_id``,
the ``by_state_day`` index), then sends sequential requests from one boto3 client, one operation at a time:

* ``PutItem``: a sqsq-shaped result item, a new task id each time;
* ``PutItem cond``: the same with sqsq's final-write ConditionExpression (as ``DynamoResults.put`` sends it);
* ``GetItem``: a strongly consistent read of a stored item;
* ``SendMessageBatch`` / ``ReceiveMessage`` / ``DeleteMessageBatch``: 10 messages per call.

For each operation it prints the server process's CPU time per request (user + system, read from the kernel
before and after; the client's own CPU is not in it), the client's wall time per round trip and the client's own
CPU time per request (boto3: building, signing, sending, parsing), as medians
[min-max] over the repetitions, the systems interleaved within each repetition so the machine's load hits them
alike. Each ``--tree`` is a source tree (``git archive REV | tar -x -C DIR``) put first on PYTHONPATH of its
server, so an older sqsq is measured by the same interpreter in the same run. Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import psutil  # noqa: E402
from botocore.config import Config  # noqa: E402

READY_PREFIX = "sqsq local AWS listening on "
TABLE = "bench-results"
# sqsq's final-write condition (sqsq.results.dynamodb._FINAL_CONDITION with the same-message rule filled in)
CONDITION = (
    "attribute_not_exists(task_id) OR expires_at <= :now OR (task_name = :task_name AND sent_at = :sent_at AND "
    "(generation < :gen OR (generation = :gen AND NOT #status IN (:success, :failure, :revoked))))"
)


class Server:
    """One server process: sqsq's (a source tree) or moto's own."""

    def __init__(self, label: str, command: list[str], env: dict[str, str], port: int | None,
                 cwd: Path | None = None) -> None:
        self.label = label
        self._out = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, stdout=self._out, stderr=subprocess.STDOUT, env=env,
                                        stdin=subprocess.DEVNULL, start_new_session=True, cwd=cwd)
        self.url = self._wait(port)
        self.ps = psutil.Process(self.process.pid)

    def _wait(self, port: int | None) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._out.seek(0)
                raise RuntimeError(f"{self.label} exited: {self._out.read().decode(errors='replace')[-2000:]}")
            if port is None:
                self._out.seek(0)
                for line in self._out.read().decode(errors="replace").splitlines():
                    if line.startswith(READY_PREFIX):
                        return line[len(READY_PREFIX):].strip()
            else:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    return f"http://127.0.0.1:{port}"
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.label} did not start within 60 s")

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_servers(trees: list[Path], with_moto: bool) -> list[Server]:
    servers = []
    for i, tree in enumerate(trees):
        env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}
        label = "sqsq" if i == 0 else f"sqsq@{tree.name}"
        # cwd = the tree: ``python -m`` puts the working directory first on sys.path
        servers.append(Server(label, [sys.executable, "-m", "sqsq.local.server", "--port", "0"], env, None, tree))
    if with_moto:
        port = free_port()
        moto = str(Path(sys.executable).with_name("moto_server"))
        servers.append(Server("moto_server", [moto, "-H", "127.0.0.1", "-p", str(port)], dict(os.environ), port))
    return servers


def item(task_id: str, now: float) -> dict[str, dict[str, str]]:
    """A result item as sqsq writes it for a successful no-op task."""
    return {
        "task_id": {"S": task_id}, "status": {"S": "SUCCESS"}, "task_name": {"S": "bench.noop"},
        "attempts": {"N": "1"}, "generation": {"N": "0"}, "updated_at": {"N": repr(round(now, 6))},
        "expires_at": {"N": str(int(now) + 86400)}, "result": {"S": "null"}, "sent_at": {"N": repr(round(now, 6))},
        "runtime_seconds": {"N": "0.000012"}, "args_preview": {"S": "{}"},
        "state_day": {"S": "SUCCESS#" + time.strftime("%Y-%m-%d", time.gmtime(now))},
    }


class Workbench:
    """The clients and resources of one server."""

    def __init__(self, server: Server) -> None:
        self.server = server
        kw: dict[str, Any] = {"endpoint_url": server.url, "region_name": "us-east-1", "aws_access_key_id": "testing",
                              "aws_secret_access_key": "testing", "config": Config(retries={"max_attempts": 1})}
        self.ddb = boto3.client("dynamodb", **kw)
        self.sqs = boto3.client("sqs", **kw)
        self.ddb.create_table(
            TableName=TABLE, KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"},
                                  {"AttributeName": "state_day", "AttributeType": "S"},
                                  {"AttributeName": "updated_at", "AttributeType": "N"}],
            GlobalSecondaryIndexes=[{"IndexName": "by_state_day", "KeySchema": [
                {"AttributeName": "state_day", "KeyType": "HASH"}, {"AttributeName": "updated_at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["task_name", "status"]}}],
            BillingMode="PAY_PER_REQUEST")
        self.queue = self.sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        self.stored: list[str] = []

    def put(self, conditional: bool) -> Callable[[], None]:
        def call() -> None:
            now = time.time()
            task_id = uuid.uuid4().hex
            kwargs: dict[str, Any] = {"TableName": TABLE, "Item": item(task_id, now)}
            if conditional:
                kwargs.update(ConditionExpression=CONDITION, ExpressionAttributeNames={"#status": "status"},
                              ExpressionAttributeValues={
                                  ":task_name": {"S": "bench.noop"}, ":sent_at": {"N": repr(round(now, 6))},
                                  ":now": {"N": str(int(now))}, ":gen": {"N": "0"}, ":success": {"S": "SUCCESS"},
                                  ":failure": {"S": "FAILURE"}, ":revoked": {"S": "REVOKED"}})
            self.ddb.put_item(**kwargs)
            self.stored.append(task_id)
        return call

    def get(self) -> Callable[[], None]:
        def call() -> None:
            self.ddb.get_item(TableName=TABLE, Key={"task_id": {"S": self.stored[len(self.stored) // 2]}},
                              ConsistentRead=True)
        return call

    def send(self) -> Callable[[], None]:
        body = '{"v": 1, "task": "bench.noop", "args": {}}'
        return lambda: self.sqs.send_message_batch(
            QueueUrl=self.queue, Entries=[{"Id": str(i), "MessageBody": body} for i in range(10)])

    def receive_delete(self) -> tuple[Callable[[], None], Callable[[], None]]:
        handles: list[list[str]] = []

        def receive() -> None:
            got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            handles.append([m["ReceiptHandle"] for m in got.get("Messages", [])])

        def delete() -> None:
            batch = handles.pop()
            if batch:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue, Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(batch)])
        return receive, delete


def measure(bench: Workbench, call: Callable[[], None], n: int) -> tuple[float, float, float]:
    """(server CPU ms, client wall ms, client CPU ms) per request over ``n`` calls."""
    cpu0, t0, own0 = bench.server.cpu_seconds(), time.perf_counter(), time.process_time()
    for _ in range(n):
        call()
    wall, cpu = time.perf_counter() - t0, bench.server.cpu_seconds() - cpu0
    return cpu / n * 1000, wall / n * 1000, (time.process_time() - own0) / n * 1000


def rep(bench: Workbench, n: int) -> dict[str, tuple[float, float, float]]:
    out = {
        "PutItem": measure(bench, bench.put(False), n),
        "PutItem cond": measure(bench, bench.put(True), n),
        "GetItem": measure(bench, bench.get(), n),
    }
    batches = max(1, n // 4)
    out["SendMessageBatch(10)"] = measure(bench, bench.send(), batches)
    receive, delete = bench.receive_delete()
    out["ReceiveMessage(10)"] = measure(bench, receive, batches)
    out["DeleteMessageBatch(10)"] = measure(bench, delete, batches)
    return out


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per operation and repetition")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tree", type=Path, action="append", default=[], help="another sqsq source tree")
    parser.add_argument("--no-moto", action="store_true", help="leave moto's own server out")
    args = parser.parse_args(argv)
    servers = start_servers([ROOT, *args.tree], not args.no_moto)
    try:
        benches = [Workbench(s) for s in servers]
        for b in benches:  # warm up: first requests import and build moto's backends
            rep(b, 20)
        results: dict[str, dict[str, list[tuple[float, float, float]]]] = {s.label: {} for s in servers}
        load = []
        for r in range(args.reps):
            order = benches if r % 2 == 0 else benches[::-1]
            for b in order:
                for op, figures in rep(b, args.requests).items():
                    results[b.server.label].setdefault(op, []).append(figures)
            load.append(open("/proc/loadavg").read().split()[0])
    finally:
        for s in servers:
            s.stop()
    base = "moto_server" if not args.no_moto else None
    print(f"# local AWS cost per request ({args.requests} sequential requests per operation, {args.reps} reps; "
          f"load average after each rep: {', '.join(load)}; {os.cpu_count()} CPUs)\n")
    print("| operation | server | server CPU ms/request | CPU vs moto_server | wall ms/request | client CPU ms/request |")
    print("|---|---|---|---|---|---|")
    for op in results[servers[0].label]:
        for s in servers:
            figures = results[s.label][op]
            cpu = [f[0] for f in figures]
            ratio = ""
            if base and s.label != base:
                ratio = f"{statistics.median(cpu) / statistics.median([f[0] for f in results[base][op]]):.2f}x"
            print(f"| {op} | {s.label} | {fmt(cpu)} | {ratio} | {fmt([f[1] for f in figures])} | "
                  f"{fmt([f[2] for f in figures])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
