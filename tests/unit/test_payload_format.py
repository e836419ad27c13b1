"""The S3 pointer format (sqsq.payloads) and message attributes (sqsq.attributes): pure functions."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from sqsq.attributes import MAX_USER_ATTRIBUTES, decode_attributes, encode_attributes
from sqsq.errors import LimitExceeded, MessageDecodeError, ValidationError
from sqsq.payloads import (
    LEGACY_POINTER_CLASS,
    POINTER_CLASS,
    PayloadPointer,
    expiry_days,
    parse_pointer,
    resolve_body,
)
from tests.unit.conftest import MemoryApp


def test_pointer_body_is_the_extended_clients_two_item_array() -> None:
    body = PayloadPointer("b", "k").to_body()
    assert json.loads(body) == [POINTER_CLASS, {"s3BucketName": "b", "s3Key": "k"}]
    assert parse_pointer(body) == PayloadPointer("b", "k")


def test_the_java_librarys_older_pointer_class_is_read_too() -> None:
    body = json.dumps([LEGACY_POINTER_CLASS, {"s3BucketName": "b", "s3Key": "k"}])
    assert parse_pointer(body) == PayloadPointer("b", "k")


@pytest.mark.parametrize("body", ['{"v": 1}', "[1, 2]", '["other.Class", {"s3BucketName": "b", "s3Key": "k"}]',
                                  "[not json", ""])
def test_anything_else_is_an_ordinary_body(body: str) -> None:
    assert parse_pointer(body) is None


def test_a_pointer_class_without_bucket_and_key_is_a_decode_error() -> None:
    with pytest.raises(MessageDecodeError, match="s3BucketName"):
        parse_pointer(json.dumps([POINTER_CLASS, {"s3BucketName": "b"}]))


def test_resolving_a_pointer_without_a_bucket_configured_names_the_setting() -> None:
    with pytest.raises(MessageDecodeError, match="SQSQ_PAYLOAD_BUCKET"):
        resolve_body(PayloadPointer("b", "k").to_body(), None)
    assert resolve_body('{"v": 1}', None) == ('{"v": 1}', None)


def test_lifecycle_expiry_is_the_retention_in_whole_days_plus_one() -> None:
    assert expiry_days(1_209_600, 86_400) == {"sqsq/messages/": 15, "sqsq/results/": 2}
    assert expiry_days(86_401, 60) == {"sqsq/messages/": 3, "sqsq/results/": 2}


def test_attribute_values_map_to_sqs_types_and_back() -> None:
    encoded = encode_attributes({"s": "x", "i": -3, "f": 0.1, "d": Decimal("1.50"), "b": b"\x00"})
    assert {k: v["DataType"] for k, v in encoded.items()} == {
        "s": "String", "i": "Number", "f": "Number", "d": "Number", "b": "Binary"}
    assert decode_attributes(encoded) == {"s": "x", "i": -3, "f": Decimal("0.1"), "d": Decimal("1.50"), "b": b"\x00"}


def test_decoding_leaves_out_the_extended_clients_size_attribute_and_reads_custom_types() -> None:
    got = decode_attributes({"ExtendedPayloadSize": {"DataType": "Number", "StringValue": "5"},
                             "id": {"DataType": "String.uuid", "StringValue": "u"}})
    assert got == {"id": "u"}


def test_at_most_nine_attributes_may_be_set() -> None:
    assert len(encode_attributes({f"a{i}": "v" for i in range(MAX_USER_ATTRIBUTES)})) == 9
    with pytest.raises(LimitExceeded, match="at most 9"):
        encode_attributes({f"a{i}": "v" for i in range(MAX_USER_ATTRIBUTES + 1)})


@pytest.mark.parametrize("name", ["", "x" * 257, ".a", "a.", "a..b", "AWS.x", "amazon.x", "SQSQ.x", "a b",
                                  "SQSLargePayloadSize", "S3Key"])
def test_names_sqs_or_the_extended_client_refuse_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        encode_attributes({name: "v"})


@pytest.mark.parametrize("value", [True, None, [1], float("nan"), Decimal("Infinity"), "", b"", "\ufffe",
                                   Decimal("1" * 39), Decimal("1e127")])
def test_values_that_do_not_map_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        encode_attributes({"a": value})


def test_an_offloaded_send_runs_on_the_memory_twins_and_its_object_goes_with_the_ack(mem: MemoryApp) -> None:
    from sqsq.executor import Ack, Executor
    from sqsq.executor.payload import delete_payload
    from sqsq.transport.payloads import MemoryPayloadStore

    mem.transport.create_queue("unit-small", max_message_size_bytes=1024)

    @mem.app.task(queue="small")
    def size(text: str) -> int:
        return len(text)

    store = MemoryPayloadStore()
    with mem.app.using(payloads=store):
        handle = mem.app.send(size, {"text": "a" * 5000})
        [message] = mem.transport.receive("unit-small", 10, 0)
        assert parse_pointer(message.body) == PayloadPointer(store.bucket, f"sqsq/messages/{handle.id}")
        assert isinstance(Executor(mem.app).execute(message, None), Ack)
        assert handle.get(timeout_seconds=1) == 5000
        assert delete_payload(mem.app, message, handle.id) and store.objects == {}


def test_attributes_reach_the_task_in_eager_testing_mode() -> None:
    import sqsq
    import sqsq.testing

    app = sqsq.App("ctx", endpoint_url="http://unused.invalid")

    @app.task()
    def tenant() -> str:
        ctx = sqsq.context.current()
        assert ctx is not None and ctx.task_name.endswith("tenant") and ctx.attempt == 1
        return str(ctx.attributes["tenant"])

    with sqsq.testing.eager(app):
        assert tenant.options(attributes={"tenant": "acme"}).delay().get() == "acme"
    assert sqsq.context.current() is None
