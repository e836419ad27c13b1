"""``python -m sqsq.demo``: the main job end to end on the embedded local AWS.

Starts the local AWS (moto server on 127.0.0.1), provisions the census app's queue, DLQ and results table,
sends one task per standard-library source file with ``send_many``, runs a worker with a progress display,
reads every result back from DynamoDB and prints a summary (done, failed, time, tasks/s, requests per task).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from sqsq.app import AsyncResult
from sqsq.demo.app import app, parse_file, workload
from sqsq.errors import MissingExtra
from sqsq.extras import require
from sqsq.local.provision import provision
from sqsq.local.server import LOCAL_CREDENTIALS, LocalAwsServer
from sqsq.results import ResultRecord, Status
from sqsq.worker import Worker

if TYPE_CHECKING:
    from rich.console import Console

EXIT_CONFIG = 3
"""Exit code when an optional dependency is missing (as the CLI's configuration errors)."""


def _read_all(handles: list[AsyncResult]) -> list[ResultRecord | None]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda h: h.record(), handles))


def _run_poller(console: Console, concurrency: int, total: int) -> float:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    worker = Worker(app, concurrency=concurrency, burst=True, wait_time_seconds=1)
    started = time.monotonic()
    thread = threading.Thread(target=worker.run, name="demo-worker", daemon=True)
    thread.start()
    with Progress(
        TextColumn("[bold]worker"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(), console=console,
    ) as progress:
        bar = progress.add_task("run", total=total, detail="")
        while thread.is_alive():
            s = worker.stats
            progress.update(bar, completed=s.succeeded + s.dead_lettered,
                            detail=f"ok {s.succeeded}  failed {s.dead_lettered}  retried {s.retried}")
            thread.join(0.2)
        s = worker.stats
        progress.update(bar, completed=s.succeeded + s.dead_lettered,
                        detail=f"ok {s.succeeded}  failed {s.dead_lettered}  retried {s.retried}")
    return time.monotonic() - started


def _run_lambda(console: Console, total: int, built: str | None = None, endpoint_url: str = "") -> float:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # The handler logs a JSON line per record and prints EMF metrics, as it should in Lambda; here the summary
    # and the progress bar say it all.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from sqsq.local.esm import run_local_esm  # the Lambda path: the local event source mapping

    started = time.monotonic()
    done = threading.Event()
    def consume() -> None:
        if built:  # the sam build output, each function in Lambda's runtime interface client processes
            from sqsq.local.lambda_runtime import run_built_template

            _, pools = run_built_template(built, endpoint_url, parameters={"Stage": DEMO_STAGE})
            for function_id, pool in pools.items():
                init = ", ".join(f"{s:.3f}" for s in pool["init_seconds"])
                console.print(f"{function_id}: {pool['cold_starts']} cold start(s), init {init} s, "
                              f"{pool['invocations']} invocations", highlight=False)
        else:
            run_local_esm(app, stop_when_empty=True)
        done.set()

    thread = threading.Thread(target=consume, name="demo-esm", daemon=True)
    thread.start()
    with Progress(
        TextColumn("[bold]lambda"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
    ) as progress:
        bar = progress.add_task("run", total=total)
        while thread.is_alive():
            depth = app.transport.depth(app.queue_name("files"))
            progress.update(bar, completed=max(0, total - depth.visible - depth.in_flight - depth.delayed))
            thread.join(0.5)
        progress.update(bar, completed=total)
    if not done.is_set():
        raise SystemExit("the local event source mapping stopped with an error (see above)")
    return time.monotonic() - started


DEMO_STAGE = "demo"
"""The Stage the built template is deployed with (``--built``)."""


def _deploy_built(console: Console, build: str, endpoint_url: str) -> None:
    """Deploy the built template into the local CloudFormation and point the app at its resources."""
    from pathlib import Path

    from sqsq.local.cloudformation import deploy_template, settings_exports

    template = Path(build) / "template.yaml" if Path(build).is_dir() else Path(build)
    stack = deploy_template(template, endpoint_url, parameters={"Stage": DEMO_STAGE})
    exports = settings_exports(stack)
    app.configure(queue_prefix=exports["SQSQ_QUEUE_PREFIX"], results_table=exports["SQSQ_RESULTS_TABLE"])
    console.print(f"deployed {template} as stack {stack.stack_name} (queues {exports['SQSQ_QUEUE_PREFIX']}*)")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns 0 when every input has a recorded outcome."""
    parser = argparse.ArgumentParser(prog="python -m sqsq.demo", description=__doc__)
    parser.add_argument("--runtime", choices=["poller", "lambda"], default="poller",
                        help="run tasks in a poller worker or through the local Lambda event source mapping")
    parser.add_argument("--concurrency", type=int, default=8, help="worker threads (poller runtime)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N files (for a quick look)")
    parser.add_argument("--built", default=None, metavar="BUILD_DIR",
                        help="with --runtime lambda: run the `sam build` output (e.g. .aws-sam/build) in Lambda's "
                             "runtime interface client, deployed from its template (make demo-lambda BUILT=1)")
    args = parser.parse_args(argv)
    lambda_runtime = args.runtime == "lambda"
    try:
        require("python -m sqsq.demo" + (" --runtime lambda" if lambda_runtime else ""),
                "rich", "moto", *(["aws_lambda_powertools"] if lambda_runtime else []),
                *(["samtranslator", "awslambdaric"] if args.built else []))
    except MissingExtra as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from rich.console import Console

    return _run(args, Console(stderr=True, soft_wrap=True))


def _run(args: argparse.Namespace, console: Console) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("sqsq.executor").setLevel(logging.ERROR)  # the expected failures are summarised below

    files = workload()[: args.limit]
    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    with LocalAwsServer(port=None) as server:
        console.print(f"local AWS at {server.endpoint_url} (moto server, 127.0.0.1)")
        app.configure(endpoint_url=server.endpoint_url, region="us-east-1")
        if args.built:
            _deploy_built(console, args.built, server.endpoint_url)
        else:
            done = provision(app)
            console.print(f"provisioned {', '.join(done.queue_urls)} (+DLQ) and table {done.table_name}")

        server.reset_request_counts()
        t0 = time.monotonic()
        handles = parse_file.app.send_many(parse_file, files)
        send_seconds = time.monotonic() - t0
        console.print(f"sent {len(handles)} tasks with send_many in {send_seconds:.2f} s "
                      f"({len(handles) / send_seconds:.0f} tasks/s)")

        if args.runtime == "poller":
            run_seconds = _run_poller(console, args.concurrency, len(handles))
        else:
            run_seconds = _run_lambda(console, len(handles), args.built, server.endpoint_url)
        counts = server.request_counts()

        records = _read_all(handles)
    statuses = Counter(r.status if r else Status.PENDING for r in records)
    failures = [(f.relative_path, r) for f, r in zip(files, records, strict=True) if r and r.status is Status.FAILURE]
    totals = Counter[str]()
    for r in records:
        if r is not None and r.status is Status.SUCCESS and r.result_json:
            counts_json = parse_file.load_result(r.result_json)
            totals.update(lines=counts_json.lines, functions=counts_json.functions, classes=counts_json.classes)
    sqs_requests = {k: v for k, v in counts.items() if k.startswith("sqs:")}
    per_task = sum(sqs_requests.values()) / max(1, len(handles))

    console.print()
    for path, r in failures:
        console.print(f"  FAILURE {path}: {r.error_type}: {r.error_message}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"stdlib totals: {totals['lines']} lines, {totals['functions']} functions, {totals['classes']} classes")
    console.print(f"SQS requests: {dict(sorted(sqs_requests.items()))} = {per_task:.3f} per task; "
                  f"DynamoDB writes: {counts.get('dynamodb:PutItem', 0)}")
    summary = (
        f"demo ({args.runtime}): {len(handles)} files, done {statuses[Status.SUCCESS]}, "
        f"failed {statuses[Status.FAILURE]}, missing {statuses[Status.PENDING] + statuses[Status.RETRY]}, "
        f"time {run_seconds:.1f} s, {len(handles) / run_seconds:.0f} tasks/s"
    )
    print(summary)
    return 0 if statuses[Status.SUCCESS] + statuses[Status.FAILURE] == len(handles) else 1


if __name__ == "__main__":
    sys.exit(main())
