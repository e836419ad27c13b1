"""Interop with the AWS SQS extended client for Python (``amazon-sqs-extended-client`` 1.0.1 from PyPI) on the local
AWS: it produces a large message sqsq consumes, and it reads back a large message sqsq sent.

The library replaces ``boto3.Session`` process-wide when imported, so it runs in a child process here.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from sqsq.app import App
from sqsq.local.server import LocalAwsServer
from sqsq.message import Envelope, new_task_id
from sqsq.payloads import MESSAGE_PREFIX
from sqsq.worker import Worker
from tests.conftest import Deployed, deploy

if importlib.util.find_spec("sqs_extended_client") is None:  # never imported here: it patches boto3 process-wide
    pytest.skip("amazon-sqs-extended-client is not installed (the dev group has it)", allow_module_level=True)

MIB = 1024 * 1024
CLIENT = """
import json, sys, boto3
import sqs_extended_client  # noqa: F401  (patches boto3.Session)
endpoint, bucket, queue_url, mode = sys.argv[1:5]
sqs = boto3.client("sqs", endpoint_url=endpoint)
sqs.large_payload_support = bucket
sqs.use_legacy_attribute = False
sqs.delete_payload_from_s3 = True
sqs.s3_client = boto3.client("s3", endpoint_url=endpoint)
if mode == "send":
    sqs.send_message(QueueUrl=queue_url, MessageBody=sys.stdin.read())
else:
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                              MessageAttributeNames=["All"])["Messages"][0]
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=got["ReceiptHandle"])
    print(json.dumps({"body": got["Body"], "attributes": sorted(got.get("MessageAttributes", {}))}))
"""


@pytest.fixture
def interop(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[Deployed]:
    app = App("interop")

    @app.task(name="interop.size")
    def size(data: str) -> int:
        return len(data)

    deployed = deploy(app, local_aws, tmp_path, payload_bucket=f"t{uuid.uuid4().hex[:12]}-payloads")
    try:
        yield deployed
    finally:
        deployed.close()


def run_client(d: Deployed, mode: str, stdin: str = "") -> str:
    queue_url = d.app.transport.queue_info(d.queue()).url
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CLIENT), d.server.endpoint_url, str(d.app.settings.payload_bucket),
         queue_url, mode],
        input=stdin, env=d.env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def objects(d: Deployed) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=d.server.endpoint_url, region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=d.app.settings.payload_bucket).get("Contents", [])
    return [o["Key"] for o in listed]


def test_a_large_message_sent_by_the_extended_client_is_run_by_a_sqsq_worker(interop: Deployed) -> None:
    envelope = Envelope(id=new_task_id(), task="interop.size", args={"data": "x" * (2 * MIB)})
    run_client(interop, "send", envelope.to_body())
    [key] = objects(interop)  # the library's own key (a UUID), not sqsq's
    assert not key.startswith(MESSAGE_PREFIX)
    Worker(interop.app, concurrency=1, wait_time_seconds=1, burst=True).run()
    assert interop.app.results.get(envelope.id).result_json == str(2 * MIB)  # type: ignore[union-attr]
    # sqsq deletes only the objects it writes (sqsq/messages/<task id>): the library's object is its producer's
    # to delete (a lifecycle rule), never followed to a delete by whatever a pointer names (security fix F1).
    assert objects(interop) == [key]


def test_a_large_message_sent_by_sqsq_is_read_back_by_the_extended_client(interop: Deployed) -> None:
    handle = interop.app.send("interop.size", {"data": "y" * (2 * MIB)}, attributes={"tenant": "acme"})
    assert objects(interop) == [f"{MESSAGE_PREFIX}{handle.id}"]
    got = json.loads(run_client(interop, "receive"))
    envelope = Envelope.from_body(got["body"])
    assert (envelope.id, envelope.args) == (handle.id, {"data": "y" * (2 * MIB)})
    assert got["attributes"] == ["tenant"]  # the library strips ExtendedPayloadSize, as for its own messages
    assert objects(interop) == []  # its delete_message deleted sqsq's object (delete_payload_from_s3)
