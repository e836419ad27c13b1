"""Issue 14 (S3 payloads, attributes, billed requests) on the local AWS: moto's S3 on the same server as SQS and
DynamoDB, an in-process worker."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

import sqsq
from sqsq.app import App
from sqsq.dlq import DeadLetterQueue, Selection
from sqsq.dlq.purge import PurgeLedger
from sqsq.errors import LimitExceeded, PayloadTooLarge, ValidationError
from sqsq.local.server import LocalAwsServer
from sqsq.message import Envelope, undecodable_id
from sqsq.payloads import MESSAGE_PREFIX, POINTER_CLASS, RESULT_PREFIX, SIZE_ATTRIBUTE, parse_pointer
from sqsq.results import Status
from sqsq.worker import Worker
from tests.conftest import Deployed, deploy

MIB = 1024 * 1024
KEYS = "k1:" + base64.b64encode(b"integration-secret-32-bytes-long").decode()


def build_app() -> App:
    app = App("big")

    @app.task(name="big.size")
    def size(data: str) -> int:
        return len(data)

    @app.task(name="big.make")
    def make(n: int) -> str:
        return "r" * n

    @app.task(name="big.second_time", max_retries=0)
    def second_time(data: str) -> dict[str, Any]:
        ctx = sqsq.context.current()
        assert ctx is not None
        if ctx.generation == 0:
            raise RuntimeError("fails until redriven")
        return {"size": len(data), "attributes": {k: repr(v) for k, v in sorted(ctx.attributes.items())}}

    return app


def _deploy(local_aws: LocalAwsServer, tmp_path: Path, **settings: object) -> Iterator[Deployed]:
    deployed = deploy(build_app(), local_aws, tmp_path, payload_bucket=f"t{uuid.uuid4().hex[:12]}-payloads", **settings)
    try:
        yield deployed
    finally:
        deployed.close()


@pytest.fixture
def big(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[Deployed]:
    yield from _deploy(local_aws, tmp_path)


@pytest.fixture
def signed_big(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[Deployed]:
    yield from _deploy(local_aws, tmp_path, signing_keys=KEYS)


def s3(d: Deployed) -> Any:
    return boto3.client("s3", endpoint_url=d.server.endpoint_url, region_name="us-east-1")


def keys(d: Deployed, prefix: str) -> list[str]:
    bucket = d.app.settings.payload_bucket
    return sorted(o["Key"] for o in s3(d).list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def drain(d: Deployed) -> None:
    Worker(d.app, concurrency=2, wait_time_seconds=1, burst=True).run()


def peek(d: Deployed, queue: str) -> list[Any]:
    return d.app.transport.receive(queue, 10, 1, visibility_timeout_seconds=0)


def test_a_5_mib_argument_and_a_2_mb_result_round_trip_and_the_message_object_is_deleted(big: Deployed) -> None:
    app = big.app
    data = "é" * (5 * MIB // 2)  # 5 MiB of UTF-8
    sized = app.send("big.size", {"data": data})
    made = app.send("big.make", {"n": 2_000_000})
    assert keys(big, MESSAGE_PREFIX) == [f"{MESSAGE_PREFIX}{sized.id}"]  # only the body past 1 MiB was offloaded
    drain(big)
    assert sized.get(timeout_seconds=10) == len(data)
    assert made.get(timeout_seconds=10) == "r" * 2_000_000
    assert keys(big, MESSAGE_PREFIX) == []  # deleted once the message was acknowledged
    assert [k.rsplit("/", 1)[0] for k in keys(big, RESULT_PREFIX)] == [f"{RESULT_PREFIX}{made.id}"]  # TTL's job


def test_the_message_carries_the_extended_clients_pointer_and_size_attribute(big: Deployed) -> None:
    handle = big.app.send("big.size", {"data": "x" * (2 * MIB)})
    [message] = peek(big, big.queue())
    kind, where = json.loads(message.body)
    assert kind == POINTER_CLASS
    assert where == {"s3BucketName": big.app.settings.payload_bucket, "s3Key": f"{MESSAGE_PREFIX}{handle.id}"}
    assert message.message_attributes[SIZE_ATTRIBUTE]["DataType"] == "Number"
    stored = s3(big).get_object(Bucket=where["s3BucketName"], Key=where["s3Key"])["Body"].read()
    assert message.message_attributes[SIZE_ATTRIBUTE]["StringValue"] == str(len(stored))
    assert Envelope.from_body(stored.decode()).id == handle.id


def test_a_tampered_payload_object_is_refused_by_a_signing_worker(signed_big: Deployed) -> None:
    d = signed_big
    handle = d.app.send("big.size", {"data": "x" * (2 * MIB)})
    [message] = peek(d, d.queue())
    pointer = parse_pointer(message.body)
    assert pointer is not None
    envelope = json.loads(s3(d).get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read())
    envelope["args"]["data"] = "y" * (2 * MIB)  # same signature, other arguments
    s3(d).put_object(Bucket=pointer.bucket, Key=pointer.key, Body=json.dumps(envelope).encode())
    drain(d)
    assert d.app.results.get(handle.id) is None  # never ran, nothing written under the id it claims
    filed = d.app.results.get(undecodable_id(message.body))
    assert filed is not None and filed.status is Status.FAILURE and filed.error_type == "SignatureInvalid"


def test_an_offloaded_message_keeps_its_pointer_in_the_dlq_and_runs_once_redriven(big: Deployed) -> None:
    app = big.app
    handle = app.send("big.second_time", {"data": "z" * (3 * MIB)}, attributes={"tenant": "acme", "n": 7})
    drain(big)
    assert app.results.get(handle.id).status is Status.FAILURE  # type: ignore[union-attr]
    dlq = DeadLetterQueue(app, "default")
    [entry] = dlq.entries()
    assert entry.pointer is not None and entry.envelope is not None and entry.envelope.id == handle.id
    assert entry.message.message_attributes["tenant"]["StringValue"] == "acme"  # attributes survive the move
    assert keys(big, MESSAGE_PREFIX) == [f"{MESSAGE_PREFIX}{handle.id}"]  # kept while the DLQ points to it
    report = dlq.redrive(Selection(everything=True))
    assert report.moved == [handle.id]
    drain(big)
    assert handle.get(timeout_seconds=10) == {"size": 3 * MIB, "attributes": {"n": "7", "tenant": "'acme'"}}
    assert keys(big, MESSAGE_PREFIX) == []


def test_dlq_purge_deletes_the_objects_of_offloaded_letters(big: Deployed, tmp_path: Path) -> None:
    big.app.send("big.second_time", {"data": "z" * (2 * MIB)})
    drain(big)
    assert len(keys(big, MESSAGE_PREFIX)) == 1
    DeadLetterQueue(big.app, "default").purge(PurgeLedger(tmp_path / "purges.json"))
    assert keys(big, MESSAGE_PREFIX) == []


def test_attributes_reach_the_task_through_its_context(big: Deployed) -> None:
    values = {"tenant": "acme", "count": 3, "ratio": 0.25, "exact": Decimal("1.10"), "blob": b"\x00\xff"}
    handle = big.app.send("big.second_time", {"data": "small"}, attributes=values)
    drain(big)
    DeadLetterQueue(big.app, "default").redrive(Selection(everything=True))
    drain(big)
    assert handle.get(timeout_seconds=10)["attributes"] == {
        "blob": "b'\\x00\\xff'", "count": "3", "exact": "Decimal('1.10')", "ratio": "Decimal('0.25')",
        "tenant": "'acme'",
    }


@pytest.mark.parametrize(
    ("attributes", "error"),
    [
        ({f"a{i}": "v" for i in range(10)}, LimitExceeded),  # 10 user attributes: sqsq keeps one for payloads
        ({"AWS.trace": "v"}, ValidationError),
        ({"amazon.x": "v"}, ValidationError),
        ({"sqsq.mine": "v"}, ValidationError),
        ({"ExtendedPayloadSize": 1}, ValidationError),
        ({"bad name": "v"}, ValidationError),
        ({"a..b": "v"}, ValidationError),
        ({"flag": True}, ValidationError),
        ({"empty": ""}, ValidationError),
        ({"obj": object()}, ValidationError),
        ({"precise": 10**40 + 1}, ValidationError),  # 41 significant digits; SQS keeps 38
    ],
)
def test_attribute_limits_are_checked_at_send_before_any_request(
    big: Deployed, attributes: dict[str, Any], error: type[Exception]
) -> None:
    big.app.transport.queue_info(big.queue())
    big.server.reset_request_counts()
    with pytest.raises(error):
        big.app.send("big.size", {"data": "x"}, attributes=attributes)
    assert big.server.request_counts() == {}


def test_nine_attributes_fit_even_on_an_offloaded_message(big: Deployed) -> None:
    attributes = {f"a{i}": f"v{i}" for i in range(9)}
    big.app.send("big.size", {"data": "x" * (2 * MIB)}, attributes=attributes)
    [message] = peek(big, big.queue())
    assert set(message.message_attributes) == {*attributes, SIZE_ATTRIBUTE}


def test_without_a_payload_bucket_a_large_body_is_refused_naming_the_setting(
    local_aws: LocalAwsServer, tmp_path: Path
) -> None:
    d = deploy(build_app(), local_aws, tmp_path)
    with pytest.raises(PayloadTooLarge, match="SQSQ_PAYLOAD_BUCKET"):
        d.app.send("big.size", {"data": "x" * (2 * MIB)})


def test_billed_requests_count_each_64_kib_chunk(big: Deployed) -> None:
    from sqsq.local.services.counter import read_billed

    big.app.transport.queue_info(big.queue())
    big.server.reset_request_counts()
    big.app.send("big.size", {"data": "x" * (200 * 1024)})  # 200 KiB inline: 4 chunks
    billed = read_billed(big.server.endpoint_url)
    assert billed is not None
    assert billed["by_action"]["sqs:SendMessageBatch"] == {"requests": 1, "billed_requests": 4}
    assert billed["by_queue"][big.queue()] == {"requests": 1, "billed_requests": 4}


def test_the_lambda_handler_runs_an_offloaded_message_with_its_attributes_and_deletes_the_object(big: Deployed) -> None:
    from sqsq.lambda_handler import lambda_handler
    from sqsq.local.esm import lambda_record

    app = big.app
    handler = lambda_handler(app, emit_metrics=False)
    handle = app.send("big.second_time", {"data": "w" * (2 * MIB)}, attributes={"tenant": "acme"})
    arn = app.transport.queue_info(big.queue()).arn
    [message] = peek(big, big.queue())
    first = handler({"Records": [lambda_record(message, arn, "us-east-1")]}, None)
    assert first == {"batchItemFailures": []}  # failed for good: copied to the DLQ, pointer and attributes with it
    assert app.transport.delete_batch(big.queue(), [message.receipt_handle]) == []  # what the mapping does on success
    DeadLetterQueue(app, "default").redrive(Selection(everything=True))
    assert keys(big, MESSAGE_PREFIX) == [f"{MESSAGE_PREFIX}{handle.id}"]
    [redriven] = peek(big, big.queue())
    second = handler({"Records": [lambda_record(redriven, arn, "us-east-1")]}, None)
    assert second == {"batchItemFailures": []}
    assert handle.get(timeout_seconds=5) == {"size": 2 * MIB, "attributes": {"tenant": "'acme'"}}
    assert keys(big, MESSAGE_PREFIX) == []


def test_sqsq_queues_json_reports_requests_and_billed_requests_per_queue(shop: Deployed) -> None:
    from click.testing import CliRunner

    from sqsq.cli import main

    shop.app.transport.queue_info(shop.queue())
    shop.server.reset_request_counts()
    shop.app.send("tests.apps.shop.boom", {"message": "m" * (130 * 1024)})  # one SendMessageBatch of 3 chunks
    done = CliRunner().invoke(main, ["queues", "tests.apps.shop:app", "--json"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    rows = {r["queue"]: r for r in json.loads(done.stdout)}
    default = rows[shop.queue()]
    assert default["max_message_size_bytes"] == 1_048_576
    # the send (3 chunks) plus the command's own GetQueueAttributes calls on the queue, 1 chunk each
    assert default["billed_requests"] - default["requests"] == 2


def test_the_sweep_rescues_an_offloaded_letter_with_its_rescue_count_in_the_stored_envelope(big: Deployed) -> None:
    from sqsq.sweep import sweep_dead_letters
    from sqsq.transport import OutgoingMessage

    app = big.app
    handle = app.send("big.size", {"data": "v" * (2 * MIB)})
    [message] = peek(big, big.queue())  # as SQS's redrive policy moves it: body and attributes unchanged, no record
    copy = OutgoingMessage("0", message.body, 0, message.message_attributes)
    assert app.transport.send_batch(app.settings.dlq_name("default"), [copy]) == []
    assert app.transport.delete_batch(big.queue(), [message.receipt_handle]) == []
    report = sweep_dead_letters(app, "default")
    assert report.rescued == [handle.id]
    [rescued] = peek(big, big.queue())
    pointer = parse_pointer(rescued.body)
    assert pointer is not None
    stored = Envelope.from_body(s3(big).get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read().decode())
    assert (stored.id, stored.rescues) == (handle.id, 1)
    drain(big)
    assert handle.get(timeout_seconds=10) == 2 * MIB
    assert keys(big, MESSAGE_PREFIX) == []
