"""Requests per delayed task (issue 12): what a send due past 900 s costs, counted by the local AWS.

Run ``python bench/scheduled.py [N]``. It sends N tasks due in 2 hours (one-time EventBridge schedules), cancels a
tenth of them, and prints the requests per task by ``service:Action`` as the local AWS counted them
(``/_sqsq/requests``). When the local AWS has the controllable clock (``/_sqsq/clock``, issue 12's scheduler half)
it also moves the clock past the due time, drains the queue with a burst worker and prints the consumer side.
The cost lines use us-east-1 list prices (EventBridge Scheduler $1.00 per million invocations after 14 million
free a month, schedule creation included; SQS $0.40 per million requests; DynamoDB on-demand $0.625 per million
write request units): check them against the pricing pages before relying on them.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter

import sqsq
from sqsq.local.provision import provision
from sqsq.local.server import LocalAwsServer
from sqsq.worker import Worker

app = sqsq.App("benchsched")

SCHEDULER_INVOCATION_USD = 1.00 / 1e6
SQS_REQUEST_USD = 0.40 / 1e6
DYNAMODB_WRITE_USD = 0.625 / 1e6


@app.task(name="benchsched.noop")
def noop(i: int) -> int:
    return i


def _per_task(counts: dict[str, int], n: int) -> str:
    return ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(counts.items())) or "none"


def _has_clock(server: LocalAwsServer) -> bool:
    try:
        with urllib.request.urlopen(server.endpoint_url + "/_sqsq/clock", timeout=5):
            return True
    except urllib.error.HTTPError:
        return False


def _consume(server: LocalAwsServer, n: int) -> None:
    body = json.dumps({"advance_seconds": 2 * 3600 + 120}).encode()
    request = urllib.request.Request(server.endpoint_url + "/_sqsq/clock", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()
    deadline = time.monotonic() + 120
    while app.transport.depth(app.queue_name(None)).visible < n and time.monotonic() < deadline:
        time.sleep(0.5)
    server.reset_request_counts()
    worker = Worker(app, concurrency=8, wait_time_seconds=1, burst=True)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    thread.join(timeout=300)
    print(f"consume   ({n} fired tasks): {_per_task(server.request_counts(), n)}")


def main(n: int = 200) -> None:
    server = LocalAwsServer(port=None)
    server.start()
    try:
        os.environ.update(server.client_environment())
        prefix = f"b{uuid.uuid4().hex[:6]}-"
        app.configure(endpoint_url=server.endpoint_url, queue_prefix=prefix, results_table=f"{prefix}results")
        provision(app)
        noop.options(delay_seconds=7200).delay(i=-1)  # warm: queue lookup, schedule group
        server.reset_request_counts()
        handles = [noop.options(delay_seconds=7200).delay(i=i) for i in range(n)]
        send = server.request_counts()
        print(f"send      ({n} tasks due in 2 h): {_per_task(send, n)}")
        server.reset_request_counts()
        cancelled = handles[: max(1, n // 10)]
        for h in cancelled:
            h.cancel()
        print(f"cancel    ({len(cancelled)} tasks): {_per_task(server.request_counts(), len(cancelled))}")
        by_service = Counter({k.split(":")[0]: v for k, v in send.items()})
        print(f"scheduler requests counted on the send path: {by_service['scheduler']} for {n} tasks")
        extra = SCHEDULER_INVOCATION_USD + DYNAMODB_WRITE_USD * send.get("dynamodb:PutItem", 0) / n
        print(f"extra cost per million delayed tasks vs a plain send (1 scheduler invocation + the SCHEDULED "
              f"record's write): ${extra * 1e6:.2f}; the scheduler's SendMessage replaces the producer's "
              f"(${SQS_REQUEST_USD * 1e6:.2f} per million either way)")
        if _has_clock(server):
            _consume(server, n - len(cancelled) + 1)
        else:
            print("consume: skipped (no /_sqsq/clock on this local AWS: the scheduler half of issue 12 is not here)")
    finally:
        server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
