"""The plain boto3 loop the benchmark compares sqsq against: the request-count floor, written simply.

Each of ``--threads`` threads loops: ReceiveMessage (up to 10, long poll WaitTimeSeconds 20) -> run each message's
body in turn (the same :mod:`bench.workload` bodies as sqsq's tasks) -> optionally one PutItem per message
(``--table``: a result record, like sqsq's) -> DeleteMessageBatch (failed entries retried once). Message bodies
are ``{"k": kind, "i": i, "s": sent_at, "p": param}``. Runs until SIGTERM/SIGINT (the harness stops it once the
queue is empty); the threads are daemons, so a long poll in flight does not delay the exit.

Usage: ``python bench/plain_worker.py --queue-url URL --threads 4 [--table NAME]`` with ``AWS_ENDPOINT_URL`` set.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from botocore.config import Config

from bench import workload


def consume(sqs: Any, ddb: Any, queue_url: str, table: str | None, stop: threading.Event) -> None:
    """One consumer loop: receive 10, run them, record (optional), delete in one batch; until ``stop``."""
    while not stop.is_set():
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=20).get(
            "Messages", []
        )
        for m in messages:
            body = json.loads(m["Body"])
            value = workload.run(body["k"], body["i"], body["s"], body["p"])
            if ddb is not None:
                ddb.put_item(
                    TableName=table,
                    Item={
                        "task_id": {"S": m["MessageId"]},
                        "status": {"S": "SUCCESS"},
                        "result": {"S": json.dumps(value)},
                        "updated_at": {"N": repr(time.time())},
                    },
                )
        if not messages:
            continue
        entries = [{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(messages)]
        failed = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
        if failed:
            retry = [entries[int(f["Id"])] for f in failed]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=retry)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, start the consumer threads, wait for SIGTERM/SIGINT. Returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--table", default=None, help="write one PutItem per message to this table")
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    config = Config(retries={"mode": "standard"}, max_pool_connections=max(10, args.threads * 2), read_timeout=40)
    sqs = boto3.session.Session().client("sqs", config=config)
    ddb = boto3.session.Session().client("dynamodb", config=config) if args.table else None
    threads = [
        threading.Thread(target=consume, args=(sqs, ddb, args.queue_url, args.table, stop), daemon=True)
        for _ in range(args.threads)
    ]
    for t in threads:
        t.start()
    while not stop.is_set():
        stop.wait(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
