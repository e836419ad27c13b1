"""What a large message costs: SQS requests as billed (64 KiB chunks) and S3 requests, inline vs offloaded.

Run ``python bench/payloads.py [--tasks 10]`` (well under a minute). It starts its own local AWS, and for each body
size sends ``--tasks`` tasks and drains them with an in-process worker (results off), twice: inline (the queue's
MaximumMessageSize at 1 MiB; bodies past it are offloaded anyway) and offloaded (MaximumMessageSize 1 KiB, so every
body goes through S3). It prints, per task: SQS requests, SQS requests as billed (the local AWS's counter:
``max(1, ceil(bytes / 65,536))`` per request, request or response body, whichever is larger), S3 requests, and the
cost per million tasks at the us-east-1 list prices below. Figures, not pass/fail.

Prices (us-east-1, standard queue and S3 Standard, checked 2026-12): SQS $0.40 per million requests, each 64 KiB
chunk of a payload billed as one (https://aws.amazon.com/sqs/pricing/); S3 PUT $0.005 and GET $0.0004 per 1,000
requests, DELETE free (https://aws.amazon.com/s3/pricing/). Storage for the seconds an object lives is negligible.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from sqsq.app import App  # noqa: E402
from sqsq.local.provision import provision  # noqa: E402
from sqsq.local.server import LocalAwsServer  # noqa: E402
from sqsq.local.services.counter import read_billed  # noqa: E402
from sqsq.worker import Worker  # noqa: E402

SQS_PER_REQUEST = 0.40 / 1e6
S3_PUT = 0.005 / 1000
S3_GET = 0.0004 / 1000
SIZES_KIB = (4, 60, 200, 500, 900, 2048)


def build_app(name: str) -> App:
    app = App(name)

    @app.task(name="bench.payload", ignore_result=True)
    def payload(data: str) -> None:
        return None

    return app


def measure(server: LocalAwsServer, size_kib: int, tasks: int, offload: bool) -> dict[str, Any]:
    """Per-task SQS requests, billed SQS requests and S3 requests for one size and mode."""
    unique = uuid.uuid4().hex[:8]
    app = build_app(f"b{unique}")
    app.configure(endpoint_url=server.endpoint_url, payload_bucket=f"b{unique}-payloads", wait_time_seconds=1)
    provision(app)
    queue = app.queue_name("default")
    if offload:
        sqs = boto3.client("sqs", endpoint_url=server.endpoint_url, region_name=app.settings.region)
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1024"})
    app.transport.queue_info(queue)
    server.reset_request_counts()
    body = "x" * (size_kib * 1024 - 200)  # the envelope's own fields take ~200 bytes
    for _ in range(tasks):
        app.send("bench.payload", {"data": body})
    Worker(app, concurrency=2, wait_time_seconds=1, burst=True).run()
    counts = Counter(server.request_counts())
    billed = read_billed(server.endpoint_url) or {}
    sqs_billed = sum(v["billed_requests"] for v in billed.get("by_action", {}).values())
    sqs_requests = sum(v for k, v in counts.items() if k.startswith("sqs:"))
    s3_requests = sum(v for k, v in counts.items() if k.startswith("s3:"))
    cost = sqs_billed * SQS_PER_REQUEST + counts["s3:PUT"] * S3_PUT + counts["s3:GET"] * S3_GET  # DELETE is free
    mode = "offloaded" if counts["s3:PUT"] else "inline"
    return {"sqs": sqs_requests / tasks, "billed": sqs_billed / tasks, "s3": s3_requests / tasks,
            "usd_per_million": cost / tasks * 1e6, "mode": mode}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=10, help="tasks per size and mode")
    args = parser.parse_args(argv)
    print("| body | mode | SQS requests / task | billed SQS requests / task | S3 requests / task | $ per million tasks |")
    print("|---|---|---|---|---|---|")
    with LocalAwsServer(port=None) as server:
        os.environ.update(server.client_environment())
        for size in SIZES_KIB:
            for offload in (False, True):
                if not offload and size * 1024 > 1_048_576:
                    continue  # past SQS's 1 MiB: offloaded whatever the queue says
                m = measure(server, size, args.tasks, offload)
                print(f"| {size} KiB | {m['mode']} | {m['sqs']:.2f} | {m['billed']:.2f} | {m['s3']:.2f} | "
                      f"{m['usd_per_million']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
