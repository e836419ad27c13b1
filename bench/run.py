"""sqsq benchmark: sqsq against a plain boto3 loop on the same local AWS, with every request counted.

Run ``python bench/run.py`` (a few minutes) or ``python bench/run.py --quick`` (about one minute). One invocation:

1. starts its own local AWS (:class:`sqsq.local.server.LocalAwsServer`, 127.0.0.1, a free port), which counts every
   SQS and DynamoDB request by action on the server side;
2. runs each drain workload with the plain loop (``bench/plain_worker.py``) and with sqsq (``python -m sqsq.cli
   worker bench.bench_app:app``), each as a real subprocess started after its queue was filled:
   (a) no-op tasks, results off; (b) the same with DynamoDB results on; (c) 50 ms sleeps at concurrency 8;
   (d) ~20 ms of pure-Python work per task (sqsq also with ``--pool process``);
3. measures the producers alone (``send_many``, single ``send`` calls, ``with app.batch():``), send-to-start latency
   with a warm idle worker and a paced producer, an idle worker's ReceiveMessage rate, its SIGTERM-to-exit time,
   and the Lambda handler's import cost;
4. prints markdown tables and writes them to ``bench/RESULTS.md`` (``--out``).

Figures, not pass/fail. The machine is shared, so compare ratios within one run, not absolute numbers.

Drain time = worker spawn -> every task has started (sink file) and the queue is empty (visible + in flight +
delayed = 0, polled by the harness every 20 ms), so worker boot and the last deletes (and, for sqsq, the results,
which are written before the delete) are included. The harness's own requests (the depth polls, queue URL lookups)
are counted client-side and subtracted from the server's counts.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import psutil  # noqa: E402
from botocore.config import Config  # noqa: E402

from bench import lambda_imports, peers, scaling, startup, workload  # noqa: E402

# -- prices (list prices, us-east-1, as given in issue #5; free tiers ignored) ---------------------------------------
SQS_USD_PER_MILLION_REQUESTS = 0.40
"""SQS standard queue: per million requests; each 64 KB chunk of a payload is one request (our bodies are < 1 KB)."""
DDB_USD_PER_MILLION_WRU = 1.25
"""DynamoDB on-demand: per million write request units (one per PutItem of an item <= 1 KB)."""
DDB_USD_PER_MILLION_RRU = 0.25
"""DynamoDB on-demand: per million read request units (one per strongly consistent GetItem <= 4 KB)."""
PRICE_NOTE = (
    "Prices: SQS standard $0.40 per million requests (64 KB chunks), DynamoDB on-demand $1.25 per million WRU and "
    "$0.25 per million RRU; us-east-1 list prices as given in issue #5, free tiers ignored; one request unit per "
    "DynamoDB request (every item here is < 1 KB). AWS lowered on-demand DynamoDB prices in Nov 2024; check the "
    "pricing page before quoting absolute dollars."
)

DDB_WRITE_ACTIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
DDB_READ_ACTIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
POLL_SECONDS = 0.02
RSS_SAMPLE_SECONDS = 0.1
STOP_TIMEOUT_SECONDS = 40.0
READY_TIMEOUT_SECONDS = 30.0


# --------------------------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Sizes of every measurement (full run or ``--quick``)."""

    quick: bool
    reps: int
    n_noop: int
    n_sleep: int
    sleep_seconds: float
    sleep_concurrency: int
    n_cpu: int
    cpu_seconds: float
    concurrency: int
    n_producer: int
    n_paced: int
    paced_per_second: float
    idle_seconds: float
    import_reps: int

    @classmethod
    def make(cls, quick: bool, reps: int | None) -> Plan:
        """The full plan, or the ~1 minute one."""
        if quick:
            return cls(True, reps or 1, 500, 100, 0.05, 8, 50, 0.02, 4, 200, 40, 20.0, 21.0, 3)
        return cls(False, reps or 3, 2000, 200, 0.05, 8, 200, 0.02, 4, 1000, 200, 25.0, 40.0, 7)


@dataclass(frozen=True)
class Workload:
    """One drain workload."""

    key: str
    title: str
    n: int
    concurrency: int
    sqsq_task: str
    kind: str
    param: float
    results: bool


def workloads(plan: Plan, cpu_loops: int) -> list[Workload]:
    """Workloads (a)-(d) sized by the plan."""
    return [
        Workload("a", f"(a) {plan.n_noop} no-op, results off", plan.n_noop, plan.concurrency, "bench.noop", "noop", 0,
                 False),
        Workload("b", f"(b) {plan.n_noop} no-op, results on", plan.n_noop, plan.concurrency, "bench.noop_result",
                 "noop", 0, True),
        Workload("c", f"(c) {plan.n_sleep} x {plan.sleep_seconds * 1000:.0f} ms sleep", plan.n_sleep,
                 plan.sleep_concurrency, "bench.sleep", "sleep", plan.sleep_seconds, False),
        Workload("d", f"(d) {plan.n_cpu} x ~{plan.cpu_seconds * 1000:.0f} ms CPU", plan.n_cpu, plan.concurrency,
                 "bench.cpu", "cpu", cpu_loops, False),
    ]


# --------------------------------------------------------------------------------------------------------------------
# processes: every child in its own process group, all stopped on exit (also on Ctrl-C and errors)
# --------------------------------------------------------------------------------------------------------------------

_children: list[subprocess.Popen[bytes]] = []


def spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session (process group); stdout and stderr go to ``log_path``."""
    log = open(log_path, "ab")  # closed right after the child holds it
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()  # the child holds its own descriptor
    _children.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout_seconds: float = STOP_TIMEOUT_SECONDS,
         second_signal_after: float | None = None) -> float:
    """SIGTERM the process group, wait up to ``timeout_seconds``, then SIGKILL. Returns seconds until it exited.

    ``second_signal_after``: send SIGTERM again after this many seconds (a sqsq worker then exits at once instead of
    waiting for its long poll in flight; used after a drain, when nothing is held any more).
    """
    started = time.monotonic()
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            if second_signal_after is not None:
                try:
                    proc.wait(timeout=second_signal_after)
                except subprocess.TimeoutExpired:
                    _signal_group(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    elapsed = time.monotonic() - started
    _signal_group(proc.pid, signal.SIGKILL)  # anything left in its group
    if proc in _children:
        _children.remove(proc)
    return elapsed


def stop_all() -> None:
    """Kill every child still running (used on errors and Ctrl-C)."""
    for proc in list(_children):
        _signal_group(proc.pid, signal.SIGKILL)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        _children.remove(proc)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class RssSampler:
    """Peak resident set size of a process and its children, sampled every 0.1 s on a thread."""

    def __init__(self, pid: int):
        self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self.peak_bytes = 0
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self._process, *self._process.children(recursive=True)]
                self.peak_bytes = max(self.peak_bytes, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            self._stop.wait(RSS_SAMPLE_SECONDS)

    def close(self) -> float:
        """Stop sampling. Returns the peak in MiB."""
        self._stop.set()
        self._thread.join(timeout=2)
        return self.peak_bytes / 2**20


# --------------------------------------------------------------------------------------------------------------------
# counting
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Server-side request counts plus the harness's own requests, taken together."""

    server: Counter[str]
    own: Counter[str]


class Harness:
    """The local AWS, a harness client whose own requests are counted (and subtracted), and the bench's env."""

    def __init__(self, server: Any, work: Path):
        self.server = server
        self.work = work
        self.endpoint = server.endpoint_url
        config = Config(region_name="us-east-1", retries={"mode": "standard", "total_max_attempts": 1})
        self.sqs = boto3.session.Session().client("sqs", endpoint_url=self.endpoint, config=config)
        self.ddb = boto3.session.Session().client("dynamodb", endpoint_url=self.endpoint, config=config)
        self.own: Counter[str] = Counter()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")},
            **server.client_environment(),
            "PYTHONPATH": str(ROOT),
        }

    def call(self, client: Any, service: str, action: str, method: str, **kwargs: Any) -> Any:
        """Make a harness request, counted as the harness's own."""
        self.own[f"{service}:{action}"] += 1
        return getattr(client, method)(**kwargs)

    def snapshot(self) -> Snapshot:
        """Counts now (the control endpoint itself is never counted)."""
        return Snapshot(Counter(self.server.request_counts()), Counter(self.own))

    @staticmethod
    def delta(before: Snapshot, after: Snapshot) -> Counter[str]:
        """Requests made by everyone but the harness between two snapshots."""
        out = (after.server - before.server) - (after.own - before.own)
        return +out

    def queue_url(self, name: str) -> str:
        """URL of queue ``name`` (harness request)."""
        return str(self.call(self.sqs, "sqs", "GetQueueUrl", "get_queue_url", QueueName=name)["QueueUrl"])

    def queue_empty(self, url: str) -> bool:
        """Visible + in flight + delayed == 0 (one harness GetQueueAttributes)."""
        attrs = self.call(
            self.sqs, "sqs", "GetQueueAttributes", "get_queue_attributes", QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                            "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        return sum(int(v) for v in attrs.values()) == 0

    def wait_ready(self, proc: subprocess.Popen[bytes], before: Counter[str]) -> None:
        """Wait until a freshly spawned worker has made its first ReceiveMessage (nobody else receives meanwhile)."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with code {proc.returncode} before its first receive")
            if self.server.request_counts().get("sqs:ReceiveMessage", 0) > before.get("sqs:ReceiveMessage", 0):
                return
            time.sleep(POLL_SECONDS)
        raise RuntimeError(f"worker made no ReceiveMessage within {READY_TIMEOUT_SECONDS:.0f} s")


class Sink:
    """Reads the task start lines (``kind i sent_at started_at pid``) appended to a file, incrementally."""

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0
        self._partial = b""
        self.started: dict[int, tuple[float, float]] = {}
        self.lines = 0

    def poll(self) -> int:
        """Read what was appended since the last call. Returns the number of distinct tasks started so far."""
        if self.path.exists():
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
            self._offset += len(data)
            data = self._partial + data
            *complete, self._partial = data.split(b"\n")
            for line in complete:
                _, i, sent, start, _pid = line.decode().split()
                self.lines += 1
                self.started.setdefault(int(i), (float(sent), float(start)))
        return len(self.started)

    @property
    def duplicates(self) -> int:
        """Runs beyond the first of a task (a redelivery that ran again)."""
        return self.lines - len(self.started)

    def latencies_ms(self) -> list[float]:
        """Send-to-start latency of every task, in milliseconds."""
        return sorted((start - sent) * 1000.0 for sent, start in self.started.values())

    def start_span(self) -> tuple[float, float]:
        """Epoch seconds of the first and the last task start."""
        starts = [s for _, s in self.started.values()]
        return min(starts), max(starts)


# --------------------------------------------------------------------------------------------------------------------
# one drain run
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """Figures of one system on one workload (one repetition)."""

    system: str
    workload: str
    n: int
    concurrency: int
    enqueue_seconds: float
    drain_seconds: float
    startup_seconds: float
    steady_per_second: float
    producer: Counter[str]
    worker: Counter[str]
    rss_mib: float
    latencies_ms: list[float]
    duplicates: int
    missing: int
    stop_seconds: float
    results_stored: int | None = None

    @property
    def drain_per_second(self) -> float:
        """Tasks per second from worker spawn to queue empty."""
        return self.n / self.drain_seconds


def drain(h: Harness, proc: subprocess.Popen[bytes], sink: Sink, n: int, url: str, timeout_seconds: float) -> float:
    """Wait until all ``n`` tasks started and the queue is empty. Returns the monotonic time it was seen empty."""
    deadline = time.monotonic() + timeout_seconds
    while sink.poll() < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(sink.started)}/{n} tasks started within {timeout_seconds:.0f} s")
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with code {proc.returncode} after {len(sink.started)}/{n} tasks")
        time.sleep(POLL_SECONDS)
    while not h.queue_empty(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"queue not empty {timeout_seconds:.0f} s after the start")
        time.sleep(POLL_SECONDS)
    return time.monotonic()


def run_worker_and_drain(
    h: Harness, system: str, wl: Workload, command: list[str], env: dict[str, str], url: str, sink: Sink,
    before: Snapshot, after_produce: Snapshot, enqueue_seconds: float,
) -> RunResult:
    """Spawn the worker on a full queue, time the drain, stop it, and collect the figures."""
    log = h.work / f"{system}-{wl.key}-{uuid.uuid4().hex[:6]}.log"
    spawned_wall = time.time()
    spawned = time.monotonic()
    proc = spawn(command, env, log)
    rss = RssSampler(proc.pid)
    try:
        done = drain(h, proc, sink, wl.n, url, timeout_seconds=max(120.0, wl.n / 5))
    except RuntimeError as exc:
        stop(proc)
        rss.close()
        raise RuntimeError(f"{system} {wl.title}: {exc}; log: {log}\n{log.read_text()[-3000:]}") from exc
    # The queue is empty and every delete has landed: a second SIGTERM spares the wait for the long poll in
    # flight (up to 20 s; measured separately by the idle run). The plain loop exits on the first.
    stop_seconds = stop(proc, second_signal_after=1.0)
    rss_mib = rss.close()
    after = h.snapshot()
    first, last = sink.start_span()
    return RunResult(
        system=system, workload=wl.key, n=wl.n, concurrency=wl.concurrency, enqueue_seconds=enqueue_seconds,
        drain_seconds=done - spawned, startup_seconds=first - spawned_wall,
        steady_per_second=(wl.n - 1) / max(1e-9, last - first),
        producer=Harness.delta(before, after_produce), worker=Harness.delta(after_produce, after),
        rss_mib=rss_mib, latencies_ms=sink.latencies_ms(), duplicates=sink.duplicates,
        missing=wl.n - len(sink.started), stop_seconds=stop_seconds,
    )


def run_plain(h: Harness, wl: Workload, with_put_item: bool = False) -> RunResult:
    """The plain boto3 loop on ``wl``: SendMessageBatch producer, ``bench/plain_worker.py`` consumer."""
    name = f"plain-{uuid.uuid4().hex[:8]}"
    url = h.call(h.sqs, "sqs", "CreateQueue", "create_queue", QueueName=name,
                 Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    table = None
    if with_put_item:
        table = f"{name}-results"
        h.call(h.ddb, "dynamodb", "CreateTable", "create_table", TableName=table,
               KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
               AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
               BillingMode="PAY_PER_REQUEST")
    producer = boto3.session.Session().client("sqs", endpoint_url=h.endpoint, region_name="us-east-1")
    sink_path = h.work / f"{name}.sink"
    before = h.snapshot()
    started = time.monotonic()
    for lo in range(0, wl.n, 10):
        entries = [
            {"Id": str(i - lo), "MessageBody": json.dumps({"k": wl.kind, "i": i, "s": time.time(), "p": wl.param})}
            for i in range(lo, min(wl.n, lo + 10))
        ]
        failed = producer.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")
        if failed:
            raise RuntimeError(f"plain producer: SendMessageBatch failed entries {failed}")
    enqueue_seconds = time.monotonic() - started
    after_produce = h.snapshot()
    command = [sys.executable, str(ROOT / "bench" / "plain_worker.py"), "--queue-url", url,
               "--threads", str(wl.concurrency)]
    if table:
        command += ["--table", table]
    env = {**h.env, workload.SINK_ENV: str(sink_path)}
    system = "plain boto3 + PutItem" if with_put_item else "plain boto3"
    return run_worker_and_drain(h, system, wl, command, env, url, Sink(sink_path), before, after_produce,
                                enqueue_seconds)


def configure_app(h: Harness) -> tuple[Any, str]:
    """Point the bench app at fresh queues and a fresh table on the local AWS. Returns (app, queue prefix)."""
    from bench.bench_app import app
    from sqsq.local.provision import provision

    prefix = f"b{uuid.uuid4().hex[:8]}-"
    app.configure(endpoint_url=h.endpoint, queue_prefix=prefix, results_table=f"{prefix}results",
                  visibility_timeout_seconds=30)
    provision(app)
    return app, prefix


def worker_env(h: Harness, prefix: str, sink_path: Path) -> dict[str, str]:
    """Environment of a sqsq worker subprocess bound to ``prefix``'s resources."""
    return {**h.env, "SQSQ_QUEUE_PREFIX": prefix, "SQSQ_RESULTS_TABLE": f"{prefix}results",
            workload.SINK_ENV: str(sink_path)}


def sqsq_worker_command(concurrency: int, *extra: str, processes: int = 1) -> list[str]:
    """``python -m sqsq.cli worker bench.bench_app:app -c N --processes P ...`` (one process unless scaling)."""
    return [sys.executable, "-m", "sqsq.cli", "worker", "bench.bench_app:app", "-c", str(concurrency),
            "--processes", str(processes), *extra]


def task_args(wl: Workload, i: int) -> dict[str, Any]:
    """Arguments of task ``i`` of a workload (``sent_at`` = now)."""
    args: dict[str, Any] = {"i": i, "sent_at": time.time()}
    if wl.kind == "sleep":
        args["seconds"] = wl.param
    elif wl.kind == "cpu":
        args["loops"] = int(wl.param)
    return args


def run_sqsq(h: Harness, wl: Workload, pool: str = "thread", processes: int = 1) -> RunResult:
    """sqsq on ``wl``: ``send_many`` producer (in this process), ``sqsq worker --pool POOL --processes P``."""
    app, prefix = configure_app(h)
    queue = app.queue_name(None)
    url = h.queue_url(queue)
    sink_path = h.work / f"{prefix}{wl.key}.sink"
    task = app.get_task(wl.sqsq_task)
    before = h.snapshot()
    started = time.monotonic()
    app.send_many(task, [task_args(wl, i) for i in range(wl.n)])
    enqueue_seconds = time.monotonic() - started
    after_produce = h.snapshot()
    command = sqsq_worker_command(wl.concurrency, *(["--pool", pool] if pool != "thread" else []),
                                  processes=processes)
    system = ("sqsq" if pool == "thread" else f"sqsq --pool {pool}") + (f" --processes {processes}"
                                                                         if processes > 1 else "")
    result = run_worker_and_drain(h, system, wl, command, worker_env(h, prefix, sink_path), url, Sink(sink_path),
                                  before, after_produce, enqueue_seconds)
    if wl.results:
        result.results_stored = count_success(h, f"{prefix}results")
    return result


def count_success(h: Harness, table: str) -> int:
    """SUCCESS records in a results table (Scan with COUNT; made after the counted window)."""
    total = 0
    kwargs: dict[str, Any] = {
        "TableName": table, "Select": "COUNT", "FilterExpression": "#s = :ok",
        "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":ok": {"S": "SUCCESS"}},
    }
    while True:
        page = h.call(h.ddb, "dynamodb", "Scan", "scan", **kwargs)
        total += int(page.get("Count", 0))
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --------------------------------------------------------------------------------------------------------------------
# producers alone, latency with a warm worker, idle cost, import cost
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class ProducerResult:
    """Requests and rate of one way of sending ``n`` tasks."""

    how: str
    n: int
    seconds: float
    counts: Counter[str]


def run_producers(h: Harness, n: int) -> list[ProducerResult]:
    """``send_many``, ``n`` single ``send`` calls, and single sends inside ``with app.batch():``, no worker running.

    The first request to a queue also looks up its URL and attributes (GetQueueUrl + GetQueueAttributes, once per
    process); that is counted, as a fresh producer process would make it.
    """
    out = []
    for how in ("send_many", "single send", "app.batch() + send"):
        app, _ = configure_app(h)
        task = app.get_task("bench.noop")
        args = [{"i": i, "sent_at": 0.0} for i in range(n)]
        before = h.snapshot()
        started = time.monotonic()
        if how == "send_many":
            app.send_many(task, args)
        elif how == "single send":
            for a in args:
                app.send(task, a)
        else:
            with app.batch():
                for a in args:
                    app.send(task, a)
        seconds = time.monotonic() - started
        out.append(ProducerResult(how, n, seconds, Harness.delta(before, h.snapshot())))
    return out


@dataclass
class LatencyResult:
    """Send-to-start latency of tasks sent one by one at a steady rate to a warm, idle worker."""

    system: str
    n: int
    per_second: float
    latencies_ms: list[float]


def run_paced(h: Harness, plan: Plan, system: str) -> LatencyResult:
    """Start a worker on an empty queue, wait for its first long poll, then send single tasks at a steady rate."""
    wl = Workload("p", "paced", plan.n_paced, plan.concurrency, "bench.noop", "noop", 0, False)
    if system == "sqsq":
        app, prefix = configure_app(h)
        url = h.queue_url(app.queue_name(None))
        task = app.get_task("bench.noop")
        app.transport.queue_info(app.queue_name(None))  # warm: URL lookup before the clock starts
        sink_path = h.work / f"{prefix}paced.sink"
        command = sqsq_worker_command(plan.concurrency)
        env = worker_env(h, prefix, sink_path)

        def send(i: int) -> None:
            app.send(task, task_args(wl, i))
    else:
        name = f"plain-{uuid.uuid4().hex[:8]}"
        url = h.call(h.sqs, "sqs", "CreateQueue", "create_queue", QueueName=name)["QueueUrl"]
        producer = boto3.session.Session().client("sqs", endpoint_url=h.endpoint, region_name="us-east-1")
        sink_path = h.work / f"{name}.sink"
        command = [sys.executable, str(ROOT / "bench" / "plain_worker.py"), "--queue-url", url,
                   "--threads", str(plan.concurrency)]
        env = {**h.env, workload.SINK_ENV: str(sink_path)}

        def send(i: int) -> None:
            body = json.dumps({"k": "noop", "i": i, "s": time.time(), "p": 0})
            producer.send_message(QueueUrl=url, MessageBody=body)

    proc = spawn(command, env, h.work / f"{system}-paced.log")
    try:
        h.wait_ready(proc, h.snapshot().server)
        sink = Sink(sink_path)
        start = time.monotonic()
        for i in range(wl.n):
            delay = start + i / plan.paced_per_second - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            send(i)
        drain(h, proc, sink, wl.n, url, timeout_seconds=60)
    finally:
        stop(proc, second_signal_after=1.0)
    return LatencyResult(system, wl.n, plan.paced_per_second, sink.latencies_ms())


@dataclass
class IdleResult:
    """Requests of an idle sqsq worker (default settings) and its SIGTERM-to-exit time."""

    window_seconds: float
    counts: Counter[str]
    stop_seconds: float


def run_idle(h: Harness, plan: Plan) -> IdleResult:
    """A default worker (WaitTimeSeconds 20, default shutdown grace) on an empty queue, counted for a window."""
    _, prefix = configure_app(h)
    proc = spawn(sqsq_worker_command(plan.concurrency), worker_env(h, prefix, h.work / f"{prefix}idle.sink"),
                 h.work / "sqsq-idle.log")
    try:
        h.wait_ready(proc, h.snapshot().server)
        before = h.snapshot()
        started = time.monotonic()
        time.sleep(plan.idle_seconds)
        after = h.snapshot()
        window = time.monotonic() - started
    finally:
        stop_seconds = stop(proc)
    return IdleResult(window, Harness.delta(before, after), stop_seconds)


@dataclass
class ImportResult:
    """Import time of one statement in a fresh interpreter (median over repetitions, minus ``pass``)."""

    label: str
    statement: str
    import_ms: float
    wall_ms: float


def _importtime_ms(statement: str, reps: int) -> tuple[float, float]:
    """(median import time from ``-X importtime`` summed over top-level imports, median process wall time) in ms."""
    totals, walls = [], []
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")}
    env["PYTHONPATH"] = str(ROOT)
    for _ in range(reps):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        walls.append((time.perf_counter() - started) * 1000.0)
        if done.returncode != 0:
            raise RuntimeError(f"{statement!r} failed: {done.stderr[-2000:]}")
        total_us = 0
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _, cumulative, name = line.split("|", 2)
            if not name.startswith(" ") or name.startswith("  "):
                continue  # top-level imports only: nested ones are indented by two more spaces per level
            total_us += int(cumulative.strip())
        totals.append(total_us / 1000.0)
    return statistics.median(totals), statistics.median(walls)


def powertools_imports(path: Path) -> list[str]:
    """The ``aws_lambda_powertools`` import statements of a module (parsed, not imported)."""
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aws_lambda_powertools"):
            out.append(f"from {node.module} import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import):
            out += [f"import {a.name}" for a in node.names if a.name.startswith("aws_lambda_powertools")]
    return out or ["import aws_lambda_powertools"]


def run_imports(reps: int) -> tuple[list[ImportResult], str]:
    """Import cost of the Lambda handler vs boto3 + the Powertools modules it uses. Returns (results, note)."""
    handler = ROOT / "sqsq" / "lambda_handler"  # a package since issue 11 (its __init__ imports nothing)
    statements: list[tuple[str, str]] = [("nothing (python -c pass)", "pass"), ("boto3", "import boto3")]
    if handler.is_dir():
        from bench.lambda_imports import powertools_imports as package_powertools_imports

        pt = "; ".join(package_powertools_imports(handler))
        statements += [
            ("boto3 + the Powertools modules the handler imports", f"import boto3; {pt}"),
            ("sqsq.lambda_handler", "import sqsq.lambda_handler.handler"),
            ("sqsq.lambda_handler + its AWS layer (what the first invocation adds)",
             "import sqsq.lambda_handler.handler, sqsq.transport.sqs, sqsq.results.dynamodb"),
        ]
        note = ("sqsq/lambda_handler/ measured as is (imports only; bench/lambda_imports.py measures the first "
                "invocation through sqsq.lambda_entry).")
    else:
        statements += [
            ("boto3 + aws_lambda_powertools", "import boto3, aws_lambda_powertools"),
            ("sqsq + sqsq.executor (handler absent)", "import sqsq, sqsq.executor, sqsq.transport.sqs"),
        ]
        note = "sqsq/lambda_handler.py absent at run time: measured import sqsq + sqsq.executor instead."
    raw = [(label, stmt, *_importtime_ms(stmt, reps)) for label, stmt in statements]
    base_import, base_wall = raw[0][2], raw[0][3]
    return [ImportResult(label, stmt, imp - base_import, wall - base_wall) for label, stmt, imp, wall in raw[1:]], note


# --------------------------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------------------------


def per_task(counts: Counter[str], n: int, service: str) -> dict[str, float]:
    """``{"SendMessageBatch": 0.1, ...}`` for one service, per task."""
    return {k.split(":", 1)[1]: v / n for k, v in counts.items() if k.startswith(service + ":")}


def fmt_actions(actions: dict[str, float]) -> str:
    """``"SendMessageBatch 0.100, GetQueueUrl 0.001"`` (largest first)."""
    if not actions:
        return "-"
    return ", ".join(f"{k} {v:.3f}" for k, v in sorted(actions.items(), key=lambda kv: (-kv[1], kv[0])))


def mean_counts(results: list[RunResult], attr: str) -> Counter[str]:
    """Counts averaged over repetitions (as floats in a Counter)."""
    total: Counter[str] = Counter()
    for r in results:
        total.update(getattr(r, attr))
    return Counter({k: v / len(results) for k, v in total.items()})  # type: ignore[misc]


def ddb_units(counts: Counter[str], n: int) -> tuple[float, float]:
    """(DynamoDB write requests per task, read requests per task)."""
    writes = sum(v for k, v in counts.items() if k.split(":")[0] == "dynamodb" and k.split(":")[1] in DDB_WRITE_ACTIONS)
    reads = sum(v for k, v in counts.items() if k.split(":")[0] == "dynamodb" and k.split(":")[1] in DDB_READ_ACTIONS)
    return writes / n, reads / n


def usd_per_million_tasks(sqs_per_task: float, wru_per_task: float, rru_per_task: float) -> float:
    """List-price cost of one million tasks."""
    return (sqs_per_task * SQS_USD_PER_MILLION_REQUESTS + wru_per_task * DDB_USD_PER_MILLION_WRU
            + rru_per_task * DDB_USD_PER_MILLION_RRU)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values`` (``q`` in 0..100)."""
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return values[k]


def med(values: list[float]) -> float:
    """Median."""
    return statistics.median(values)


def span(values: list[float], digits: int = 0) -> str:
    """``"median [min-max]"`` (just the value for one repetition)."""
    m = f"{med(values):.{digits}f}"
    return m if len(values) == 1 else f"{m} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


@dataclass
class Report:
    """Everything measured, and the markdown made from it."""

    plan: Plan
    cpu_loops: int
    runs: dict[tuple[str, str], list[RunResult]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    producers: list[ProducerResult] = field(default_factory=list)
    latency: list[LatencyResult] = field(default_factory=list)
    idle: IdleResult | None = None
    imports: list[ImportResult] = field(default_factory=list)
    import_note: str = ""
    scaled: scaling.Scaling | None = None
    startup_rows: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    first_invocation: lambda_imports.FirstInvocation | None = None
    peer_sets: list[peers.PeerSet] = field(default_factory=list)
    peers_dir: Path | None = None
    seconds: float = 0.0

    def add(self, wl: Workload, r: RunResult) -> None:
        """Record one run."""
        self.titles[wl.key] = wl.title
        self.runs.setdefault((wl.key, r.system), []).append(r)

    def ratios(self, key: str, system: str, baseline: str = "plain boto3") -> list[float]:
        """Drain ratio of ``system`` to ``baseline``, repetition by repetition (same repetition = same conditions)."""
        base = self.runs.get((key, baseline), [])
        runs = self.runs.get((key, system), [])
        return [r.drain_per_second / b.drain_per_second for r, b in zip(runs, base, strict=False)]

    def sqs_total(self, key: str, system: str) -> float:
        """SQS requests per task, producer + worker (mean over repetitions)."""
        runs = self.runs[(key, system)]
        n = runs[0].n
        return sum(per_task(mean_counts(runs, "producer"), n, "sqs").values()) + sum(
            per_task(mean_counts(runs, "worker"), n, "sqs").values())

    def markdown(self) -> str:
        """The whole report."""
        p = self.plan
        lines = [
            "# sqsq benchmark results",
            "",
            f"Generated by `python bench/run.py{' --quick' if p.quick else ''}` on "
            f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} in {self.seconds:.0f} s.",
            "",
            f"Machine: {machine_note()}. Local AWS: sqsq's patched moto server on 127.0.0.1 (each request ~ms, real "
            "SQS is 10-30 ms away), counting every request server-side. Shared, noisy machine: read ratios within "
            f"this run, not absolute rates. {p.reps} repetition(s) per drain workload, systems alternated within each "
            "repetition; figures are medians [min-max] where repeated.",
            "",
            "## Drain throughput",
            "",
            "Queue filled first, then the worker process is spawned; drain = spawn -> all tasks started and the queue "
            "empty (deletes, and for sqsq the results, landed). *steady* = (n-1) / (last start - first start). "
            "*start latency* is send -> task start for a pre-filled queue, so it is mostly time spent waiting in the "
            "backlog (see the paced table for latency). Plain loop = `bench/plain_worker.py`, N threads each "
            "Receive(10, long poll) -> run -> DeleteMessageBatch. sqsq = `sqsq worker -c N` (prefetch 10); "
            "`--pool process` runs the task bodies in N child processes (peak RSS sums the worker and its children).",
            "",
            "| workload | system | conc | drain tasks/s | vs plain | steady tasks/s | worker start s | start latency "
            "p50 / p95 ms | peak RSS MiB | dup / missing |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for (key, system), runs in self.runs.items():
            ratio = self.ratios(key, system)
            lat = [x for r in runs for x in r.latencies_ms]
            lat.sort()
            lines.append(
                f"| {self.titles[key]} | {system} | {runs[0].concurrency} | "
                f"{span([r.drain_per_second for r in runs])} | "
                f"{span(ratio, 2) + 'x' if ratio and system != 'plain boto3' else '1.00x' if system == 'plain boto3' else '-'} | "
                f"{span([r.steady_per_second for r in runs])} | {med([r.startup_seconds for r in runs]):.2f} | "
                f"{pct(lat, 50):.0f} / {pct(lat, 95):.0f} | {max(r.rss_mib for r in runs):.0f} | "
                f"{sum(r.duplicates for r in runs)} / {sum(r.missing for r in runs)} |"
            )
        lines += [
            "",
            "## Requests and cost per task",
            "",
            "SQS and DynamoDB requests per task by action, counted by the server (the harness's own requests removed), "
            "mean over repetitions. Producer = the enqueue (plain: SendMessageBatch loop; sqsq: `send_many`); worker "
            "= spawn -> stopped, including start-up lookups and the empty long poll in flight when it is stopped.",
            "",
            "| workload | system | producer SQS req/task | worker SQS req/task | SQS total/task | DynamoDB "
            "writes / reads per task | $ per million tasks |",
            "|---|---|---|---|---|---|---|",
        ]
        for (key, system), runs in self.runs.items():
            n = runs[0].n
            prod, work = mean_counts(runs, "producer"), mean_counts(runs, "worker")
            total = self.sqs_total(key, system)
            writes, reads = ddb_units(prod + work, n)
            stored = [r.results_stored for r in runs if r.results_stored is not None]
            stored_note = f" ({min(stored)}/{n} SUCCESS stored)" if stored else ""
            lines.append(
                f"| {self.titles[key]} | {system} | {fmt_actions(per_task(prod, n, 'sqs'))} | "
                f"{fmt_actions(per_task(work, n, 'sqs'))} | {total:.3f} | {writes:.3f} / {reads:.3f}{stored_note} | "
                f"${usd_per_million_tasks(total, writes, reads):.2f} |"
            )
        lines += ["", PRICE_NOTE, ""]
        if self.producers:
            lines += [
                "## Producers alone (no worker running)",
                "",
                "| how | tasks | SQS requests/task by action | SQS req/task | tasks/s | $ per million tasks (sends) |",
                "|---|---|---|---|---|---|",
            ]
            for pr in self.producers:
                sqs = per_task(pr.counts, pr.n, "sqs")
                lines.append(f"| {pr.how} | {pr.n} | {fmt_actions(sqs)} | {sum(sqs.values()):.3f} | "
                             f"{pr.n / pr.seconds:.0f} | ${sum(sqs.values()) * SQS_USD_PER_MILLION_REQUESTS:.2f} |")
            lines += ["", "Each producer is a fresh app binding, so its one GetQueueUrl + GetQueueAttributes "
                          "(cached per process) is included.", ""]
        if self.latency:
            lines += [
                "## Send-to-start latency, warm idle worker",
                "",
                "The worker is started on an empty queue and waits in its long poll; tasks are then sent one at a "
                "time at a steady rate (sqsq: `app.send`; plain: `SendMessage`). Latency = task start - sent_at.",
                "",
                "| system | tasks | rate/s | p50 ms | p95 ms | max ms |",
                "|---|---|---|---|---|---|",
            ]
            for lr in self.latency:
                lines.append(f"| {lr.system} | {lr.n} | {lr.per_second:.0f} | {pct(lr.latencies_ms, 50):.1f} | "
                             f"{pct(lr.latencies_ms, 95):.1f} | {max(lr.latencies_ms):.1f} |")
            lines.append("")
        if self.idle:
            idle = self.idle
            receives = idle.counts.get("sqs:ReceiveMessage", 0)
            lines += [
                "## Idle worker",
                "",
                f"A sqsq worker with default settings (one queue, WaitTimeSeconds 20, concurrency {p.concurrency}) on an "
                f"empty queue, counted over {idle.window_seconds:.0f} s after its first long poll: "
                f"{receives} ReceiveMessage = **{receives * 60 / idle.window_seconds:.1f} per minute** "
                f"(all requests: {dict(idle.counts) or '{}'}). A {idle.window_seconds:.0f} s window sees 1-3 polls of "
                f"20 s depending on phase; the steady rate of one long-polling receiver is 3 per minute. "
                f"SIGTERM -> exit with the default shutdown grace: **{idle.stop_seconds:.1f} s**.",
                "",
            ]
        if self.imports:
            lines += [
                "## Lambda cold-start import cost",
                "",
                f"`python -X importtime -c STATEMENT`, sum of top-level imports, median of {p.import_reps} fresh "
                f"interpreters, minus `python -c pass`; process wall time likewise. {self.import_note}",
                "",
                "| imports | statement | import ms | process wall ms |",
                "|---|---|---|---|",
            ]
            for ir in self.imports:
                stmt = ir.statement if len(ir.statement) < 90 else ir.statement[:87] + "..."
                lines.append(f"| {ir.label} | `{stmt}` | {ir.import_ms:.0f} | {ir.wall_ms:.0f} |")
            lines.append("")
        if self.scaled is not None:
            lines += scaling.markdown(self.scaled)
        if self.startup_rows:
            lines += ["## Start-up", "", f"{len(next(iter(self.startup_rows.values())))} repetitions, interleaved; "
                      "median wall ms and CPU ms (user + system of the process; for a worker, by its first "
                      "ReceiveMessage).", "", "| what | wall ms | CPU ms |", "|---|---|---|"]
            for label, values in self.startup_rows.items():
                lines.append(f"| {label} | {med([v[0] for v in values]):.0f} | {med([v[1] for v in values]):.0f} |")
            lines.append("")
        if self.first_invocation is not None:
            lines += self._first_invocation_lines(self.first_invocation)
        if self.peer_sets and self.peers_dir is not None:
            lines += [peers.markdown(self.peer_sets, self.peers_dir)]
        lines += self.targets()
        return "\n".join(lines) + "\n"

    def targets(self) -> list[str]:
        """Issue #5's targets, met or missed, with the measured figure."""
        rows: list[tuple[str, str, bool | None]] = []

        def add(target: str, measured: str, ok: bool | None) -> None:
            rows.append((target, measured, ok))

        if ("a", "sqsq") in self.runs:
            r = self.ratios("a", "sqsq")
            add("drain >= 0.95x plain, results off", f"{med(r):.2f}x", med(r) >= 0.95)
        if ("b", "sqsq") in self.runs:
            r = self.ratios("b", "sqsq")
            add("drain >= 0.7x plain, results on (vs plain without results)", f"{med(r):.2f}x", med(r) >= 0.7)
            r2 = self.ratios("b", "sqsq", "plain boto3 + PutItem")
            if r2:
                add("(reference) results on vs plain + one PutItem per task", f"{med(r2):.2f}x", None)
        if ("a", "sqsq") in self.runs:
            total = self.sqs_total("a", "sqsq")
            add("SQS req/task <= 0.31 with send_many (drain (a), producer + worker)", f"{total:.3f}", round(total, 3) <= 0.31)
        by_how = {pr.how: pr for pr in self.producers}
        if "single send" in by_how and ("a", "sqsq") in self.runs:
            pr = by_how["single send"]
            runs = self.runs[("a", "sqsq")]
            worker = sum(per_task(mean_counts(runs, "worker"), runs[0].n, "sqs").values())
            total = sum(per_task(pr.counts, pr.n, "sqs").values()) + worker
            add("SQS req/task <= 1.21 with single sends (producer alone + worker of (a))", f"{total:.3f}",
                round(total, 3) <= 1.21)
        if "app.batch() + send" in by_how and ("a", "sqsq") in self.runs:
            pr = by_how["app.batch() + send"]
            runs = self.runs[("a", "sqsq")]
            worker = sum(per_task(mean_counts(runs, "worker"), runs[0].n, "sqs").values())
            total = sum(per_task(pr.counts, pr.n, "sqs").values()) + worker
            add("SQS req/task <= 0.31 with the buffered producer (+ worker of (a))", f"{total:.3f}", round(total, 3) <= 0.31)
        for key, want in (("b", 1.0), ("a", 0.0)):
            if (key, "sqsq") in self.runs:
                runs = self.runs[(key, "sqsq")]
                w, _ = ddb_units(mean_counts(runs, "producer") + mean_counts(runs, "worker"), runs[0].n)
                add(f"DynamoDB writes/task <= {want:g} (results {'on' if want else 'off'})", f"{w:.3f}", round(w, 3) <= want)
        if ("c", "sqsq") in self.runs:
            runs = self.runs[("c", "sqsq")]
            v = med([r.drain_per_second for r in runs])
            add(f"{runs[0].n} x 50 ms at concurrency 8 >= 140 tasks/s (drain)", f"{v:.0f} tasks/s "
                f"(steady {med([r.steady_per_second for r in runs]):.0f})", v >= 140)
        sqsq_runs = [r for (_, s), rs in self.runs.items() if s == "sqsq" for r in rs]
        if sqsq_runs:
            peak = max(r.rss_mib for r in sqsq_runs)
            add("worker RSS <= 60 MiB (peak over all sqsq drains)", f"{peak:.0f} MiB", peak <= 60)
        if self.idle:
            rate = self.idle.counts.get("sqs:ReceiveMessage", 0) * 60 / self.idle.window_seconds
            add("idle <= 3 ReceiveMessage/min/queue/worker", f"{rate:.1f}/min over {self.idle.window_seconds:.0f} s",
                rate <= 3.0 + 1e-9 or self.idle.counts.get("sqs:ReceiveMessage", 0) <= 2)
        base = next((ir for ir in self.imports if ir.label.startswith("boto3 +")), None)
        handler = next((ir for ir in self.imports if ir.label.startswith("sqsq.lambda_handler +")), None) or next(
            (ir for ir in self.imports if ir.label.startswith("sqsq +")), None)
        if base and handler:
            added = handler.import_ms - base.import_ms
            add("Lambda handler import adds <= 50 ms over boto3 + Powertools",
                f"+{added:.0f} ms ({handler.import_ms:.0f} vs {base.import_ms:.0f})", added <= 50)
        rows += self.issue11_rows()
        out = ["## Targets (issues #5 and #11)", "", "| target | measured | met? |", "|---|---|---|"]
        for target, measured, ok in rows:
            out.append(f"| {target} | {measured} | {'-' if ok is None else 'yes' if ok else '**no**'} |")
        return [*out, ""]


    @staticmethod
    def _first_invocation_lines(fi: lambda_imports.FirstInvocation) -> list[str]:
        lines = ["## Lambda first invocation", "",
                 f"`bench/lambda_imports.py`: {len(fi.paired_cpu_ms)} fresh interpreters per child, interleaved, timed "
                 "inside the child (imports and one invocation through `sqsq.lambda_entry` on the in-memory twins; "
                 "the baseline is boto3, the Powertools modules sqsq's handler imports and a plain Powertools "
                 "invocation). sqsq minus baseline is paired per repetition.", "",
                 "| child | CPU ms | wall ms | modules loaded |", "|---|---|---|---|"]
        for f in (fi.base, fi.ours):
            lines.append(f"| {f.label} | {f.cpu_ms:.0f} | {f.in_child_ms:.0f} | {len(f.modules)} |")
        cpu = fi.paired_cpu_ms
        lines += ["", f"sqsq over baseline: {med(cpu):+.0f} ms CPU [{min(cpu):+.0f}..{max(cpu):+.0f}], "
                  f"{med(fi.paired_wall_ms):+.0f} ms wall.", ""]
        return lines

    def issue11_rows(self) -> list[tuple[str, str, bool | None]]:
        """Issue #11's table: the figures it names, against its targets."""
        rows: list[tuple[str, str, bool | None]] = []
        if ("b", "sqsq") in self.runs:
            r = self.ratios("b", "sqsq", "plain boto3 + PutItem")
            if r:
                rows.append(("#11: results on >= 0.9x plain + one PutItem per task", span_x(r), med(r) >= 0.9))
            r = self.ratios("b", "sqsq")
            rows.append(("#11: results on >= 0.5x the plain loop", span_x(r), med(r) >= 0.5))
        if ("c", "sqsq") in self.runs:
            r = self.ratios("c", "sqsq")
            rows.append(("#11: W2 200 x 50 ms at concurrency 8 >= 1.0x plain", span_x(r), med(r) >= 1.0))
        sqsq_runs = [r for (k, s), rs in self.runs.items() if s == "sqsq" and k == "b" for r in rs]
        if sqsq_runs:
            peak = max(r.rss_mib for r in sqsq_runs)
            rows.append(("#11: worker peak RSS with results on <= 55 MiB", f"{peak:.0f} MiB", peak <= 55))
        help_rows = [v for k, v in self.startup_rows.items() if k.endswith("sqsq --help")]
        spawn_rows = [v for k, v in self.startup_rows.items() if k.endswith("first ReceiveMessage") and "sqsq" in k]
        plain = self.startup_rows.get(startup.PLAIN_SPAWN)
        if help_rows:
            wall, cpu = med([v[0] for v in help_rows[0]]), med([v[1] for v in help_rows[0]])
            rows.append(("#11: `sqsq --help` <= 100 ms", f"{wall:.0f} ms wall, {cpu:.0f} ms CPU", wall <= 100))
        if spawn_rows and plain:
            ratio = med([v[0] for v in spawn_rows[0]]) / med([v[0] for v in plain])
            cpu_ratio = med([v[1] for v in spawn_rows[0]]) / med([v[1] for v in plain])
            rows.append(("#11: worker spawn -> first ReceiveMessage <= 1.2x plain",
                         f"{ratio:.2f}x wall, {cpu_ratio:.2f}x CPU", ratio <= 1.2))
        if self.first_invocation is not None:
            cpu = self.first_invocation.paired_cpu_ms
            rows.append(("#11: Lambda first invocation over boto3 + Powertools <= +50 ms",
                         f"{med(cpu):+.0f} ms CPU [{min(cpu):+.0f}..{max(cpu):+.0f}], "
                         f"{med(self.first_invocation.paired_wall_ms):+.0f} ms wall", med(cpu) <= 50))
        return rows + peers.target_rows(self.peer_sets)


def span_x(ratios: list[float]) -> str:
    """Median ratio with its range, e.g. ``0.82x [0.74-0.90]``."""
    return f"{med(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"


def machine_note() -> str:
    """CPU count and model, Python, boto3 and moto versions."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import botocore
    import moto

    return (f"{os.cpu_count()} CPU(s), {model}, Linux {platform.release()}, Python {platform.python_version()}, "
            f"boto3 {boto3.__version__} / botocore {botocore.__version__}, moto {moto.__version__}")


# --------------------------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------------------------


@contextmanager
def local_aws() -> Iterator[Any]:
    """The local AWS for this run (its own process group), stopped on exit."""
    from sqsq.local.server import LocalAwsServer

    for k in [k for k in os.environ if k.startswith("SQSQ_")]:
        del os.environ[k]
    server = LocalAwsServer(port=None)
    server.start()
    os.environ.update(server.client_environment())
    try:
        yield server
    finally:
        server.stop()


def step(label: str, fn: Callable[[], Any]) -> Any:
    """Run one measurement, printing what it is and how long it took (to stderr)."""
    print(f"# {label} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    out = fn()
    print(f"#   done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark. Returns the exit code (0; 1 when a measurement failed)."""
    parser = argparse.ArgumentParser(description="sqsq vs a plain boto3 loop on a local AWS (figures, not pass/fail)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repetition: about one minute")
    parser.add_argument("--reps", type=int, default=None, help="repetitions of each drain workload (default 3; 1 quick)")
    parser.add_argument("--only", default="abcds",
                        help="drain workloads to run, e.g. 'ac'; s: the --processes scaling of (a) and (d) "
                             "(default abcds)")
    parser.add_argument("--skip-extras", action="store_true", help="drain workloads only (no producers/idle/imports)")
    parser.add_argument("--peers", type=Path, default=peers.DEFAULT_DIR,
                        help="the peer harness's folder, run for its sqsq figures (default ../shared/bench/peers; "
                             "skipped when absent)")
    parser.add_argument("--no-peers", action="store_true", help="do not run the peer harness")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md", help="markdown file to write")
    args = parser.parse_args(argv)
    plan = Plan.make(args.quick, args.reps)

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    startup.compile_tree(ROOT)  # the workers import sqsq compiled, as installed (see startup.compile_tree)
    cpu_loops = workload.calibrate_cpu_loops(plan.cpu_seconds)
    report = Report(plan, cpu_loops)
    try:
        with tempfile.TemporaryDirectory(prefix="sqsq-bench-") as tmp, local_aws() as server:
            h = Harness(server, Path(tmp))
            wls = [w for w in workloads(plan, cpu_loops) if w.key in args.only]
            for rep in range(plan.reps):
                for wl in wls:
                    report.add(wl, step(f"rep {rep + 1}/{plan.reps} {wl.title}: plain", lambda wl=wl: run_plain(h, wl)))
                    if wl.results:
                        report.add(wl, step(f"rep {rep + 1}/{plan.reps} {wl.title}: plain + PutItem",
                                            lambda wl=wl: run_plain(h, wl, with_put_item=True)))
                    report.add(wl, step(f"rep {rep + 1}/{plan.reps} {wl.title}: sqsq", lambda wl=wl: run_sqsq(h, wl)))
                    if wl.kind == "cpu":  # CPU-bound: also in child processes (no GIL contention)
                        report.add(wl, step(f"rep {rep + 1}/{plan.reps} {wl.title}: sqsq --pool process",
                                            lambda wl=wl: run_sqsq(h, wl, pool="process")))
            if "s" in args.only:
                scaled = [w for w in workloads(plan, cpu_loops) if w.key in "ad"]
                report.scaled = scaling.measure(lambda wl, p: run_sqsq(h, wl, processes=p), scaled, plan.reps, step)
            if not args.skip_extras:
                report.producers = step("producers", lambda: run_producers(h, plan.n_producer))
                report.latency = [step(f"paced latency: {s}", lambda s=s: run_paced(h, plan, s))
                                  for s in ("plain boto3", "sqsq")]
                report.idle = step(f"idle worker ({plan.idle_seconds:.0f} s)", lambda: run_idle(h, plan))
                report.startup_rows = step("start-up (--help, spawn -> first ReceiveMessage)",
                                           lambda: startup.measure(server, plan.import_reps))
        if not args.skip_extras:
            report.imports, report.import_note = step("import cost", lambda: run_imports(plan.import_reps))
            report.first_invocation = step("Lambda first invocation",
                                           lambda: lambda_imports.measure_first_invocation(max(plan.import_reps, 15)))
        if not args.no_peers and (args.peers / "harness.py").is_file():
            report.peers_dir = args.peers
            report.peer_sets = peers.measure(args.peers, plan.reps, step)
    except KeyboardInterrupt:
        print("# interrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        stop_all()
    report.seconds = time.monotonic() - started
    text = report.markdown()
    print(text)
    args.out.write_text(text)
    print(f"# written to {args.out} (cpu work: {cpu_loops} loops per task)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
