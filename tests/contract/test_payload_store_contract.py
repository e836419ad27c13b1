"""The payload store contract (sqsq.transport.payloads): the in-memory twin and S3 on moto server behave alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sqsq.config import load_settings
from sqsq.errors import PayloadMissing, PayloadRefused
from sqsq.local.server import LocalAwsServer
from sqsq.payloads import PayloadPointer, expiry_days
from sqsq.transport.admin import ensure_payload_bucket
from sqsq.transport.aws import AwsClients
from sqsq.transport.payloads import MemoryPayloadStore, PayloadStore, S3PayloadStore

MAX_READ_BYTES = 200_000
"""The read cap the stores under test get (small, so a test object can exceed it)."""


@pytest.fixture(params=["memory", "moto"])
def store(request: pytest.FixtureRequest) -> Iterator[PayloadStore]:
    bucket = f"c{uuid.uuid4().hex[:12]}-payloads"
    if request.param == "memory":
        yield MemoryPayloadStore(bucket, max_read_bytes=MAX_READ_BYTES)
        return
    server: LocalAwsServer = request.getfixturevalue("local_aws")
    clients = AwsClients(load_settings({}, endpoint_url=server.endpoint_url))
    ensure_payload_bucket(clients, bucket, expiry_days(86_400, 86_400))
    yield S3PayloadStore(clients, bucket, max_read_bytes=MAX_READ_BYTES)


def test_a_pointer_to_another_bucket_is_refused_for_reading_and_deleting(store: PayloadStore) -> None:
    store.put("sqsq/messages/t1", b"{}")
    elsewhere = PayloadPointer("someone-elses-bucket", "sqsq/messages/t1")
    with pytest.raises(PayloadRefused, match="only into its payload bucket"):
        store.get(elsewhere)
    with pytest.raises(PayloadRefused):
        store.delete(elsewhere)
    assert store.get(PayloadPointer(store.bucket, "sqsq/messages/t1")) == b"{}"


def test_an_object_over_the_read_cap_is_refused_and_one_at_the_cap_is_read(store: PayloadStore) -> None:
    at_cap = store.put("sqsq/messages/ok", b"x" * MAX_READ_BYTES)
    assert len(store.get(at_cap)) == MAX_READ_BYTES
    over = store.put("sqsq/messages/big", b"x" * (MAX_READ_BYTES + 1))
    with pytest.raises(PayloadRefused, match="read cap"):
        store.get(over)


def test_put_returns_a_pointer_into_the_stores_bucket_and_get_reads_the_bytes_back(store: PayloadStore) -> None:
    data = "é".encode() * 70_000 + b"\x00\xff"
    pointer = store.put("sqsq/messages/t1", data)
    assert pointer == PayloadPointer(store.bucket, "sqsq/messages/t1")
    assert store.get(pointer) == data


def test_put_under_the_same_key_replaces_the_object(store: PayloadStore) -> None:
    store.put("k", b"first")
    assert store.get(store.put("k", b"second")) == b"second"


def test_a_deleted_or_never_written_object_is_payload_missing_and_deleting_again_is_fine(store: PayloadStore) -> None:
    pointer = store.put("k", b"x")
    store.delete(pointer)
    store.delete(pointer)
    with pytest.raises(PayloadMissing) as err:
        store.get(pointer)
    assert err.value.where == f"s3://{store.bucket}/k"
    with pytest.raises(PayloadMissing):
        store.get(PayloadPointer(store.bucket, "never-written"))
